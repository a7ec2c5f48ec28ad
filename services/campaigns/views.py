"""Read models of the campaigns service: catalog rows, campaigns as the API shows them, histories, the
compiled snapshot, the typification tree and a schedule's status. Handlers use the campaign view and the
compiler after a write; everything else here only reads."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from libs.contracts.campaigns import CampaignSnapshot, Typification
from libs.contracts.schedule import Schedule
from libs.core.errors import NotFound
from libs.core.validation import decode_cursor, page_of
from services.campaigns.adapters.ports import (
    CAMPAIGN_COLUMNS,
    CAMPAIGN_ORDER,
    CLIENTS,
    FIELDS,
    HISTORY_ORDER,
    PROJECTS,
    SCHEDULES,
    TYPIFICATIONS,
    CampaignRepository,
    Order,
    Table,
    UnitOfWorkFactory,
)
from services.campaigns.domain import (
    CampaignIn,
    CampaignQuery,
    ClientIn,
    FieldDef,
    FieldIn,
    ProjectIn,
    ScheduleIn,
    TypificationIn,
    compile_snapshot,
    typification_label,
)


@dataclass(frozen=True)
class Entity:
    """A catalog entity: its table, input model, id prefix, and how campaigns refer to it."""

    name: str
    table: Table
    model: type[BaseModel]
    prefix: str
    used_as: str | None  # the ``CampaignRepository.campaigns_using`` reference, when campaigns embed it
    immutable: tuple[str, ...] = ("id",)


CLIENT = Entity("client", CLIENTS, ClientIn, "cli", "client_id")
PROJECT = Entity("project", PROJECTS, ProjectIn, "prj", "project_id", ("id", "client_id"))
SCHEDULE = Entity("schedule", SCHEDULES, ScheduleIn, "sch", "schedule_id")
TYPIFICATION = Entity("typification", TYPIFICATIONS, TypificationIn, "typ", "typification")
FIELD = Entity("field", FIELDS, FieldIn, "", "field", ("key",))
ENTITIES = {e.name: e for e in (CLIENT, PROJECT, SCHEDULE, TYPIFICATION, FIELD)}


def found(row: dict[str, Any] | None, what: str, key: str) -> dict[str, Any]:
    """The row, or a 404 naming what is missing."""
    if row is None:
        raise NotFound(f"{what} {key!r} does not exist", field="id")
    return row


def new_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def public(entity: Entity, row: dict[str, Any]) -> dict[str, Any]:
    """A catalog row as the API shows it."""
    out = {k: v for k, v in row.items() if k not in ("created_by",)}
    if entity is SCHEDULE:
        out = {**out, **Schedule.model_validate(schedule_data(row)).model_dump(mode="json")}
    return out


def schedule_data(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "timezone", "always_open", "weekly", "exceptions", "valid_from", "valid_until")
    return {k: row[k] for k in keys}


async def campaign_spec(repo: CampaignRepository, row: dict[str, Any]) -> dict[str, Any]:
    """A campaign as its ``CampaignIn`` (what an admin configures), from its row and child rows."""
    children = await repo.campaign_children(row["id"])
    base = {k: row[k] for k in ("id", *CAMPAIGN_COLUMNS) if k != "status"}
    base["status"] = row["status"] if row["status"] != "archived" else "paused"
    return CampaignIn.model_validate({**base, **children}).model_dump(mode="json")


async def campaign_view(repo: CampaignRepository, row: dict[str, Any]) -> dict[str, Any]:
    """A campaign as the API shows it: its spec with status, versions and audit columns."""
    spec = await campaign_spec(repo, row)
    meta = {k: row[k] for k in ("status", "version", "published_version", "created_at", "updated_at",
                                "created_by", "updated_by")}
    return {**spec, **meta}


async def compiled(repo: CampaignRepository, row: dict[str, Any]) -> CampaignSnapshot:
    """The campaign's snapshot: its spec with the schedule, typifications and fields it refers to."""
    spec = CampaignIn.model_validate(await campaign_spec(repo, row))
    schedule = None
    if spec.schedule_id:
        srow = await repo.get(SCHEDULES, spec.schedule_id)
        schedule = Schedule.model_validate(schedule_data(srow)) if srow else None
    typ_ids = [t for t in (*spec.closing_typifications, spec.inactivity_typification,
                           spec.transfer_typification, spec.ignore_comment_typification) if t]
    typs = {t["id"]: Typification(id=t["id"], category=t["category"], subcategory=t["subcategory"],
                                  label=typification_label(t["category"], t["subcategory"], t["label"]))
            for t in await repo.typifications(typ_ids)}
    catalog = {f["key"]: FieldDef.model_validate(f) for f in await repo.fields([f.key for f in spec.custom_fields])}
    return compile_snapshot(spec, campaign_id=row["id"], status=row["status"], version=row["version"],
                            schedule=schedule, typifications=typs, catalog=catalog, channel_types={},
                            updated_at=row["updated_at"], updated_by=row["updated_by"])


def _after(cursor: str | None, order: Order) -> tuple[str, ...] | None:
    return tuple(decode_cursor(cursor, (str,) * len(order))) if cursor else None


def _page(rows: list[dict[str, Any]], limit: int, shown: Callable[[dict[str, Any]], dict[str, Any]]
          ) -> dict[str, Any]:
    """The one list shape; the rows' ``_sort`` values make the cursor and are not shown."""
    page = page_of(rows, limit, lambda r: r["_sort"])
    page["items"] = [shown({k: v for k, v in r.items() if k != "_sort"}) for r in page["items"]]
    return page


class CampaignViews:
    """The reads of the HTTP API, each in one read-only unit of work."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    async def get(self, kind: str, key: str) -> dict[str, Any]:
        e = ENTITIES[kind]
        async with self.uow(readonly=True) as uow:
            return public(e, found(await uow.repo.get(e.table, key), e.name, key))

    async def list_items(self, kind: str, filters: dict[str, Any], limit: int, cursor: str | None
                         ) -> dict[str, Any]:
        """A page of a catalog: ``{"items", "next_cursor"}``."""
        e = ENTITIES[kind]
        async with self.uow(readonly=True) as uow:
            rows = await uow.repo.rows(e.table, filters, limit, _after(cursor, e.table.order))
        return _page(rows, limit, lambda r: public(e, r))

    async def history(self, kind: str, key: str, limit: int = 200, cursor: str | None = None) -> dict[str, Any]:
        """A page of an entity's changes, newest first."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.repo.history(kind, key, limit, _after(cursor, HISTORY_ORDER))
        return _page(rows, limit, dict)

    async def typification_tree(self) -> dict[str, Any]:
        """The typification catalog as categories with their subcategories (the whole tree, one page)."""
        rows = (await self.list_items("typification", {}, 10_000, None))["items"]
        tree: dict[str, dict[str, Any]] = {}
        for r in rows:
            node = tree.setdefault(r["category"], {"category": r["category"], "id": None, "subcategories": []})
            if r["subcategory"] is None:
                node["id"] = r["id"]
            else:
                node["subcategories"].append({"id": r["id"], "subcategory": r["subcategory"], "label": r["label"]})
        return {"items": list(tree.values()), "next_cursor": None}

    async def schedule_status(self, key: str, at: datetime) -> dict[str, Any]:
        """Whether a schedule is open at ``at`` and when it next opens, in the schedule's own zone."""
        row = await self.get("schedule", key)
        schedule = Schedule.model_validate({k: row[k] for k in Schedule.model_fields})
        nxt = schedule.next_opening(at)
        return {"at": at, "open": schedule.is_open(at), "timezone": schedule.timezone,
                "next_opening": nxt.astimezone(schedule.tz) if nxt else None}

    async def get_campaign(self, cid: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            return await campaign_view(uow.repo, found(await uow.repo.get_campaign(cid), "campaign", cid))

    async def list_campaigns(self, query: CampaignQuery, cursor: str | None = None) -> dict[str, Any]:
        """A page of campaigns matching ``query``: ``{"items", "next_cursor"}``."""
        query = replace(query, after=_after(cursor, CAMPAIGN_ORDER))
        async with self.uow(readonly=True) as uow:
            ids = await uow.repo.list_campaigns(query)
            views = {}
            for r in ids:
                row = await uow.repo.get_campaign(r["id"])
                if row is not None:
                    views[r["id"]] = await campaign_view(uow.repo, row)
        return _page([r for r in ids if r["id"] in views], query.limit, lambda r: views[r["id"]])

    async def snapshot(self, cid: str) -> CampaignSnapshot:
        async with self.uow(readonly=True) as uow:
            return await compiled(uow.repo, found(await uow.repo.get_campaign(cid), "campaign", cid))
