"""Contact numbers masked in every JSON answer that reaches an agent of a campaign that hides them (seed 004
"Mostrar número de contacto = no"); supervisors, admins and services see them whole. Exports apply the same
mask to their rows (``export_mask``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from libs.core.auth import CALLER
from libs.core.http import dumps
from services.crm.domain.visibility import NumberMask
from services.crm.routes import actor_of, crm_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def export_mask(request: web.Request) -> NumberMask | None:
    """The mask of the caller's answers (None: nothing to mask, e.g. staff, or no campaign hides numbers, or
    an answer to nobody in particular: /healthz, /readyz, /metrics carry no internal token)."""
    if CALLER not in request:
        return None
    actor = actor_of(request)
    if actor.role != "agent":
        return None
    return NumberMask.for_agent(actor.id, crm_of(request).campaigns, request.query.get("campaign_id"))


@web.middleware
async def mask_numbers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not isinstance(response, web.Response) or response.content_type != "application/json" \
            or not isinstance(response.body, bytes | bytearray) or response.status >= 300:
        return response
    mask = export_mask(request)
    if mask is None:
        return response
    response.body = dumps(mask.redact(json.loads(response.body))).encode()
    return response
