"""HTTP: /reports/kpis (JSON, CSV or XLSX), /reports/dashboard (today so far), /reports/forecast (staffing)."""

from __future__ import annotations

from aiohttp import web

from libs.core.http import respond
from services.crm.adapters.spreadsheets import MEDIA_TYPES
from services.crm.handlers import access, exports, reports
from services.crm.routes import actor_of, crm_of, send_stream


async def kpis(request: web.Request) -> web.StreamResponse:
    access.require_staff(actor_of(request), "read reports")  # before anything of the query is read
    crm = crm_of(request)
    q = reports.report_query(crm, actor_of(request), request.query)
    fmt = (request.query.get("format") or "json").lower()
    if fmt != "json":
        fmt = exports.check_format(fmt)
    rows = await reports.kpi_rows(crm, q)
    if fmt == "json":
        return respond({"items": rows, "next_cursor": None, "interval": q.minutes, "group": q.group,
                        "tz": str(q.tz), "from": q.start.isoformat(), "to": q.end.isoformat()})
    name = f"kpis-{q.group}-{q.start.date().isoformat()}.{fmt}"
    return await send_stream(request, reports.report_file(rows, fmt), MEDIA_TYPES[fmt], name)


async def dashboard(request: web.Request) -> web.Response:
    access.require_staff(actor_of(request), "read reports")
    return respond(await reports.dashboard(crm_of(request), actor_of(request), request.query))


async def forecast(request: web.Request) -> web.Response:
    access.require_staff(actor_of(request), "read reports")
    return respond(await reports.forecast(crm_of(request), actor_of(request), request.query))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/reports/kpis", kpis)
    r.add_get("/reports/dashboard", dashboard)
    r.add_get("/reports/forecast", forecast)
