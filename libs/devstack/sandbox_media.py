"""The provider sandbox's WhatsApp media store: ``POST /{version}/{phone_number_id}/media`` (multipart
``messaging_product``, ``type``, ``file``), as the Cloud API takes a file before a message names it by id.

Added to the sandbox (``libs/devstack/sandbox.py``) by :func:`add_media_store`, so channels can send our own
(``blob:``) media to it in development and in the console's end-to-end tests.
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

UPLOADS = web.AppKey("uploads", list)


def add_media_store(app: web.Application) -> web.Application:
    """``app`` with the media route; each upload is recorded in ``app[UPLOADS]`` (its fields and the file's bytes)."""
    app[UPLOADS] = []
    counter = itertools.count(1)

    async def upload(request: web.Request) -> web.Response:
        fields: dict[str, Any] = {}
        for name, value in (await request.post()).items():
            fields[name] = ({"filename": value.filename, "content_type": value.content_type,
                             "data": value.file.read()} if isinstance(value, web.FileField) else value)
        if fields.get("messaging_product") != "whatsapp" or not isinstance(fields.get("file"), dict):
            return web.json_response({"error": {"message": "(#100) messaging_product and file are required",
                                                "type": "OAuthException", "code": 100}}, status=400)
        media_id = f"media.sandbox.{next(counter)}"
        app[UPLOADS].append({"path": request.path, "auth": request.headers.get("Authorization"), "id": media_id,
                             **fields})
        return web.json_response({"id": media_id})

    app.router.add_post("/{version}/{phone_number_id}/media", upload)
    return app
