"""Security headers on every gateway response: the console's Content-Security-Policy, frame protection, nosniff."""

from __future__ import annotations

from aiohttp import web

# The console loads only its own files: ES modules and vendored data served by the gateway, no inline
# script or style, no plugin, no framing; it talks only to its own origin (REST and the WebSocket).
CONSOLE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# API answers are data, never a document to render.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# A file answered as an attachment (an export, a customer's HTML e-mail body): if a browser ever renders it, in a
# sandbox (no script, no same origin), loading nothing.
DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs for every answer (files, JSON, errors, the WebSocket handshake)."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    if not request.path.startswith("/api/"):
        headers["Content-Security-Policy"] = CONSOLE_CSP
    elif headers.get("Content-Disposition", "").lower().startswith("attachment"):
        headers["Content-Security-Policy"] = DOWNLOAD_CSP
    else:
        headers["Content-Security-Policy"] = API_CSP


def setup_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
