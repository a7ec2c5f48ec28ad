"""Script objects of a campaign (guion, pestañas, forms), searched by the field usage finder."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import new_id
from libs.core.errors import Invalid, NotFound
from libs.core.validation import parse_body
from services.crm.adapters.postgres import processes as repo
from services.crm.handlers import Actor, Crm


class ScriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: str | None = None
    kind: Literal["script", "tab", "form"]
    name: str = Field(min_length=1, max_length=200)
    screen: str = Field("", max_length=200)
    body: str = Field(max_length=200_000)


class ScriptPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    screen: str | None = Field(None, max_length=200)
    body: str | None = Field(None, max_length=200_000)


async def create(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(ScriptIn, body)
    async with crm.pool.acquire() as conn, conn.transaction():
        row = await repo.insert_script(conn, data.model_dump() | {"id": new_id()})
        await repo.audit_json(conn, "script", row["id"], "created", actor.id, {"name": [None, data.name]})
    return row


async def update(crm: Crm, script_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    patch = parse_body(ScriptPatch, body)
    fields = {k: getattr(patch, k) for k in patch.model_fields_set}
    if not fields or any(v is None for v in fields.values()):
        raise Invalid("send name, screen or body (not null)", field="body")
    async with crm.pool.acquire() as conn, conn.transaction():
        row = await repo.update_script(conn, script_id, fields)
        if row is None:
            raise NotFound(f"script {script_id} not found", field="script_id")
        await repo.audit_json(conn, "script", script_id, "updated", actor.id, {"fields": sorted(fields)})
    return row


async def get(crm: Crm, script_id: str) -> dict[str, Any]:
    async with crm.pool.acquire() as conn:
        row = await repo.get_script(conn, script_id)
    if row is None:
        raise NotFound(f"script {script_id} not found", field="script_id")
    return row


async def delete(crm: Crm, script_id: str, actor: Actor) -> None:
    async with crm.pool.acquire() as conn, conn.transaction():
        if not await repo.delete_script(conn, script_id):
            raise NotFound(f"script {script_id} not found", field="script_id")
        await repo.audit_json(conn, "script", script_id, "deleted", actor.id, {})


async def search(crm: Crm, campaign_id: str | None, limit: int, after: tuple[Any, ...] | None
                 ) -> list[dict[str, Any]]:
    async with crm.pool.acquire() as conn:
        return await repo.scripts(conn, campaign_id, limit, after)
