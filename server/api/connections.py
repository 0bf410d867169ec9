"""uvicorn's HTTP/1.1 protocol with what a sidecar on a shared machine needs and uvicorn lacks:
a cap on open connections, read timeouts, and TCP_NODELAY on every accepted socket.

uvicorn (h11) times out only idle kept-alive connections, after a response; a connection that
sends nothing, or its headers or body a byte at a time, stays open forever. Here every request
must arrive within bounded time (limits.py), and the 65th open connection is answered 503 and
closed instead of queueing behind the others.
"""

from __future__ import annotations

import json
import socket

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from server import limits


def _raw_response(status: int, reason: str, message: str, field: str | None, extra: str = "") -> bytes:
    body = json.dumps({"error": message, "field": field}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n{extra}\r\n")
    return head.encode() + body


def guarded_protocol(max_connections: int = limits.MAX_CONNECTIONS,
                     header_timeout_s: float = limits.HEADER_TIMEOUT_S,
                     body_idle_timeout_s: float = limits.BODY_IDLE_TIMEOUT_S,
                     request_read_timeout_s: float = limits.REQUEST_READ_TIMEOUT_S) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with these bounds."""

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._deadline = None  # the TimerHandle of the read in progress
            self._phase = None  # "headers" or "body" while a request is being read
            self._request_started = 0.0
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                # Without it, a response written in two parts (head, body) waits for the client's
                # delayed ACK: 40 ms per request on a kept-alive connection.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._refused = len(self.connections) > max_connections
            if self._refused:
                transport.write(_raw_response(
                    503, "Service Unavailable",
                    f"the sidecar has {max_connections} connections open, its limit; close idle ones and retry",
                    None, "retry-after: 1\r\n"))
                transport.close()
                return
            # A connection that never sends a byte is a request whose headers never arrive.
            self._begin("headers", header_timeout_s)

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # answered 503 already; whatever it sends is not served
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.IDLE and data:
                if self._phase != "headers":  # the first bytes of the next request on this connection
                    self._begin("headers", header_timeout_s)
            elif state is h11.SEND_BODY:
                self._phase = "body"
                self._arm_body()  # every chunk of body restarts the idle wait
            elif self._phase is not None and state is not h11.IDLE:
                self._disarm()  # the whole request is in

        def _begin(self, phase: str, timeout: float) -> None:
            self._phase = phase
            self._request_started = self.loop.time()
            self._arm(timeout)

        def _arm_body(self) -> None:
            left = self._request_started + request_read_timeout_s - self.loop.time()
            self._arm(max(0.0, min(body_idle_timeout_s, left)))

        def _arm(self, delay: float) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(delay, self._timed_out)

        def _disarm(self) -> None:
            if getattr(self, "_deadline", None) is not None:
                self._deadline.cancel()
            self._deadline, self._phase = None, None

        def _timed_out(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if self._phase == "body" and self.flow.read_paused:
                # The application is not reading (it is busy); the client is not the slow one.
                self._arm_body()
                return
            # In the headers phase no response is under way (self.cycle may be the previous request's).
            if self._phase == "headers" or self.cycle is None or not self.cycle.response_started:
                what = "headers" if self._phase == "headers" else "body"
                self.transport.write(_raw_response(
                    408, "Request Timeout",
                    f"the request's {what} did not arrive in time (headers within {header_timeout_s:g} s, body "
                    f"bytes at least every {body_idle_timeout_s:g} s, all of it within {request_read_timeout_s:g} s)",
                    None))
            self._phase = None
            self.transport.close()

    return GuardedH11Protocol
