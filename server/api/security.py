"""Who may talk to the sidecar: loopback by default, requests addressed to this sidecar by a
name that cannot be rebound and never from a web page, a bearer token on every endpoint but
health, and a bounded request body. The checks are plain ASGI middleware so that they run
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
# Names that always mean this machine: a DNS-rebinding page can make the browser connect to
# 127.0.0.1, but the Host it sends is then the attacker's own name, never one of these.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


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


def allowed_host_names(bound_host: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The Host names a request may carry: the loopback names, the bound host, and ``extra``."""
    return frozenset({*LOOPBACK_NAMES, bound_host.strip("[]").lower(), *(name.strip("[]").lower() for name in extra)})


def _split_host(value: str) -> tuple[str, str | None] | None:
    """``"[::1]:8765"`` -> ("::1", "8765"); ``"localhost"`` -> ("localhost", None); None if malformed."""
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        return name.lower(), rest[1:] if rest else None
    name, colon, port = value.partition(":")
    if ":" in port:
        return None
    return name.lower(), port if colon else None


class RequestOriginMiddleware:
    """403 unless the request names this sidecar in ``Host`` and does not come from a web page.

    Host: a loopback name or the bound host, and the bound port when a port is given. That
    defeats DNS rebinding (the page's own name is in Host). Origin: any value is refused,
    because every client the sidecar has (the add-on, scripts, curl) sends none, and browsers
    send one on every cross-origin and every non-GET request. ``Sec-Fetch-Site`` other than
    ``none`` (a URL typed into the address bar) marks the remaining page-made requests.
    """

    def __init__(self, app, allowed_names: frozenset[str], port: int):
        self.app = app
        self.allowed_names = allowed_names
        self.port = str(port)

    def _refusal(self, headers) -> tuple[str, str] | None:
        hosts = [value for name, value in headers if name == b"host"]
        shown = ", ".join(sorted(self.allowed_names))
        if len(hosts) != 1:
            return "Host", (f"send exactly one Host header naming this sidecar ({shown}), not {len(hosts)}")
        host = hosts[0].decode("latin-1")
        split = _split_host(host)
        if split is None or split[0] not in self.allowed_names or (split[1] is not None and split[1] != self.port):
            return "Host", (f"{host[:100]!r} is not this sidecar: connect through one of {shown} on port "
                            f"{self.port} (start the sidecar with --allow-host NAME to add a name)")
        for name, value in headers:
            if name == b"origin":
                return "Origin", (f"requests from web pages ({value.decode('latin-1')[:100]!r}) are refused; "
                                  "the sidecar serves the add-on and scripts, which send no Origin")
            if name == b"sec-fetch-site" and value != b"none":
                return "Sec-Fetch-Site", "requests made by a web page are refused"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._refusal(scope["headers"])
        if refusal is None:
            return await self.app(scope, receive, send)
        field, message = refusal
        await _send_json(send, 403, {"error": f"{field}: {message}", "field": field})
