"""A fault-injecting HTTP proxy in front of the emulator, for the suite only.

`FaultProxy` listens on 127.0.0.1 only and forwards every request to the emulator, except that it

* answers a share of signed requests (``throttle``) with the throttling error of the request's protocol, without
  forwarding it (S3 ``SlowDown`` 503, Batch ``TooManyRequestsException`` 429, ``ThrottlingException`` for JSON
  APIs, ``Throttling`` for query APIs);
* resets the connection (TCP RST, nothing forwarded) on a share of them (``reset``);
* loses SubmitJob responses (``lose_submit``): the request reaches the emulator, the job is created, and the
  client gets a reset instead of the answer;
* can hold the response of the Nth SubmitJob (``hold_submit``) until `release` (or its time bound), so a test can
  kill -9 a submit while a job exists that its runner has not heard of.

It is bounded: it stops by itself after ``max_requests`` requests or ``max_seconds`` seconds, whichever first, and
every wait in it has a timeout. Faults are drawn from a seeded generator, so a run is repeatable.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_HEADERS = {
    "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "expect",
}  # fmt: skip
UPSTREAM_TIMEOUT = 60.0


def _service(headers: Any) -> str:
    """The signing name from SigV4's credential scope (``.../<region>/<service>/aws4_request``), '' unsigned."""
    auth = headers.get("Authorization", "")
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in auth else ""
    parts = scope.split("/")
    return parts[3] if len(parts) >= 5 else ""


def throttle_reply(service: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
    """The throttling error AWS would send for this request's protocol."""
    if service == "s3":
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        return 503, {"Content-Type": "application/xml"}, body
    if service == "batch":
        body = b'{"__type": "TooManyRequestsException", "message": "Too Many Requests"}'
        return 429, {"Content-Type": "application/json", "x-amzn-ErrorType": "TooManyRequestsException"}, body
    if headers.get("X-Amz-Target"):
        body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": "ThrottlingException"}, body
    if service == "ec2":
        body = (
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
            b"</Message></Error></Errors><RequestID>fault</RequestID></Response>"
        )
        return 503, {"Content-Type": "text/xml"}, body
    body = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
        b"</Error><RequestId>fault</RequestId></ErrorResponse>"
    )
    return 400, {"Content-Type": "text/xml"}, body


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        throttle: float = 0.20,
        reset: float = 0.05,
        lose_submit: float = 0.0,
        hold_submit: int | None = None,
        max_requests: int = 20_000,
        max_seconds: float = 300.0,
        seed: int = 16,
    ) -> None:
        self.upstream_port = upstream_port
        self.throttle = throttle
        self.reset = reset
        self.lose_submit = lose_submit
        self.hold_submit = hold_submit
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.random = random.Random(seed)
        self.submit_random = random.Random(seed + 1)  # lost responses drawn apart: the same ones whatever else
        self.counts: Counter[str] = Counter()
        self.submits = 0
        self.held = threading.Event()  # set when the held SubmitJob reached the emulator
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._timer = threading.Timer(max_seconds, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.released.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- decisions ------------------------------------------------------------------------------------------------

    def _decide(self, service: str, is_submit: bool) -> str:
        with self._lock:
            self.counts["requests"] += 1
            if self.counts["requests"] > self.max_requests:
                return "over"
            if is_submit:
                self.submits += 1
                if self.hold_submit is not None and self.submits == self.hold_submit:
                    return "hold"
            if not service:  # unsigned (the emulator's own API): passed through untouched
                return "forward"
            draw = self.random.random()
            if draw < self.reset:
                return "reset"
            if draw < self.reset + self.throttle:
                return "throttle"
            if is_submit and self.submit_random.random() < self.lose_submit:
                return "lose"
            return "forward"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline().strip():  # trailers
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reset(self) -> None:
                """Close with an RST: the client sees 'connection reset by peer'."""
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=UPSTREAM_TIMEOUT)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    return resp.status, resp.getheaders(), data
                finally:
                    conn.close()

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in HOP_HEADERS and not (
                        key.lower() == "content-length" and self.command != "HEAD"
                    ):
                        self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _handle(self) -> None:
                body = self._body()
                service = _service(self.headers)
                is_submit = self.command == "POST" and self.path.rstrip("/").lower().endswith("/v1/submitjob")
                action = proxy._decide(service, is_submit)
                proxy.counts[action] += 1
                if action in ("reset", "over"):
                    self._reset()
                    return
                if action == "throttle":
                    status, headers, data = throttle_reply(service, self.headers)
                    self._reply(status, list(headers.items()), data)
                    return
                status, fwd_headers, data = self._forward(body)
                if action == "lose":
                    self._reset()
                    return
                if action == "hold":
                    proxy.held.set()
                    proxy.released.wait(timeout=proxy.max_seconds)
                    self._reset()
                    return
                self._reply(status, fwd_headers, data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        return Handler


def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
