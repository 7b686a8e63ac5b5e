"""A strict Content-Security-Policy on every response; foreign hosts, sites and strangers refused.

The CSP says the page may load nothing but this server's own files (so it
works offline and cannot leak what is drawn). The ``Host`` check stops a web
page elsewhere from reaching the server through DNS rebinding. A request that
may change something (any method but GET, HEAD, OPTIONS) must come from the
server's own pages: no foreign ``Origin``, and a body a plain HTML form cannot
send (JSON, an image) or an ``X-Requested-With`` header, which another site
cannot add without a CORS preflight this server never grants. Served beyond
loopback, such a request also needs the token printed at start-up (as Jupyter
asks for one): opening ``/?token=T`` once keeps it in a same-site cookie.
"""

from __future__ import annotations

import hmac
import urllib.parse

from starlette.datastructures import Headers, QueryParams
from starlette.requests import cookie_parser
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
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset(  # what a form or a no-cors fetch from any site may send
    {"", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
TOKEN_COOKIE = "mnist_sgd_token"


class Guard:
    """Adds the security headers; refuses a foreign ``Host`` (400), a foreign site (403) and,
    with a ``token``, a change asked without it (401)."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: list[str] | None = None, token: str | None = None
    ) -> None:
        self.app, self.token = app, token
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        headers = Headers(scope=scope)
        refusal = self.refusal(scope, headers)
        if refusal is not None:
            response = JSONResponse({"error": refusal[1]}, status_code=refusal[0])
            await response(scope, receive, send_with_headers)
            return
        if self.token is not None and self._given(QueryParams(scope["query_string"]).get("token")):
            extra.append((b"set-cookie", _cookie(self.token)))
        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        """``(status, error)`` for a request this server must not answer, else None."""
        host = host_name(headers.get("host", ""))
        if self.allowed is not None and host not in self.allowed:
            return 400, (
                f"Host {host[:100]!r} is not served here; open the page as "
                "http://127.0.0.1:PORT/ (or a name given with --allow-host)"
            )
        if scope["method"] in SAFE_METHODS:
            return None
        if (problem := cross_site(headers)) is not None:
            return 403, problem
        cookies = cookie_parser(headers.get("cookie", ""))
        if self.token is not None and not self._given(
            cookies.get(TOKEN_COOKIE) or headers.get("authorization", "").removeprefix("token ")
        ):
            return 401, "this server asks for its token: open the address it printed at start-up"
        return None

    def _given(self, token: str | None) -> bool:
        return (
            token is not None
            and self.token is not None
            and hmac.compare_digest(token.encode(), self.token.encode())
        )


def cross_site(headers: Headers) -> str | None:
    """Why a request that may change something did not come from this server's pages, or None."""
    origin = headers.get("origin")
    if (
        origin is not None
        and urllib.parse.urlsplit(origin).netloc.lower() != headers.get("host", "").lower().strip()
    ):
        return f"a request from {origin[:100]!r} may not change anything here"
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in FORM_TYPES and "x-requested-with" not in headers:
        return (
            "a request that may change something must be sent as this server's pages send it "
            "(JSON or an image, or with an X-Requested-With header)"
        )
    return None


def _cookie(token: str) -> bytes:
    return f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict".encode()


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port, lower case (``[::1]:80`` -> ``[::1]``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.split(":", 1)[0]
