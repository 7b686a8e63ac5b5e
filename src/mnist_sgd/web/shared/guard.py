"""A strict Content-Security-Policy on every response; requests for a foreign ``Host`` refused.

The CSP says the page may load nothing but this server's own files (so it
works offline and cannot leak what is drawn); the ``Host`` check stops a web
page elsewhere from reaching the local server through DNS rebinding.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
        b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class Guard:
    """Adds the security headers; refuses (JSON 400) a ``Host`` that is not allowed."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str] | None = None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        host = host_name(Headers(scope=scope).get("host", ""))
        if self.allowed is not None and host not in self.allowed:
            refusal = JSONResponse(
                {
                    "error": f"Host {host!r} is not served here; open the "
                    "page as http://127.0.0.1:PORT/"
                },
                status_code=400,
            )
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port, lower case (``[::1]:80`` -> ``[::1]``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.split(":", 1)[0]
