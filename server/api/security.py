"""Who may talk to the sidecar: loopback by default, a bearer token on every endpoint but
health, and a bounded request body. Both checks are plain ASGI middleware so that they run
before any routing or body parsing, for every path (unknown ones included)."""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import socket

from fastapi import HTTPException

PUBLIC_PATHS = frozenset({"/v1/health"})
MIN_TOKEN_LENGTH = 16


def generate_token() -> str:
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str | None:
    """Why a user-chosen token is unusable, or None."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"the token must be at least {MIN_TOKEN_LENGTH} characters"
    if not all(33 <= ord(ch) <= 126 for ch in token):
        return "the token must be printable ASCII without spaces (it travels in an HTTP header)"
    return None


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


async def _send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class TokenMiddleware:
    """401 unless ``Authorization: Bearer <token>`` matches, compared in constant time."""

    def __init__(self, app, token: str):
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            return await self.app(scope, receive, send)
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() != b"bearer":
                    given = b""
                break
        if hmac.compare_digest(given, self._expected):
            return await self.app(scope, receive, send)
        message = ("missing or wrong token: send the header 'Authorization: Bearer <token>' with the token "
                   "from the server's startup line or state file")
        await _send_json(send, 401, {"error": message, "field": "Authorization"},
                         [(b"www-authenticate", b"Bearer")])


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``: at once from Content-Length, else while it streams in."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return (f"the request body is over the limit of {self.max_bytes // (1024 * 1024)} MiB; "
                "send shorter audio, or a compressed format (FLAC, OGG)")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    return await _send_json(send, 413, {"error": self._too_large(), "field": None})
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the body through as-is.
                    raise HTTPException(status_code=413, detail=self._too_large())
            return message

        await self.app(scope, limited_receive, send)
