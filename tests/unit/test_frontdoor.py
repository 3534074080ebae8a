"""The emulator's front door (runner/local/frontdoor.py) over real HTTP, in front of a stand-in application that
records what reaches it: only same-host, non-browser, correctly signed requests pass; moto's own routes are the
user's only; refusals come in each protocol's error shape; no response grants CORS."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.serving import make_server

from runner.local import credentials, frontdoor

CREDS = credentials.generate()


class Backend:
    """Answers 200 with moto's global CORS headers (which the front door must strip); remembers every request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        self.seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], body))
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "*"),
            ],
        )
        return [b"ok"]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[int, Backend]]:
    backend = Backend()
    app = frontdoor.FrontDoor(backend, CREDS, ["172.30.0.1"], health={"job_endpoint": "http://172.30.0.1:1"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.port, backend
    server.shutdown()


def send(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body or None, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def signed_headers(
    method: str,
    url: str,
    pair: credentials.KeyPair = CREDS.user,
    service: str = "s3",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(pair.access_key_id, pair.secret_access_key), service, "us-east-1").add_auth(request)
    return dict(request.prepare().headers.items())


def no_cors(resp: Any) -> None:
    assert not [h for h in resp.getheaders() if h[0].lower().startswith("access-control-")], resp.getheaders()


def test_a_signed_same_host_request_passes_without_cors(served: tuple[int, Backend]) -> None:
    port, backend = served
    url = f"http://127.0.0.1:{port}/bucket/key"
    resp, data = send(port, "PUT", "/bucket/key", b"body", signed_headers("PUT", url, body=b"body"))
    assert (resp.status, data) == (200, b"ok")
    assert backend.seen[-1] == ("PUT", "/bucket/key", b"body")  # the body reaches the application intact
    no_cors(resp)
    for host in (f"localhost:{port}", "172.30.0.1:4566"):  # loopback by name, the jobs' gateway
        url = f"http://{host}/bucket"
        resp, _ = send(port, "GET", "/bucket", headers={**signed_headers("GET", url), "Host": host})
        assert resp.status == 200, host


def test_foreign_host_origin_and_cross_site_requests_are_refused_even_signed(served: tuple[int, Backend]) -> None:
    port, backend = served
    before = len(backend.seen)
    evil = f"http://evil.example:{port}/bucket"
    resp, data = send(port, "GET", "/bucket", headers={**signed_headers("GET", evil), "Host": f"evil.example:{port}"})
    assert resp.status == 403 and b"<Code>AccessDenied</Code>" in data and b"DNS rebinding" in data
    good = f"http://127.0.0.1:{port}/bucket"
    for extra in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        resp, _ = send(port, "GET", "/bucket", headers={**signed_headers("GET", good), **extra})
        assert resp.status == 403, extra
        no_cors(resp)
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    resp, _ = send(port, "OPTIONS", "/moto-api/reset", headers=preflight)
    assert resp.status == 403
    no_cors(resp)
    assert len(backend.seen) == before  # none of them reached the application


def test_unsigned_and_forged_requests_get_aws_error_shapes(served: tuple[int, Backend]) -> None:
    port, backend = served
    before = len(backend.seen)
    # a page's text/plain POST to moto's routes: the query protocol's XML
    resp, data = send(port, "POST", "/moto-api/reset", b"x", {"Content-Type": "text/plain"})
    assert resp.status == 403 and b"<Code>MissingAuthenticationToken</Code>" in data
    # S3 (signed with an unknown key, then with a wrong secret)
    url = f"http://127.0.0.1:{port}/bucket"
    stranger = credentials.KeyPair("AKIAIOSFODNN7EXAMPLE", "x")
    resp, data = send(port, "GET", "/bucket", headers=signed_headers("GET", url, stranger))
    assert resp.status == 403 and b"<Code>InvalidAccessKeyId</Code>" in data
    wrong = credentials.KeyPair(CREDS.user.access_key_id, "wrong")
    resp, data = send(port, "GET", "/bucket", headers=signed_headers("GET", url, wrong))
    assert resp.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in data
    # the query protocol (IAM, STS...) and EC2: XML with the common codes
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = b"Action=ListRoles&Version=2010-05-08"
    resp, data = send(port, "POST", "/", body, signed_headers("POST", url[:-7] + "/", wrong, "iam", body, form))
    assert resp.status == 403 and b"<ErrorResponse" in data and b"<Code>SignatureDoesNotMatch</Code>" in data
    body = b"Action=DescribeVpcs&Version=2016-11-15"
    resp, data = send(port, "POST", "/", body, signed_headers("POST", url[:-7] + "/", stranger, "ec2", body, form))
    assert resp.status == 403 and b"<Response><Errors>" in data and b"<Code>InvalidClientTokenId</Code>" in data
    # JSON protocols (CloudWatch Logs; Batch's REST-JSON): JSON with x-amzn-ErrorType
    target = {"X-Amz-Target": "Logs_20140328.DescribeLogGroups", "Content-Type": "application/x-amz-json-1.1"}
    resp, data = send(port, "POST", "/", b"{}", target)
    assert resp.status == 403 and json.loads(data)["__type"] == "MissingAuthenticationTokenException"
    assert resp.getheader("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    batch = signed_headers(
        "POST", url[:-7] + "/v1/describejobqueues", wrong, "batch", b"{}", {"Content-Type": "application/json"}
    )
    resp, data = send(port, "POST", "/v1/describejobqueues", b"{}", batch)
    assert resp.status == 403 and json.loads(data)["__type"] == "InvalidSignatureException"
    # a junk SigV4 header as the attacker sent it
    junk = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={CREDS.user.access_key_id}/20260101/us-east-1/batch/"
        "aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
        "X-Amz-Date": "20260101T000000Z",
        "Content-Type": "application/json",
    }
    resp, _ = send(port, "POST", "/v1/createjobqueue", b"{}", junk)
    assert resp.status == 403
    assert len(backend.seen) == before


def test_moto_routes_are_the_users_only_and_health_answers_signed(served: tuple[int, Backend]) -> None:
    port, backend = served
    url = f"http://127.0.0.1:{port}/moto-api/reset"
    resp, data = send(port, "POST", "/moto-api/reset", headers=signed_headers("POST", url, CREDS.job, "runner-local"))
    assert resp.status == 403 and b"AccessDenied" in data
    resp, _ = send(port, "POST", "/moto-api/reset", headers=signed_headers("POST", url, CREDS.user, "runner-local"))
    assert resp.status == 200 and backend.seen[-1][1] == "/moto-api/reset"
    # the jobs' pair is good for everything else
    bucket = f"http://127.0.0.1:{port}/bucket"
    assert send(port, "GET", "/bucket", headers=signed_headers("GET", bucket, CREDS.job))[0].status == 200
    status, body = credentials.signed_call(f"http://127.0.0.1:{port}", "GET", frontdoor.HEALTH_ROUTE, CREDS.user)
    assert status == 200 and json.loads(body)["job_endpoint"] == "http://172.30.0.1:1"
    assert send(port, "GET", frontdoor.HEALTH_ROUTE)[0].status == 403


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("127.0.0.1:4566", "127.0.0.1"),
        ("LOCALHOST", "localhost"),
        ("[::1]:80", "::1"),
        ("evil.example:1", "evil.example"),
    ],
)
def test_host_name(host: str, name: str) -> None:
    assert frontdoor.host_name(host) == name
