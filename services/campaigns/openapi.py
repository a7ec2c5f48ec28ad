"""OpenAPI 3.1 document of the campaigns HTTP API, with request schemas generated from the input models."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from libs.contracts.campaigns import CampaignSnapshot
from libs.core.http import respond
from services.campaigns.domain import CampaignIn, ClientIn, FieldIn, ProjectIn, ScheduleIn, TypificationIn

MODELS: dict[str, type[BaseModel]] = {
    "Client": ClientIn, "Project": ProjectIn, "Schedule": ScheduleIn, "Typification": TypificationIn,
    "Field": FieldIn, "Campaign": CampaignIn, "CampaignSnapshot": CampaignSnapshot,
}
CATALOG = {"clients": ("Client", "id"), "projects": ("Project", "id"), "schedules": ("Schedule", "id"),
           "typifications": ("Typification", "id"), "fields": ("Field", "key")}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
                   "details": {}}}}}
INTERNAL_TOKEN = {"internal": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                "description": "the internal token signed by the gateway (EdDSA): user id, role "
                                               "and campaign scope; writes need the admin role"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: int = 200, body: str | None = None, out: dict[str, Any] | None = None,
        write: bool = False, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(ok): {"description": "ok", **(_json(out) if out is not None else {})},
        "4XX": {"description": "error naming the field", **_json(ERROR)},
    }}
    parameters = list(params or [])
    if write:
        op["description"] = "Admins only (the role of the internal token): 403 otherwise."
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True, **_json(_ref(body))}
    return op


def _path_param(name: str = "id") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]


# Every list answers one shape: a page of items and the cursor of the next page (null on the last).
PAGE = {"type": "object", "required": ["items", "next_cursor"],
        "properties": {"items": {"type": "array", "items": {"type": "object"}},
                       "next_cursor": {"type": ["string", "null"]}}}


def build_openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    filters = {"clients": ("status",), "projects": ("client_id", "status"), "schedules": (),
               "typifications": ("category",), "fields": ("type",)}
    for segment, (schema_name, _) in CATALOG.items():
        one, item, model = _path_param(), {"type": "object"}, schema_name.lower()
        paths[f"/{segment}"] = {
            "get": _op(f"List {segment}", out=PAGE, params=_query(*filters[segment], "limit", "cursor")),
            "post": _op(f"Create a {model}", 201, schema_name, item, write=True),
        }
        paths[f"/{segment}/{{id}}"] = {
            "parameters": [one],
            "get": _op(f"Get a {model}", out=item),
            "patch": _op(f"Change some fields of a {model}", 200, schema_name, item, write=True),
            "put": _op(f"Replace a {model}", 200, schema_name, item, write=True),
            "delete": _op(f"Delete a {model} (409 while campaigns use it)", 204, write=True),
        }
        paths[f"/{segment}/{{id}}/history"] = {"parameters": [one],
                                               "get": _op("Who changed what, when", out=PAGE,
                                                                          params=_query("limit", "cursor"))}
    paths["/typifications/tree"] = {"get": _op("Typifications by category", out=PAGE)}
    paths["/schedules/{id}/status"] = {"parameters": [_path_param()], "get": _op(
        "Open now (or at ?at=) and the next opening", params=_query("at"),
        out={"type": "object", "properties": {"open": {"type": "boolean"}, "next_opening": {}}})}
    campaign = {"type": "object"}
    paths["/campaigns"] = {
        "get": _op("Query campaigns", out=PAGE, params=_query(
            "from", "to", "campaign", "channel_id", "client_id", "project_id", "agent_id", "supervisor_id", "status",
            "limit", "cursor")),
        "post": _op("Create a campaign", 201, "Campaign", campaign, write=True),
    }
    cid = [_path_param()]
    paths["/campaigns/{id}"] = {
        "parameters": cid,
        "get": _op("Get a campaign", out=campaign),
        "patch": _op("Change some fields of a campaign", 200, "Campaign", campaign, write=True),
        "put": _op("Replace a campaign", 200, "Campaign", campaign, write=True),
        "delete": _op("Archive a campaign (409 with agents or active conversations)", out=campaign, write=True),
    }
    paths["/campaigns/{id}/activate"] = {"parameters": cid, "post": _op("Activate", out=campaign, write=True)}
    paths["/campaigns/{id}/deactivate"] = {"parameters": cid, "post": _op(
        "Deactivate (409 with agents or active conversations)", out=campaign, write=True)}
    paths["/campaigns/{id}/snapshot"] = {"parameters": cid, "get": _op(
        "The compiled snapshot, as in the KV bucket", out=_ref("CampaignSnapshot"))}
    paths["/campaigns/{id}/history"] = {"parameters": cid, "get": _op("Change history", out=PAGE,
                                                                           params=_query("limit", "cursor"))}
    schemas: dict[str, Any] = {}
    for name, cls in MODELS.items():
        schema = cls.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return {"openapi": "3.1.0", "info": {"title": "Switchboard campaigns (internal)", "version": "1"},
            "security": [{"internal": []}], "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": INTERNAL_TOKEN}}


def openapi_route() -> web.RouteDef:
    document = build_openapi()

    async def handler(request: web.Request) -> web.Response:
        return respond(document)

    return web.get("/openapi.json", handler)
