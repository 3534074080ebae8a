"""The front door's SigV4 verifier (runner/local/sigv4.py) against requests signed by botocore itself (header,
presigned, S3 and other services, odd paths and queries), AWS's published aws-chunked example, and forgeries."""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from runner.local import sigv4

KEY, SECRET = "AKIAEXAMPLEKEY000001", "s3cr3t/with+special=chars0123456789abcdef"
SECRETS = {KEY: SECRET}


def as_request(prepared: Any) -> sigv4.Request:
    parts = urlsplit(prepared.url)
    body = prepared.body or b""
    return sigv4.Request(
        method=prepared.method,
        raw_path=parts.path,
        raw_query=parts.query,
        headers={"host": parts.netloc, **{k.lower(): v for k, v in prepared.headers.items()}},
        body=body if isinstance(body, bytes) else body.encode(),
    )


def signed(
    method: str,
    url: str,
    service: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    secret: str = SECRET,
    auth: Any = None,
) -> sigv4.Request:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = auth or (S3SigV4Auth if service == "s3" else SigV4Auth)
    signer(Credentials(KEY, secret), service, "us-east-1").add_auth(request)
    return as_request(request.prepare())


@pytest.mark.parametrize(
    ("method", "url", "service", "body", "headers"),
    [
        ("GET", "http://127.0.0.1:4566/bucket/key%20with%20spaces/%E2%9C%93?versionId=a%2Fb", "s3", b"", {}),
        ("PUT", "http://127.0.0.1:4566/bucket/a+b~c!d", "s3", b"payload", {"Content-Type": "text/plain"}),
        (
            "PUT",
            "http://127.0.0.1:4566/bucket/k",
            "s3",
            b"x",
            {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "x-amz-meta-a": "  two   spaces "},
        ),
        ("GET", "http://127.0.0.1:4566/bucket?list-type=2&prefix=runs%2F&delimiter=%2F", "s3", b"", {}),
        (
            "POST",
            "http://127.0.0.1:4566/",
            "sts",
            b"Action=GetCallerIdentity&Version=2011-06-15",
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        ),
        (
            "GET",
            "http://127.0.0.1:4566/v1/tags/arn%3Aaws%3Abatch%3Aus-east-1%3A123456789012%3Ajob-queue%2Fq",
            "batch",
            b"",
            {},
        ),
        (
            "POST",
            "http://localhost:4566/",
            "logs",
            b'{"logGroupName": "/aws/batch/job"}',
            {"X-Amz-Target": "Logs_20140328.CreateLogGroup", "Content-Type": "application/x-amz-json-1.1"},
        ),
    ],
)
def test_botocore_signed_requests_verify(
    method: str, url: str, service: str, body: bytes, headers: dict[str, str]
) -> None:
    verified = sigv4.verify(signed(method, url, service, body, headers), SECRETS, time.time())
    assert (verified.access_key_id, verified.service, verified.region) == (KEY, service, "us-east-1")


def test_presigned_url_verifies_until_it_expires() -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:4566/bucket/some%20key", headers={})
    S3SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=60).add_auth(request)
    presigned = as_request(request.prepare())
    assert "X-Amz-Signature=" in presigned.raw_query and "authorization" not in presigned.headers
    assert sigv4.verify(presigned, SECRETS, time.time()).access_key_id == KEY
    with pytest.raises(sigv4.AuthError) as late:
        sigv4.verify(presigned, SECRETS, time.time() + 120)
    assert late.value.kind == sigv4.EXPIRED
    other_key = sigv4.Request("GET", "/bucket/other", presigned.raw_query, presigned.headers, b"")
    with pytest.raises(sigv4.AuthError) as moved:
        sigv4.verify(other_key, SECRETS, time.time())
    assert moved.value.kind == sigv4.MISMATCH


def test_anything_changed_after_signing_is_a_mismatch() -> None:
    good = signed("PUT", "http://127.0.0.1:4566/bucket/k", "s3", b"body")
    for changed in (
        sigv4.Request("DELETE", good.raw_path, good.raw_query, good.headers, good.body),
        sigv4.Request(good.method, "/bucket/other", good.raw_query, good.headers, good.body),
        sigv4.Request(good.method, good.raw_path, "acl=", good.headers, good.body),
        sigv4.Request(good.method, good.raw_path, good.raw_query, {**good.headers, "host": "evil:1"}, good.body),
    ):
        with pytest.raises(sigv4.AuthError) as err:
            sigv4.verify(changed, SECRETS, time.time())
        assert err.value.kind == sigv4.MISMATCH
    # S3 declares its body's digest: another body is refused as AWS does (XAmzContentSHA256Mismatch)
    with pytest.raises(sigv4.AuthError) as body:
        sigv4.verify(sigv4.Request(good.method, good.raw_path, "", good.headers, b"other"), SECRETS, time.time())
    assert body.value.kind == sigv4.CONTENT_SHA
    # A service without the header: the body is part of the signature
    form = signed("POST", "http://127.0.0.1:4566/", "sts", b"Action=GetCallerIdentity")
    with pytest.raises(sigv4.AuthError) as err:
        sigv4.verify(sigv4.Request("POST", "/", "", form.headers, b"Action=DeleteUser"), SECRETS, time.time())
    assert err.value.kind == sigv4.MISMATCH


def test_wrong_secret_unknown_key_junk_and_unsigned_are_refused() -> None:
    cases = {
        sigv4.MISMATCH: signed("GET", "http://127.0.0.1:4566/bucket", "s3", secret="not-the-secret"),
        sigv4.MISSING: sigv4.Request("POST", "/moto-api/reset", "", {"host": "127.0.0.1:4566"}, b""),
    }
    junk = {
        "host": "127.0.0.1:4566",
        "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/{time.strftime('%Y%m%d', time.gmtime())}/us-east-1/"
        "s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
    }
    cases[sigv4.MISMATCH + "-junk"] = sigv4.Request("GET", "/", "", junk, b"")
    cases[sigv4.UNKNOWN_KEY] = sigv4.Request(
        "GET", "/", "", {**junk, "authorization": junk["authorization"].replace(KEY, "testing")}, b""
    )
    cases[sigv4.INCOMPLETE] = sigv4.Request("GET", "/", "", {**junk, "authorization": "AWS testing:abc"}, b"")
    for kind, request in cases.items():
        with pytest.raises(sigv4.AuthError) as err:
            sigv4.verify(request, SECRETS, time.time())
        assert err.value.kind == kind.removesuffix("-junk"), kind


def test_clock_skew_of_15_minutes_is_allowed_and_no_more() -> None:
    request = signed("GET", "http://127.0.0.1:4566/bucket", "s3")
    now = time.time()
    assert sigv4.verify(request, SECRETS, now + 14 * 60).access_key_id == KEY
    assert sigv4.verify(request, SECRETS, now - 14 * 60).access_key_id == KEY
    for offset in (16 * 60, -16 * 60):
        with pytest.raises(sigv4.AuthError) as err:
            sigv4.verify(request, SECRETS, now + offset)
        assert err.value.kind == sigv4.EXPIRED


# AWS's published example of a signed aws-chunked upload (S3 docs, "Signature Calculations for the Authorization
# Header: Transferring Payload in Multiple Chunks"): 66,560 bytes of 'a' in chunks of 64 KiB, 1 KiB and 0.
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)


def _example(chunk_signatures: tuple[str, ...] = CHUNK_SIGNATURES) -> sigv4.Request:
    body = b""
    for size, signature in zip((65536, 1024, 0), chunk_signatures, strict=True):
        body += f"{size:x};chunk-signature={signature}\r\n".encode() + b"a" * size + b"\r\n"
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": sigv4.STREAMING_SIGNED,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
        "authorization": f"AWS4-HMAC-SHA256 Credential={EXAMPLE_KEY}/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        f"x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}",
    }
    return sigv4.Request("PUT", "/examplebucket/chunkObject.txt", "", headers, body)


def test_aws_chunked_example_verifies_seed_and_every_chunk() -> None:
    when = 1369353600.0  # 2013-05-24T00:00:00Z
    request = _example()
    assert len(request.body) == 66824
    assert sigv4.verify(request, {EXAMPLE_KEY: EXAMPLE_SECRET}, when).access_key_id == EXAMPLE_KEY
    tampered = (CHUNK_SIGNATURES[0], "0" * 64, CHUNK_SIGNATURES[2])
    with pytest.raises(sigv4.AuthError) as err:
        sigv4.verify(_example(tampered), {EXAMPLE_KEY: EXAMPLE_SECRET}, when)
    assert err.value.kind == sigv4.MISMATCH
    swapped = _example()
    body = swapped.body.replace(b"a" * 1024 + b"\r\n0;", b"b" * 1024 + b"\r\n0;")
    with pytest.raises(sigv4.AuthError):
        sigv4.verify(
            sigv4.Request("PUT", swapped.raw_path, "", swapped.headers, body), {EXAMPLE_KEY: EXAMPLE_SECRET}, when
        )


def test_unsigned_trailer_upload_checks_the_seed_signature() -> None:
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"
    headers = {
        "X-Amz-Content-SHA256": sigv4.STREAMING_UNSIGNED_TRAILER,
        "Content-Encoding": "aws-chunked",
        "X-Amz-Trailer": "x-amz-checksum-crc32",
        "X-Amz-Decoded-Content-Length": "5",
    }
    request = signed("PUT", "http://127.0.0.1:4566/bucket/k", "s3", body, headers)
    assert sigv4.verify(request, SECRETS, time.time()).access_key_id == KEY
    with pytest.raises(sigv4.AuthError):
        wrong = signed("PUT", "http://127.0.0.1:4566/bucket/k", "s3", body, headers, secret="x")
        sigv4.verify(wrong, SECRETS, time.time())


def test_signing_key_matches_the_specs_example() -> None:
    # AWS's SigV4 documentation: the derived key of this secret, date, region and service.
    key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    assert hashlib.sha256(b"").hexdigest() == sigv4.EMPTY_SHA256
