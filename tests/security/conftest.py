"""Security tests share the gateway fixtures (an in-process gateway on the session stack, local peers)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ..gateway.conftest import (  # noqa: F401  (fixtures)
    gateway,
    gw_client,
    make_user,
    password_hash,
    router_peer,
    services_peer,
)


async def raw_request(host: str, port: int, method: str, target: str, headers: dict[str, str] | None = None
                      ) -> tuple[int, Any]:
    """One HTTP/1.1 request written byte for byte (no client library re-encodes or normalizes the
    target); returns the status and the JSON body (or the text)."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items()), "", ""]
    writer.write("\r\n".join(lines).encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("latin-1")
