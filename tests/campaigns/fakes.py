"""In-memory stand-ins for the campaigns service's ports: a unit of work over dicts with the same rules as
the PostgreSQL adapter (unique names, references that block a delete, one active campaign per channel,
rollback when the block raises), the KV bucket and the channel directory."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from libs.contracts.campaigns import CampaignSnapshot
from libs.core.errors import Conflict
from libs.storage.uow import MemoryUnitOfWork
from services.campaigns.adapters.ports import (
    CAMPAIGN_COLUMNS,
    CLIENTS,
    FIELDS,
    PROJECTS,
    SCHEDULES,
    TYPIFICATIONS,
    ChannelTaken,
    Table,
)
from services.campaigns.domain import CampaignQuery

_CLOCK = itertools.count()


def _now() -> datetime:
    # Strictly increasing, so lists sorted by creation time have one order, as in PostgreSQL.
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=next(_CLOCK))


def _unique_key(t: Table, row: dict[str, Any]) -> tuple[Any, ...] | None:
    """The value of the table's unique index other than the key (``None``: the table has none)."""
    if t is CLIENTS or t is SCHEDULES:
        return (row["name"].lower(),)
    if t is PROJECTS:
        return (row["client_id"], row["name"].lower())
    if t is TYPIFICATIONS:
        return (row["category"].lower(), (row["subcategory"] or "").lower())
    return None


class State:
    """Every table of the service, as plain data (deep-copied to roll a unit of work back)."""

    def __init__(self) -> None:
        self.catalog: dict[str, dict[str, dict[str, Any]]] = {t.name: {} for t in
                                                              (CLIENTS, PROJECTS, SCHEDULES, TYPIFICATIONS, FIELDS)}
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.children: dict[str, dict[str, Any]] = {}
        self.active_channels: dict[str, str] = {}  # channel -> the active campaign serving it
        self.changes: list[dict[str, Any]] = []
        self.conversations: dict[str, dict[str, Any]] = {}


class FakeRepository:
    """``CampaignRepository`` over a ``State``."""

    def __init__(self, state: State) -> None:
        self.s = state

    # ---- catalog ------------------------------------------------------------------------------------
    def _table(self, t: Table) -> dict[str, dict[str, Any]]:
        return self.s.catalog[t.name]

    def _check_unique(self, t: Table, key: str, row: dict[str, Any]) -> None:
        mine = _unique_key(t, row)
        if mine is None:
            return
        for other_key, other in self._table(t).items():
            if other_key != key and _unique_key(t, other) == mine:
                if t is TYPIFICATIONS:
                    raise Conflict("subcategory: another typification already has this category and subcategory",
                                   field="subcategory")
                raise Conflict(f"name: another {t.entity} already has this name", field="name")

    async def insert(self, t: Table, key: str, data: dict[str, Any], actor: str | None) -> dict[str, Any]:
        if key in self._table(t):
            raise Conflict(f"{t.key}: another {t.entity} already has this {t.key}", field=t.key)
        at = _now()
        row = {t.key: key, **{c: data.get(c) for c in t.columns}, "version": 1, "created_at": at,
               "updated_at": at, "created_by": actor, "updated_by": actor}
        self._check_unique(t, key, row)
        self._table(t)[key] = row
        return dict(row)

    async def get(self, t: Table, key: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self._table(t).get(key)
        return dict(row) if row else None

    async def rows(self, t: Table, filters: dict[str, Any], limit: int, after: tuple[str, ...] | None
                   ) -> list[dict[str, Any]]:
        def sort(row: dict[str, Any]) -> tuple[str, ...]:
            if t is TYPIFICATIONS:
                return (row["category"].lower(), (row["subcategory"] or "").lower(), row["id"])
            if t is FIELDS:
                return (row["key"],)
            return (row["created_at"].isoformat(), row[t.key])

        found = [r for r in self._table(t).values()
                 if all(v is None or r.get(c) == v for c, v in filters.items())]
        found.sort(key=sort)
        if after is not None:
            found = [r for r in found if sort(r) > tuple(after)]
        return [{**r, "_sort": list(sort(r))} for r in found[:limit]]

    async def update(self, t: Table, key: str, data: dict[str, Any], actor: str | None) -> dict[str, Any]:
        row = {**self._table(t)[key], **{c: data[c] for c in t.columns if c in data}}
        self._check_unique(t, key, row)
        row.update(version=row["version"] + 1, updated_at=_now(), updated_by=actor)
        self._table(t)[key] = row
        return dict(row)

    async def delete(self, t: Table, key: str) -> bool:
        refs = {
            CLIENTS.name: [p for p in self.s.catalog[PROJECTS.name].values() if p["client_id"] == key],
            PROJECTS.name: [c for c in self.s.campaigns.values() if c["project_id"] == key],
        }.get(t.name, [])
        if refs:
            raise Conflict(f"{t.entity} {key!r} is still referenced", field="id")
        return self._table(t).pop(key, None) is not None

    async def record_change(self, entity: str, entity_id: str, version: int, action: str, actor: str | None,
                            changes: dict[str, Any]) -> None:
        self.s.changes.append({"seq": len(self.s.changes) + 1, "entity": entity, "entity_id": entity_id,
                               "version": version, "action": action, "actor": actor, "at": _now(),
                               "diff": copy.deepcopy(changes)})

    async def history(self, entity: str, entity_id: str, limit: int, after: tuple[str, ...] | None
                      ) -> list[dict[str, Any]]:
        found = [c for c in reversed(self.s.changes) if c["entity"] == entity and c["entity_id"] == entity_id]
        if after is not None:
            found = [c for c in found if -c["seq"] > int(after[0])]
        return [{**{k: c[k] for k in ("version", "action", "actor", "at", "diff")}, "_sort": [str(-c["seq"])]}
                for c in found[:limit]]

    async def existing(self, t: Table, keys: list[str]) -> set[str]:
        return {k for k in keys if k in self._table(t)}

    async def typifications(self, ids: list[str]) -> list[dict[str, Any]]:
        table = self._table(TYPIFICATIONS)
        return [{k: table[i][k] for k in ("id", "category", "subcategory", "label")} for i in ids if i in table]

    async def fields(self, keys: list[str]) -> list[dict[str, Any]]:
        table = self._table(FIELDS)
        return [{k: table[f][k] for k in ("key", "label", "type", "options")} for f in keys if f in table]

    async def campaigns_using(self, column: str, value: str) -> list[str]:
        def uses(cid: str, row: dict[str, Any]) -> bool:
            kids = self.s.children[cid]
            if column == "typification":
                return value in (row["inactivity_typification"], row["transfer_typification"],
                                 row["ignore_comment_typification"], *kids["closing_typifications"])
            if column == "field":
                return value in [f["key"] for f in kids["custom_fields"]]
            return row.get(column) == value

        return sorted(cid for cid, row in self.s.campaigns.items() if row["status"] != "archived" and uses(cid, row))

    # ---- campaigns ----------------------------------------------------------------------------------
    async def get_campaign(self, campaign_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.campaigns.get(campaign_id)
        return copy.deepcopy(row) if row else None

    async def campaign_children(self, campaign_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.s.children[campaign_id])

    async def insert_campaign(self, campaign_id: str, data: dict[str, Any], actor: str | None) -> None:
        if campaign_id in self.s.campaigns:
            raise Conflict(f"id: campaign {campaign_id!r} already exists", field="id")
        at = _now()
        self.s.campaigns[campaign_id] = {"id": campaign_id, **{c: copy.deepcopy(data[c]) for c in CAMPAIGN_COLUMNS},
                                         "version": 1, "published_version": 0, "created_at": at, "updated_at": at,
                                         "created_by": actor, "updated_by": actor}

    async def update_campaign(self, campaign_id: str, data: dict[str, Any], actor: str | None) -> int:
        row = self.s.campaigns[campaign_id]
        row.update({c: copy.deepcopy(data[c]) for c in CAMPAIGN_COLUMNS})
        row.update(version=row["version"] + 1, updated_at=_now(), updated_by=actor)
        return int(row["version"])

    async def replace_children(self, campaign_id: str, data: dict[str, Any], active: bool) -> None:
        for channel, owner in list(self.s.active_channels.items()):
            if owner == campaign_id:
                del self.s.active_channels[channel]
        if active:
            for ch in data["channels"]:
                if ch["id"] in self.s.active_channels:
                    raise ChannelTaken(ch["id"])
                self.s.active_channels[ch["id"]] = campaign_id
        self.s.children[campaign_id] = copy.deepcopy({k: data[k] for k in (
            "channels", "closing_typifications", "custom_fields", "agents", "supervisors", "tabs",
            "linked_campaigns")})

    async def set_status(self, campaign_id: str, status: str, actor: str | None) -> int:
        if status != "active":
            for channel, owner in list(self.s.active_channels.items()):
                if owner == campaign_id:
                    del self.s.active_channels[channel]
        row = self.s.campaigns[campaign_id]
        row.update(status=status, version=row["version"] + 1, updated_at=_now(), updated_by=actor)
        return int(row["version"])

    async def bump(self, campaign_ids: list[str], actor: str | None) -> dict[str, int]:
        out = {}
        for cid in campaign_ids:
            row = self.s.campaigns[cid]
            row.update(version=row["version"] + 1, updated_at=_now(), updated_by=actor)
            out[cid] = row["version"]
        return out

    async def unlink_everywhere(self, campaign_id: str) -> list[str]:
        touched = []
        for cid, kids in self.s.children.items():
            if campaign_id in kids["linked_campaigns"]:
                kids["linked_campaigns"].remove(campaign_id)
                touched.append(cid)
        return sorted(touched)

    async def channel_owners(self, channel_ids: list[str], campaign_id: str) -> dict[str, str]:
        return {ch: owner for ch, owner in self.s.active_channels.items()
                if ch in channel_ids and owner != campaign_id}

    async def campaign_statuses(self, ids: list[str]) -> dict[str, str]:
        return {i: self.s.campaigns[i]["status"] for i in ids if i in self.s.campaigns}

    async def list_campaigns(self, q: CampaignQuery) -> list[dict[str, Any]]:
        def match(cid: str, row: dict[str, Any]) -> bool:
            kids = self.s.children[cid]
            return ((row["status"] == q.status) if q.status else row["status"] != "archived") and all((
                not q.client_id or row["client_id"] == q.client_id,
                not q.project_id or row["project_id"] == q.project_id,
                not q.channel_id or q.channel_id in [c["id"] for c in kids["channels"]],
                not q.agent_id or q.agent_id in kids["agents"],
                not q.supervisor_id or q.supervisor_id in kids["supervisors"],
                not q.text or q.text == cid or q.text.lower() in row["name"].lower(),
            ))

        found = sorted(((row["created_at"].isoformat(), cid) for cid, row in self.s.campaigns.items()
                        if match(cid, row)))
        if q.after is not None:
            found = [k for k in found if k > tuple(q.after)]
        return [{"id": cid, "_sort": [at, cid]} for at, cid in found[:q.limit]]

    async def unpublished(self) -> list[str]:
        return sorted(c for c, r in self.s.campaigns.items() if r["published_version"] < r["version"])

    async def all_campaign_ids(self) -> list[str]:
        return sorted(self.s.campaigns)

    async def mark_published(self, campaign_id: str, version: int) -> None:
        row = self.s.campaigns[campaign_id]
        row["published_version"] = max(row["published_version"], version)

    # ---- conversations ------------------------------------------------------------------------------
    async def open_conversations(self, campaign_id: str) -> int:
        return sum(1 for c in self.s.conversations.values() if c["campaign_id"] == campaign_id and not c["closed"])

    async def open_conversations_of(self, campaign_id: str, agents: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for cid, c in sorted(self.s.conversations.items()):
            if c["campaign_id"] == campaign_id and not c["closed"] and c.get("agent_id") in agents:
                out.setdefault(c["agent_id"], []).append(cid)
        return out

    async def track_conversation(self, conversation_id: str, campaign_id: str | None, seq: int,
                                 closed: bool, agent_id: str | None = None) -> None:
        seen = self.s.conversations.get(conversation_id)
        if seen is not None and seq < seen["seq"]:
            return
        self.s.conversations[conversation_id] = {
            "campaign_id": campaign_id or (seen or {}).get("campaign_id"), "seq": seq,
            "agent_id": agent_id or (seen or {}).get("agent_id"),
            "closed": closed or bool(seen and seen["closed"])}


class FakeUnitOfWork(MemoryUnitOfWork):
    """A unit of work over the shared ``State``: what the block changed is undone when it raises."""

    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.repo = FakeRepository(state)


class FakeUnitOfWorkFactory:
    """``UnitOfWorkFactory`` over one ``State``."""

    def __init__(self) -> None:
        self.state = State()

    def __call__(self, *, readonly: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.state)


class FakeSnapshots:
    """``SnapshotSink``: the bucket as a dict, keeping the newest version (as the KV adapter does)."""

    def __init__(self) -> None:
        self.bucket: dict[str, CampaignSnapshot] = {}

    async def put(self, snap: CampaignSnapshot) -> bool:
        old = self.bucket.get(snap.id)
        if old is not None and old.version > snap.version:
            return False
        self.bucket[snap.id] = snap
        return True

    async def delete(self, campaign_id: str) -> None:
        self.bucket.pop(campaign_id, None)


class FakeChannelTypes:
    """``ChannelTypes``: the channels registered with the channels service."""

    def __init__(self, types: dict[str, str] | None = None) -> None:
        self.types = dict(types or {})

    async def type_of(self, channel_id: str) -> str | None:
        return self.types.get(channel_id)
