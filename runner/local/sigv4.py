"""AWS Signature Version 4, verified: what the emulator's front door (`runner.local.frontdoor`) checks on every
request, written from the public SigV4 specification.

A request is signed in its ``Authorization`` header (``AWS4-HMAC-SHA256 Credential=.../SignedHeaders=.../
Signature=...``) or, presigned, in its query string (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``). The payload is the body's SHA-256, or what
``x-amz-content-sha256`` says: a digest (checked against the body), ``UNSIGNED-PAYLOAD``, or aws-chunked
streaming (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``: the seed signature and every chunk's signature are
checked; ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``: the seed signature). The request time may differ from the
clock by 15 minutes, as AWS allows.

Clients do not all build the canonical path and query the same way (botocore signs the path as sent, once more
encoded for services other than S3; the Go SDKs re-encode from the decoded form), so each request is checked
against the few canonical forms real clients produce: each is a function of the request itself, so none lets
a signature cover another request. Pure functions: no I/O, no clock (the caller passes ``now``).
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
SKEW_SECONDS = 15 * 60
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SPACES = re.compile(r"\s+")

# Kinds of failure; the front door renders each in the protocol's own error shape.
MISSING = "missing"  # no signature at all
INCOMPLETE = "incomplete"  # a signature that is not well-formed SigV4
UNKNOWN_KEY = "unknown_key"  # an access key id the env did not issue
MISMATCH = "mismatch"  # the signature does not match the request
EXPIRED = "expired"  # outside the 15-minute window, or a presigned URL past its expiry
CONTENT_SHA = "content_sha"  # x-amz-content-sha256 does not match the body


class AuthError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Request:
    """What the verifier needs of an HTTP request: the path and query exactly as sent (percent-encoded), header
    names in lower case (repeated headers joined with commas), the whole body."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Verified:
    access_key_id: str
    region: str
    service: str


@dataclass(frozen=True)
class _Signature:
    access_key_id: str
    date: str  # yyyymmdd of the scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    presigned: bool
    expires: int | None

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def uri_encode(text: str, keep_slash: bool) -> str:
    """SigV4's encoding: every byte but ``A-Z a-z 0-9 - _ . ~`` as %XX (upper-case hex); ``/`` kept in paths."""
    return quote(text, safe="/~" if keep_slash else "~")


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query's name/value pairs as sent (still percent-encoded)."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((name, value))
    return pairs


def _query_param(raw_query: str, name: str) -> str | None:
    for key, value in query_pairs(raw_query):
        if unquote(key) == name:
            return unquote(value)
    return None


def _parse(request: Request) -> _Signature:
    header = request.headers.get("authorization")
    if header is not None:
        return _parse_header(header, request)
    if _query_param(request.raw_query, "X-Amz-Signature") is not None or (
        _query_param(request.raw_query, "X-Amz-Algorithm") is not None
    ):
        return _parse_query(request)
    if _query_param(request.raw_query, "AWSAccessKeyId") is not None:
        raise AuthError(
            INCOMPLETE, "Signature Version 2 is not accepted: presign with SigV4 (boto3: signature_version='s3v4')"
        )
    raise AuthError(MISSING, "Missing Authentication Token")


def _credential(text: str) -> tuple[str, str, str, str]:
    parts = text.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise AuthError(INCOMPLETE, f"Credential should be scoped to a valid region and service: '{text}'")
    return parts[0], parts[1], parts[2], parts[3]


def _parse_header(header: str, request: Request) -> _Signature:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthError(INCOMPLETE, f"Authorization header requires the {ALGORITHM} algorithm")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise AuthError(INCOMPLETE, f"Authorization header requires {', '.join(missing)}")
    key, date, region, service = _credential(fields["Credential"])
    amz_date = request.headers.get("x-amz-date") or _from_http_date(request.headers.get("date"))
    if not amz_date:
        raise AuthError(
            INCOMPLETE, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header"
        )
    return _Signature(
        key, date, region, service, _signed(fields["SignedHeaders"]), fields["Signature"], amz_date, False, None
    )


def _parse_query(request: Request) -> _Signature:
    values = {
        name: _query_param(request.raw_query, name)
        for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise AuthError(INCOMPLETE, f"Query-string authentication requires {', '.join(missing)}")
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthError(INCOMPLETE, f"X-Amz-Algorithm must be {ALGORITHM}")
    raw_expires = _query_param(request.raw_query, "X-Amz-Expires") or "900"
    if not raw_expires.isdigit() or not 1 <= int(raw_expires) <= MAX_PRESIGNED_SECONDS:
        raise AuthError(INCOMPLETE, f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_SECONDS} seconds")
    key, date, region, service = _credential(str(values["X-Amz-Credential"]))
    return _Signature(
        key,
        date,
        region,
        service,
        _signed(str(values["X-Amz-SignedHeaders"])),
        str(values["X-Amz-Signature"]),
        str(values["X-Amz-Date"]),
        True,
        int(raw_expires),
    )


def _signed(text: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in text.split(";") if name.strip())
    if "host" not in names:
        raise AuthError(INCOMPLETE, "SignedHeaders must include host")
    return names


def _from_http_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        when = datetime.strptime(value.strip(), "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    except ValueError:
        return None
    return when.strftime("%Y%m%dT%H%M%SZ")


def _check_time(sig: _Signature, now: float) -> None:
    try:
        when = datetime.strptime(sig.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise AuthError(INCOMPLETE, f"X-Amz-Date must be in the ISO 8601 basic format: '{sig.amz_date}'") from None
    if sig.amz_date[:8] != sig.date:
        raise AuthError(
            MISMATCH, f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date: {sig.amz_date}"
        )
    if when - now > SKEW_SECONDS:
        raise AuthError(EXPIRED, f"Signature not yet current: {sig.amz_date} is later than now plus 15 min.")
    if sig.presigned:
        if now > when + (sig.expires or 0):
            raise AuthError(EXPIRED, "Request has expired")
    elif now - when > SKEW_SECONDS:
        raise AuthError(EXPIRED, f"Signature expired: {sig.amz_date} is now earlier than now minus 15 min.")


def _paths(raw_path: str, service: str) -> list[str]:
    """Canonical URIs real clients produce: as sent (S3, botocore), re-encoded from the decoded form (the Go
    SDKs), and for services other than S3 (whose keys are never normalised) encoded once more (botocore, the Go
    SDKs) and with dot segments and empty segments removed."""
    path = raw_path or "/"
    candidates = [path, uri_encode(unquote(path), keep_slash=True)]
    if service != "s3":
        normalised = posixpath.normpath(path) if path != "/" else "/"
        if normalised != "/" and path.endswith("/"):
            normalised += "/"
        normalised = re.sub("/+", "/", normalised)
        candidates += [uri_encode(path, keep_slash=True), uri_encode(normalised, keep_slash=True), normalised]
    found: list[str] = []
    for candidate in candidates:
        if candidate not in found:
            found.append(candidate)
    return found


def _queries(raw_query: str, presigned: bool) -> list[str]:
    """Canonical query strings: the pairs as sent, sorted (botocore), and decoded then re-encoded (the spec)."""
    pairs = query_pairs(raw_query)
    if presigned:
        pairs = [(k, v) for k, v in pairs if unquote(k) != "X-Amz-Signature"]
    as_sent = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    encoded = sorted(
        (uri_encode(unquote(k), keep_slash=False), uri_encode(unquote(v), keep_slash=False)) for k, v in pairs
    )
    spec = "&".join(f"{k}={v}" for k, v in encoded)
    return [as_sent] if as_sent == spec else [as_sent, spec]


def _canonical_headers(sig: _Signature, headers: Mapping[str, str]) -> str:
    lines = []
    for name in sig.signed_headers:
        value = headers.get(name)
        if value is None:
            raise AuthError(MISMATCH, f"The request signature names header '{name}', which the request does not carry")
        lines.append(f"{name}:{_SPACES.sub(' ', value.strip())}\n")
    return "".join(lines)


def _payload_hashes(sig: _Signature, request: Request) -> list[str]:
    declared = request.headers.get("x-amz-content-sha256")
    if declared:
        if _HEX64.match(declared) and declared != _sha256_hex(request.body):
            raise AuthError(CONTENT_SHA, "The provided 'x-amz-content-sha256' header does not match what was computed.")
        if declared not in (UNSIGNED_PAYLOAD, *STREAMING) and not _HEX64.match(declared):
            raise AuthError(
                INCOMPLETE, f"x-amz-content-sha256 must be a SHA-256 digest or a payload type: '{declared}'"
            )
        return [declared]
    digest = _sha256_hex(request.body)
    return [digest, UNSIGNED_PAYLOAD] if sig.presigned else [digest]


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{_sha256_hex(canonical_request)}"


def _candidates(sig: _Signature, request: Request) -> Iterable[str]:
    headers = _canonical_headers(sig, request.headers)
    signed = ";".join(sig.signed_headers)
    for payload in _payload_hashes(sig, request):
        for path in _paths(request.raw_path, sig.service):
            for query in _queries(request.raw_query, sig.presigned):
                yield f"{request.method}\n{path}\n{query}\n{headers}\n{signed}\n{payload}"


def verify(request: Request, secrets: Mapping[str, str], now: float) -> Verified:
    """The request's signer, when the signature is valid for one of ``secrets`` (access key id -> secret);
    AuthError naming what is wrong otherwise."""
    sig = _parse(request)
    secret = secrets.get(sig.access_key_id)
    if secret is None:
        raise AuthError(UNKNOWN_KEY, "The security token included in the request is invalid.")
    _check_time(sig, now)
    key = signing_key(secret, sig.date, sig.region, sig.service)
    given = sig.signature.lower()
    for canonical in _candidates(sig, request):
        if hmac.compare_digest(_hmac_hex(key, string_to_sign(sig.amz_date, sig.scope, canonical)), given):
            break
    else:
        raise AuthError(
            MISMATCH,
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    if not sig.presigned and request.headers.get("x-amz-content-sha256") in (
        STREAMING_SIGNED,
        STREAMING_SIGNED_TRAILER,
    ):
        _verify_chunks(request.body, key, sig, given)
    return Verified(sig.access_key_id, sig.region, sig.service)


def _verify_chunks(body: bytes, key: bytes, sig: _Signature, seed: str) -> None:
    """aws-chunked with signed chunks: each ``<hex size>;chunk-signature=<sig>\\r\\n<data>\\r\\n`` chains on the
    previous signature; the last has size 0; with a trailer, ``x-amz-trailer-signature`` closes the chain."""
    previous, pos = seed, 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise AuthError(INCOMPLETE, "aws-chunked body: a chunk header is not terminated")
        size_text, _, extension = body[pos:end].decode("latin-1").partition(";")
        name, _, chunk_sig = extension.partition("=")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise AuthError(INCOMPLETE, "aws-chunked body: a chunk size is not hexadecimal") from None
        if name.strip() != "chunk-signature" or not chunk_sig:
            raise AuthError(INCOMPLETE, "aws-chunked body: a chunk carries no chunk-signature")
        data = body[end + 2 : end + 2 + size]
        if len(data) != size:
            raise AuthError(INCOMPLETE, "aws-chunked body: a chunk is shorter than its size")
        text = f"{ALGORITHM}-PAYLOAD\n{sig.amz_date}\n{sig.scope}\n{previous}\n{EMPTY_SHA256}\n{_sha256_hex(data)}"
        if not hmac.compare_digest(_hmac_hex(key, text), chunk_sig.strip().lower()):
            raise AuthError(MISMATCH, "The chunk signature we calculated does not match the signature you provided.")
        previous = chunk_sig.strip().lower()
        pos = end + 2 + size
        if size == 0:
            break
        if body[pos : pos + 2] != b"\r\n":
            raise AuthError(INCOMPLETE, "aws-chunked body: a chunk is longer than its size")
        pos += 2
    _verify_trailer(body[pos:], key, sig, previous)


def _verify_trailer(rest: bytes, key: bytes, sig: _Signature, previous: str) -> None:
    lines = [line for line in rest.decode("latin-1").split("\r\n") if line]
    trailers = [line for line in lines if not line.lower().startswith("x-amz-trailer-signature:")]
    signatures = [line.split(":", 1)[1].strip().lower() for line in lines if line not in trailers]
    if not trailers and not signatures:
        return
    if not signatures:
        raise AuthError(INCOMPLETE, "aws-chunked body: trailing headers without x-amz-trailer-signature")
    canonical = "".join(
        f"{name.strip().lower()}:{value.strip()}\n" for name, _, value in (t.partition(":") for t in trailers)
    )
    text = f"{ALGORITHM}-TRAILER\n{sig.amz_date}\n{sig.scope}\n{previous}\n{_sha256_hex(canonical)}"
    if not hmac.compare_digest(_hmac_hex(key, text), signatures[0]):
        raise AuthError(MISMATCH, "The trailer signature we calculated does not match the signature you provided.")
