"""The emulator's front door: a WSGI layer every request passes before moto sees it.

In order, a request is refused (403, in its protocol's error shape) when:

1. its ``Host`` names anything but this machine's loopback (``127.0.0.1``, ``localhost``, ``[::1]``) or the
   address the local Batch's containers use (its network's gateway): a page that rebinds its own DNS name to
   127.0.0.1 still sends its own name, so DNS rebinding stops here. The port is not compared: a name is what a
   rebinding page cannot fake, and a local proxy in front of the emulator (the bench's) keeps its own port;
2. it comes from a web page: an ``Origin`` header (the emulator serves no pages, so any origin is foreign), or
   ``Sec-Fetch-Site: cross-site | same-site``; CORS preflights are refused the same way;
3. it is not signed with SigV4 by one of the env's key pairs (`runner.local.credentials`, checked by
   `runner.local.sigv4`): ``MissingAuthenticationToken``, ``InvalidClientTokenId``, ``SignatureDoesNotMatch``
   (S3: ``AccessDenied``, ``InvalidAccessKeyId``, ``SignatureDoesNotMatch``, ``RequestTimeTooSkewed``; JSON
   protocols: their ``...Exception`` names), as AWS answers;
4. it asks for moto's own ``/moto-api/`` routes (reset, recorder, seed, config...) with the jobs' key pair: only
   the user's may.

No response grants CORS: moto's global CORS is off (``MOTO_DISABLE_GLOBAL_CORS``) and any ``Access-Control-*``
header is stripped on the way out. ``GET /_runner/health``, signed with the user's pair, answers the runner's
start-up check with the emulator's pid and the jobs' endpoint.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from runner.local import sigv4
from runner.local.credentials import USER, EnvCredentials

HEALTH_ROUTE = "/_runner/health"
MOTO_API = "/moto-api"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
REFUSED_FETCH_SITES = ("cross-site", "same-site")
DENIED = "denied"  # not a signature failure: a request this env never serves

# kind -> (query/EC2 code, S3 code, JSON code, HTTP status)
CODES: dict[str, tuple[str, str, str, int]] = {
    sigv4.MISSING: ("MissingAuthenticationToken", "AccessDenied", "MissingAuthenticationTokenException", 403),
    sigv4.UNKNOWN_KEY: ("InvalidClientTokenId", "InvalidAccessKeyId", "UnrecognizedClientException", 403),
    sigv4.MISMATCH: ("SignatureDoesNotMatch", "SignatureDoesNotMatch", "InvalidSignatureException", 403),
    sigv4.EXPIRED: ("SignatureDoesNotMatch", "RequestTimeTooSkewed", "InvalidSignatureException", 403),
    sigv4.INCOMPLETE: ("IncompleteSignature", "AuthorizationHeaderMalformed", "IncompleteSignatureException", 403),
    sigv4.CONTENT_SHA: ("SignatureDoesNotMatch", "XAmzContentSHA256Mismatch", "InvalidSignatureException", 400),
    DENIED: ("AccessDenied", "AccessDenied", "AccessDeniedException", 403),
}
# S3 words some of them its own way
S3_MESSAGES = {
    sigv4.MISSING: "Access Denied",
    sigv4.UNKNOWN_KEY: "The AWS Access Key Id you provided does not exist in our records.",
}

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:4566`` -> ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _service(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    credential = ""
    if "Credential=" in auth:
        credential = auth.split("Credential=", 1)[1].split(",", 1)[0]
    elif "X-Amz-Credential=" in environ.get("QUERY_STRING", ""):
        from urllib.parse import unquote

        credential = unquote(environ["QUERY_STRING"].split("X-Amz-Credential=", 1)[1].split("&", 1)[0])
    parts = credential.split("/")
    return parts[3].lower() if len(parts) == 5 else None


def protocol(environ: dict[str, Any]) -> str:
    """How AWS would shape an error for this request: ``json``, ``query``, ``ec2`` or ``s3``."""
    content_type = environ.get("CONTENT_TYPE", "").lower()
    path = environ.get("PATH_INFO", "")
    service = _service(environ)
    if environ.get("HTTP_X_AMZ_TARGET") or content_type.startswith("application/x-amz-json"):
        return "json"
    if service == "s3":
        return "s3"
    if service == "ec2":
        return "ec2"
    if content_type.startswith("application/x-www-form-urlencoded") or "Action=" in environ.get("QUERY_STRING", ""):
        return "query"
    if content_type.startswith("application/json") or path.startswith("/v1/") or service not in (None, "s3"):
        return "json"
    if path.startswith((MOTO_API, HEALTH_ROUTE)):
        return "query"
    return "s3"


def error_response(kind: str, message: str, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    query_code, s3_code, json_code, status = CODES[kind]
    request_id = str(uuid.uuid4())
    shape = protocol(environ)
    if shape == "json":
        body = json.dumps({"__type": json_code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", json_code),
            ("x-amzn-RequestId", request_id),
        ]
    elif shape == "s3":
        message = S3_MESSAGES.get(kind, message)
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{s3_code}</Code><Message>{escape(message)}'
            f"</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    elif shape == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{query_code}</Code>'
            f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:
        body = (
            f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
            f"<Code>{query_code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    reason = "Bad Request" if status == 400 else "Forbidden"
    return f"{status} {reason}", [*headers, ("Content-Length", str(len(body)))], body


def _raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """The request target's path and query exactly as sent (werkzeug keeps it in RAW_URI / REQUEST_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        from urllib.parse import quote

        raw = quote(environ.get("PATH_INFO", "")) + (
            f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""
        )
    if "://" in raw.split("?", 1)[0]:  # absolute-form target
        parts = urlsplit(raw)
        return parts.path or "/", parts.query
    path, _, query = raw.partition("?")
    return path or "/", query


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _headers(environ: dict[str, Any], preserved_key: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value != "":
            headers[key.replace("_", "-").lower()] = str(value)
    # moto's request handler keeps the original spelling of headers with underscores (S3 metadata)
    for key, name in ((environ.get(preserved_key) if preserved_key else None) or {}).items():
        if key in environ:
            headers[str(name).lower()] = str(environ[key])
    return headers


class FrontDoor:
    """WSGI middleware in front of moto's application (see the module docstring)."""

    def __init__(
        self,
        app: App,
        credentials: EnvCredentials,
        addresses: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        preserved_key: str | None = None,
        health: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.health = {"pid": os.getpid(), "emulator": "runner.local", **(health or {})}
        self.preserved_key = preserved_key
        self.credentials = credentials
        self.secrets = credentials.secrets()
        self.names = {*LOOPBACK, *(a.lower() for a in addresses)}
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refusal = self._check(environ)
        if refusal is not None:
            status, headers, body = refusal
            start_response(status, headers)
            return [body]
        if environ.get("PATH_INFO") == HEALTH_ROUTE:
            body = json.dumps(self.health).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]

        def without_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info) if exc_info else start_response(status, kept)

        return self.app(environ, without_cors)

    def _check(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        host = environ.get("HTTP_HOST", "")
        if host_name(host) not in self.names:
            return error_response(DENIED, f"Host '{host}' is not this emulator's (DNS rebinding is refused)", environ)
        site = environ.get("HTTP_SEC_FETCH_SITE", "").lower()
        if "HTTP_ORIGIN" in environ or site in REFUSED_FETCH_SITES or "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            return error_response(DENIED, "Requests from web pages are refused by the local env", environ)
        raw_path, raw_query = _raw_target(environ)
        body = _read_body(environ)
        headers = _headers(environ, self.preserved_key)
        request = sigv4.Request(environ.get("REQUEST_METHOD", "GET"), raw_path, raw_query, headers, body)
        try:
            verified = sigv4.verify(request, self.secrets, self.clock())
        except sigv4.AuthError as err:
            return error_response(err.kind, err.message, environ)
        path = environ.get("PATH_INFO", "")
        private = path.startswith((MOTO_API, HEALTH_ROUTE)) or path == "/favicon.ico"
        if private and self.credentials.role(verified.access_key_id) != USER:
            return error_response(DENIED, "moto's own routes are the user's only, not a job's", environ)
        return None
