"""A local provider sandbox for development: records Graph-API-shaped sends so the demo has a real peer.

`switchboard up` runs it and points the channels service at it, so an agent's reply can be seen without a
Meta account. It answers like the Graph API messages endpoint.
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

SENT = web.AppKey("sent", list)


def create_sandbox() -> web.Application:
    app = web.Application()
    app[SENT] = []
    counter = itertools.count(1)

    async def graph_send(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        wamid = f"wamid.sandbox.{next(counter)}"
        app[SENT].append({"path": request.path, "auth": request.headers.get("Authorization"), "body": body,
                          "id": wamid})
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                                  "messages": [{"id": wamid}]})

    async def sent(request: web.Request) -> web.Response:
        return web.json_response(app[SENT])

    app.router.add_post("/{version}/{phone_number_id}/messages", graph_send)
    app.router.add_get("/sandbox/sent", sent)
    return app
