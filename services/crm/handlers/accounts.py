"""Accounts linked to a contact (seed 002), and lists (bases) and batches (lotes) of contacts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import new_id
from libs.core.errors import Conflict, Invalid, NotFound
from libs.core.validation import parse_body
from services.crm.domain.common import diff
from services.crm.handlers import Actor, Crm

Group = Literal["lists", "batches"]


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str = Field(min_length=1)
    campaign_id: str = Field(min_length=1)
    number: str = Field(min_length=1, max_length=100)
    product: str | None = Field(None, max_length=200)
    fields: dict[str, Any] = Field(default_factory=dict)
    assigned_user: str | None = None


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str | None = Field(None, min_length=1, max_length=100)
    product: str | None = Field(None, max_length=200)
    fields: dict[str, Any] | None = None
    assigned_user: str | None = None


async def create_account(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(AccountIn, body)
    async with crm.uow() as uow:
        if await uow.accounts.missing_contacts([data.contact_id]):
            raise NotFound(f"contact {data.contact_id} not found", field="contact_id")
        account = await uow.accounts.insert_account(new_id(), data.model_dump())
        if account is None:
            raise Conflict(f"account {data.number} already exists in campaign {data.campaign_id}", field="number")
        await uow.audit.audit("account", account["id"], "created", actor.id,
                              {k: [None, v] for k, v in data.model_dump(exclude_none=True).items()})
    return account


async def get_account(crm: Crm, account_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        account = await uow.accounts.get_account(account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found", field="account_id")
    return account


async def update_account(crm: Crm, account_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    patch = parse_body(AccountPatch, body)
    if not patch.model_fields_set:
        raise Invalid("nothing to change: send at least one field", field="body")
    fields = {k: getattr(patch, k) for k in patch.model_fields_set}
    if fields.get("number", "x") is None:
        raise Invalid("number cannot be removed", field="number")
    async with crm.uow() as uow:
        before = await uow.accounts.get_account(account_id, for_update=True)
        if before is None:
            raise NotFound(f"account {account_id} not found", field="account_id")
        if "fields" in fields:
            merged = {**before["fields"], **(fields["fields"] or {})}
            fields["fields"] = {k: v for k, v in merged.items() if v is not None}
        await uow.accounts.update_account(account_id, fields)
        after = await uow.accounts.get_account(account_id)
        assert after is not None
        changes = diff({k: before[k] for k in fields}, {k: after[k] for k in fields})
        if changes:
            await uow.audit.audit("account", account_id, "updated", actor.id, changes)
    return after


async def delete_account(crm: Crm, account_id: str, actor: Actor) -> None:
    async with crm.uow() as uow:
        if not await uow.accounts.delete_account(account_id):
            raise NotFound(f"account {account_id} not found", field="account_id")
        await uow.audit.audit("account", account_id, "deleted", actor.id)


async def list_accounts(crm: Crm, contact_id: str | None, campaign_id: str | None, limit: int,
                        after: tuple[Any, ...] | None, campaigns: list[str] | None = None) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        return await uow.accounts.list_accounts(contact_id, campaign_id, limit, after, campaigns)


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    campaign_id: str | None = None


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_ids: list[str] = Field(min_length=1, max_length=10000)
    batch_id: str | None = None


def _noun(table: Group) -> str:
    return "list" if table == "lists" else "batch"


async def create_group(crm: Crm, table: Group, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(GroupIn, body)
    async with crm.uow() as uow:
        group = await uow.accounts.insert_group(table, new_id(), data.name, data.campaign_id)
        await uow.audit.audit(_noun(table), group["id"], "created", actor.id, {"name": [None, data.name]})
    return group


async def get_group(crm: Crm, table: Group, group_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        group = await uow.accounts.get_group(table, group_id)
    if group is None:
        raise NotFound(f"{_noun(table)} {group_id} not found", field=f"{_noun(table)}_id")
    return group


async def list_groups(crm: Crm, table: Group, campaign_id: str | None, limit: int,
                      after: tuple[Any, ...] | None, campaigns: list[str] | None = None) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        return await uow.accounts.list_groups(table, campaign_id, limit, after, campaigns)


async def add_members(crm: Crm, table: Group, group_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    """Add contacts to a list or batch: all of them, or none when one is unknown."""
    data = parse_body(MembersIn, body)
    async with crm.uow() as uow:
        if await uow.accounts.get_group(table, group_id) is None:
            raise NotFound(f"{_noun(table)} {group_id} not found", field=f"{_noun(table)}_id")
        missing = await uow.accounts.missing_contacts(data.contact_ids)
        if missing:
            raise Invalid(f"unknown contacts: {', '.join(missing[:10])}",
                          field=f"contact_ids[{data.contact_ids.index(missing[0])}]")
        added = await uow.accounts.add_members(table, group_id, data.contact_ids, data.batch_id)
        await uow.audit.audit(_noun(table), group_id, "members_added", actor.id, {"added": added})
    return {"added": added}


async def remove_member(crm: Crm, table: Group, group_id: str, contact_id: str, actor: Actor) -> None:
    async with crm.uow() as uow:
        if not await uow.accounts.remove_member(table, group_id, contact_id):
            raise NotFound(f"contact {contact_id} is not in {_noun(table)} {group_id}", field="contact_id")
        await uow.audit.audit(_noun(table), group_id, "member_removed", actor.id, {"contact_id": contact_id})


async def list_members(crm: Crm, list_id: str, limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        if await uow.accounts.get_group("lists", list_id) is None:
            raise NotFound(f"list {list_id} not found", field="list_id")
        return await uow.accounts.list_members(list_id, limit, after)
