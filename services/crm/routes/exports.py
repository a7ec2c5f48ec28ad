"""HTTP: ``/exports/{contacts|calls|tickets}``, the gateway's name for the lists' streamed exports."""

from __future__ import annotations

from aiohttp import web

from libs.core.errors import NotFound
from services.crm.handlers import access
from services.crm.routes import actor_of, calls, contacts, tickets

EXPORTS = {"contacts": contacts.export_contacts, "calls": calls.export_calls, "tickets": tickets.export_tickets}


async def export(request: web.Request) -> web.StreamResponse:
    """Staff only (as in the gateway); each export is then narrowed to the caller's scope by its query."""
    access.require_staff(actor_of(request), "export")  # agents export from their lists (/contacts/export...)
    handler = EXPORTS.get(request.match_info["kind"])
    if handler is None:
        raise NotFound(f"no export named {request.match_info['kind']!r}; one of {', '.join(EXPORTS)}",
                       field="kind")
    return await handler(request)


def setup(app: web.Application) -> None:
    app.router.add_get("/exports/{kind}", export)
