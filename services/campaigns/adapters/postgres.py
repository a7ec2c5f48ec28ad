"""All SQL of the campaigns service: catalog entities, campaigns and their child rows, changes, conversations;
the unit of work that opens one transaction and exposes the repository; driver errors become ``Conflict``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

import asyncpg

from libs.core.errors import Conflict
from libs.storage.uow import PgUnitOfWork as BaseUnitOfWork
from services.campaigns.adapters.ports import (
    CAMPAIGN_COLUMNS,
    CAMPAIGN_JSON,
    CAMPAIGN_ORDER,
    HISTORY_ORDER,
    ChannelTaken,
    Order,
    Table,
)
from services.campaigns.domain import CampaignQuery

# Table and column names below are constants (``adapters.ports``), never user input.
_CHANNEL_KEY = re.compile(r"\(channel_id\)=\((?P<channel>[^)]*)\)")


def keyset(order: Order, key: str, after: tuple[str, ...] | None, args: list[Any]
           ) -> tuple[str, str, str]:
    """The pieces of a keyset page: the sort values to select (as ``_sort``, text), the condition that
    starts after the cursor (``after``: those values of the last row of the previous page), and the
    ORDER BY. Text round-trips through PostgreSQL's own casts, so a cursor sorts exactly like the rows."""
    exprs = [(e.format(key=key), typ) for e, typ in order]
    select = "ARRAY[" + ", ".join(f"({e})::text" for e, _ in exprs) + "] AS _sort"
    cond = ""
    if after is not None:
        marks = []
        for value, (_, typ) in zip(after, exprs, strict=True):
            args.append(value)
            marks.append(f"CAST(${len(args)}::text AS {typ})")
        cond = "(" + ", ".join(e for e, _ in exprs) + ") > (" + ", ".join(marks) + ")"
    return select, cond, ", ".join(e for e, _ in exprs)



def _encode(table_json: frozenset[str], column: str, value: Any, dates: frozenset[str] = frozenset()) -> Any:
    if column in table_json:
        return json.dumps(value)
    if column in dates and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def record(row: asyncpg.Record | None, json_columns: Iterable[str] = ()) -> dict[str, Any] | None:
    """A row as a plain dict, JSON columns decoded."""
    if row is None:
        return None
    out = dict(row)
    for col in json_columns:
        if isinstance(out.get(col), str):
            out[col] = json.loads(out[col])
    return out


class Repository:
    """Queries on one connection; the caller owns the transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # ------------------------------------------------------------------------------- catalog entities

    async def insert(self, t: Table, key: str, data: dict[str, Any], actor: str | None) -> dict[str, Any]:
        cols = [t.key, *t.columns, "created_by", "updated_by"]
        values = [key, *(_encode(t.json_columns, c, data.get(c), t.date_columns) for c in t.columns), actor, actor]
        marks = ", ".join(f"${i}::jsonb" if c in t.json_columns else f"${i}" for i, c in enumerate(cols, 1))
        try:
            row = await self.conn.fetchrow(
                f"INSERT INTO {t.qualified} ({', '.join(cols)}) VALUES ({marks}) RETURNING *", *values)
        except asyncpg.UniqueViolationError as exc:
            raise _duplicate(t, exc) from exc
        return record(row, t.json_columns)  # type: ignore[return-value]

    async def get(self, t: Table, key: str, *, for_update: bool = False) -> dict[str, Any] | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT * FROM {t.qualified} WHERE {t.key} = $1{lock}", key)
        return record(row, t.json_columns)

    async def rows(self, t: Table, filters: dict[str, Any], limit: int, after: tuple[str, ...] | None
                   ) -> list[dict[str, Any]]:
        """A page of a catalog list; each row carries its ``_sort`` values (the next page's cursor)."""
        where: list[str] = []
        args: list[Any] = []
        for col, value in filters.items():
            if value is not None:
                args.append(value)
                where.append(f"{col} = ${len(args)}")
        select, cond, order = keyset(t.order, t.key, after, args)
        if cond:
            where.append(cond)
        sql = f"SELECT *, {select} FROM {t.qualified}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT {int(limit)}"
        return [record(r, t.json_columns) for r in await self.conn.fetch(sql, *args)]  # type: ignore[misc]

    async def update(self, t: Table, key: str, data: dict[str, Any], actor: str | None) -> dict[str, Any]:
        sets, args = [], [key, actor]
        for col in t.columns:
            if col in data:
                args.append(_encode(t.json_columns, col, data[col], t.date_columns))
                sets.append(f"{col} = ${len(args)}" + ("::jsonb" if col in t.json_columns else ""))
        sets += ["version = version + 1", "updated_at = now()", "updated_by = $2"]
        try:
            row = await self.conn.fetchrow(
                f"UPDATE {t.qualified} SET {', '.join(sets)} WHERE {t.key} = $1 RETURNING *", *args)
        except asyncpg.UniqueViolationError as exc:
            raise _duplicate(t, exc) from exc
        return record(row, t.json_columns)  # type: ignore[return-value]

    async def delete(self, t: Table, key: str) -> bool:
        """Delete a row; ``Conflict`` while another row still refers to it."""
        try:
            return (await self.conn.execute(f"DELETE FROM {t.qualified} WHERE {t.key} = $1", key)) != "DELETE 0"
        except asyncpg.ForeignKeyViolationError as exc:
            raise Conflict(f"{t.entity} {key!r} is still referenced ({exc.table_name})", field="id") from exc

    async def record_change(self, entity: str, entity_id: str, version: int, action: str, actor: str | None,
                            changes: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO campaigns.changes (entity, entity_id, version, action, actor, diff)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            entity, entity_id, version, action, actor, json.dumps(changes, default=str))

    async def history(self, entity: str, entity_id: str, limit: int, after: tuple[str, ...] | None
                      ) -> list[dict[str, Any]]:
        """A page of an entity's changes, newest first; each row carries its ``_sort`` values."""
        args: list[Any] = [entity, entity_id]
        select, cond, order = keyset(HISTORY_ORDER, "", after, args)
        rows = await self.conn.fetch(
            f"SELECT version, action, actor, at, diff, {select} FROM campaigns.changes"
            f" WHERE entity = $1 AND entity_id = $2{' AND ' + cond if cond else ''}"
            f" ORDER BY {order} LIMIT {int(limit)}", *args)
        return [record(r, ("diff",)) for r in rows]  # type: ignore[misc]

    async def existing(self, t: Table, keys: list[str]) -> set[str]:
        rows = await self.conn.fetch(f"SELECT {t.key} FROM {t.qualified} WHERE {t.key} = ANY($1::text[])", keys)
        return {r[0] for r in rows}

    async def typifications(self, ids: list[str]) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.conn.fetch(
            "SELECT id, category, subcategory, label FROM campaigns.typifications WHERE id = ANY($1::text[])", ids)]

    async def fields(self, keys: list[str]) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT key, label, type, options FROM campaigns.fields WHERE key = ANY($1::text[])", keys)
        return [record(r, ("options",)) for r in rows]  # type: ignore[misc]

    async def campaigns_using(self, column: str, value: str) -> list[str]:
        """Ids of non-archived campaigns whose ``column`` (a constant of the caller) refers to ``value``."""
        queries = {
            "schedule_id": "SELECT id FROM campaigns.campaigns WHERE schedule_id = $1",
            "typification": """SELECT id FROM campaigns.campaigns WHERE $1 IN (inactivity_typification,
                                   transfer_typification, ignore_comment_typification)
                               UNION SELECT campaign_id FROM campaigns.campaign_typifications
                               WHERE typification_id = $1""",
            "field": "SELECT campaign_id FROM campaigns.campaign_fields WHERE field_key = $1",
            "project_id": "SELECT id FROM campaigns.campaigns WHERE project_id = $1",
            "client_id": "SELECT id FROM campaigns.campaigns WHERE client_id = $1",
        }
        rows = await self.conn.fetch(
            f"SELECT u.id FROM ({queries[column]}) u(id) JOIN campaigns.campaigns c ON c.id = u.id"
            " WHERE c.status <> 'archived' ORDER BY u.id", value)
        return [r[0] for r in rows]

    # ---------------------------------------------------------------------------------------- campaigns

    async def get_campaign(self, campaign_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT * FROM campaigns.campaigns WHERE id = $1{lock}", campaign_id)
        return record(row, CAMPAIGN_JSON)

    async def campaign_children(self, campaign_id: str) -> dict[str, Any]:
        """The child rows of a campaign, shaped as the ``CampaignIn`` fields they hold."""
        c = self.conn
        channels = await c.fetch("SELECT channel_id AS id, channel_type AS type FROM campaigns.campaign_channels"
                                 " WHERE campaign_id = $1 ORDER BY position", campaign_id)
        typs = await c.fetch("SELECT typification_id FROM campaigns.campaign_typifications WHERE campaign_id = $1"
                             " ORDER BY position", campaign_id)
        fields = await c.fetch("SELECT field_key AS key, required, label, integration_key FROM"
                               " campaigns.campaign_fields WHERE campaign_id = $1 ORDER BY position", campaign_id)
        members = await c.fetch("SELECT user_id, role FROM campaigns.campaign_members WHERE campaign_id = $1"
                                " ORDER BY position", campaign_id)
        tabs = await c.fetch("SELECT name, url_template FROM campaigns.campaign_tabs WHERE campaign_id = $1"
                             " ORDER BY position", campaign_id)
        links = await c.fetch("SELECT linked_campaign_id FROM campaigns.campaign_links WHERE campaign_id = $1"
                              " ORDER BY position", campaign_id)
        return {
            "channels": [dict(r) for r in channels],
            "closing_typifications": [r[0] for r in typs],
            "custom_fields": [dict(r) for r in fields],
            "agents": [r["user_id"] for r in members if r["role"] == "agent"],
            "supervisors": [r["user_id"] for r in members if r["role"] == "supervisor"],
            "tabs": [dict(r) for r in tabs],
            "linked_campaigns": [r[0] for r in links],
        }

    async def insert_campaign(self, campaign_id: str, data: dict[str, Any], actor: str | None) -> None:
        cols = ["id", *CAMPAIGN_COLUMNS, "created_by", "updated_by"]
        values = [campaign_id, *(_encode(CAMPAIGN_JSON, c, data[c]) for c in CAMPAIGN_COLUMNS), actor, actor]
        marks = ", ".join(f"${i}::jsonb" if c in CAMPAIGN_JSON else f"${i}" for i, c in enumerate(cols, 1))
        try:
            await self.conn.execute(f"INSERT INTO campaigns.campaigns ({', '.join(cols)}) VALUES ({marks})", *values)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"id: campaign {campaign_id!r} already exists", field="id") from exc

    async def update_campaign(self, campaign_id: str, data: dict[str, Any], actor: str | None) -> int:
        sets = [f"{c} = ${i}" + ("::jsonb" if c in CAMPAIGN_JSON else "") for i, c in enumerate(CAMPAIGN_COLUMNS, 3)]
        values = [_encode(CAMPAIGN_JSON, c, data[c]) for c in CAMPAIGN_COLUMNS]
        return int(await self.conn.fetchval(
            f"UPDATE campaigns.campaigns SET {', '.join(sets)}, version = version + 1, updated_at = now(),"
            " updated_by = $2 WHERE id = $1 RETURNING version", campaign_id, actor, *values))

    async def replace_children(self, campaign_id: str, data: dict[str, Any], active: bool) -> None:
        """Rewrite every child row of a campaign from its spec.

        Raises:
            ChannelTaken: another active campaign serves one of its channels (a concurrent write won).
        """
        try:
            await self._replace_children(campaign_id, data, active)
        except asyncpg.UniqueViolationError as exc:
            channel = channel_in_conflict(exc)
            if channel is None:
                raise Conflict(f"campaign {campaign_id!r} repeats a child row ({exc.constraint_name})",
                               field="id") from exc
            raise ChannelTaken(channel) from exc

    async def _replace_children(self, campaign_id: str, data: dict[str, Any], active: bool) -> None:
        c = self.conn
        for table in ("campaign_channels", "campaign_typifications", "campaign_fields", "campaign_members",
                      "campaign_tabs", "campaign_links"):
            await c.execute(f"DELETE FROM campaigns.{table} WHERE campaign_id = $1", campaign_id)
        await c.executemany(
            "INSERT INTO campaigns.campaign_channels (campaign_id, channel_id, channel_type, position,"
            " campaign_active) VALUES ($1, $2, $3, $4, $5)",
            [(campaign_id, ch["id"], ch["type"], i, active) for i, ch in enumerate(data["channels"])])
        await c.executemany(
            "INSERT INTO campaigns.campaign_typifications (campaign_id, typification_id, position)"
            " VALUES ($1, $2, $3)", [(campaign_id, t, i) for i, t in enumerate(data["closing_typifications"])])
        await c.executemany(
            "INSERT INTO campaigns.campaign_fields (campaign_id, field_key, required, label, integration_key,"
            " position) VALUES ($1, $2, $3, $4, $5, $6)",
            [(campaign_id, f["key"], f["required"], f["label"], f["integration_key"], i)
             for i, f in enumerate(data["custom_fields"])])
        members = [(campaign_id, u, "agent", i) for i, u in enumerate(data["agents"])]
        members += [(campaign_id, u, "supervisor", i) for i, u in enumerate(data["supervisors"])]
        await c.executemany(
            "INSERT INTO campaigns.campaign_members (campaign_id, user_id, role, position) VALUES ($1, $2, $3, $4)",
            members)
        await c.executemany(
            "INSERT INTO campaigns.campaign_tabs (campaign_id, position, name, url_template) VALUES ($1, $2, $3, $4)",
            [(campaign_id, i, t["name"], t["url_template"]) for i, t in enumerate(data["tabs"])])
        await c.executemany(
            "INSERT INTO campaigns.campaign_links (campaign_id, linked_campaign_id, position) VALUES ($1, $2, $3)",
            [(campaign_id, lc, i) for i, lc in enumerate(data["linked_campaigns"])])

    async def set_status(self, campaign_id: str, status: str, actor: str | None) -> int:
        try:
            await self.conn.execute(
                "UPDATE campaigns.campaign_channels SET campaign_active = $2 WHERE campaign_id = $1",
                campaign_id, status == "active")
        except asyncpg.UniqueViolationError as exc:
            raise ChannelTaken(channel_in_conflict(exc) or "?") from exc
        return int(await self.conn.fetchval(
            "UPDATE campaigns.campaigns SET status = $2, version = version + 1, updated_at = now(),"
            " updated_by = $3 WHERE id = $1 RETURNING version", campaign_id, status, actor))

    async def bump(self, campaign_ids: list[str], actor: str | None) -> dict[str, int]:
        """A referenced catalog entry changed: every campaign using it gets a new version."""
        rows = await self.conn.fetch(
            "UPDATE campaigns.campaigns SET version = version + 1, updated_at = now(), updated_by = $2"
            " WHERE id = ANY($1::text[]) RETURNING id, version", campaign_ids, actor)
        return {r["id"]: r["version"] for r in rows}

    async def unlink_everywhere(self, campaign_id: str) -> list[str]:
        """Remove an archived campaign from other campaigns' linked queues; returns the campaigns touched."""
        rows = await self.conn.fetch(
            "DELETE FROM campaigns.campaign_links WHERE linked_campaign_id = $1 RETURNING campaign_id", campaign_id)
        return sorted({r[0] for r in rows})

    async def channel_owners(self, channel_ids: list[str], campaign_id: str) -> dict[str, str]:
        """Which other active campaign already serves each of these channels."""
        rows = await self.conn.fetch(
            "SELECT channel_id, campaign_id FROM campaigns.campaign_channels WHERE campaign_active"
            " AND channel_id = ANY($1::text[]) AND campaign_id <> $2", channel_ids, campaign_id)
        return {r["channel_id"]: r["campaign_id"] for r in rows}

    async def campaign_statuses(self, ids: list[str]) -> dict[str, str]:
        rows = await self.conn.fetch("SELECT id, status FROM campaigns.campaigns WHERE id = ANY($1::text[])", ids)
        return {r["id"]: r["status"] for r in rows}

    async def list_campaigns(self, q: CampaignQuery) -> list[dict[str, Any]]:
        """A page of campaign ids (with their ``_sort`` values) matching the query."""
        where: list[str] = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            where.append(sql.format(n=f"${len(args)}"))

        if q.status:
            add("c.status = {n}", q.status)
        else:
            where.append("c.status <> 'archived'")
        if q.client_id:
            add("c.client_id = {n}", q.client_id)
        if q.project_id:
            add("c.project_id = {n}", q.project_id)
        if q.channel_id:
            add("EXISTS (SELECT 1 FROM campaigns.campaign_channels l WHERE l.campaign_id = c.id"
                " AND l.channel_id = {n})", q.channel_id)
        for role, user in (("agent", q.agent_id), ("supervisor", q.supervisor_id)):
            if user:
                add("EXISTS (SELECT 1 FROM campaigns.campaign_members m WHERE m.campaign_id = c.id"
                    f" AND m.role = '{role}' AND m.user_id = {{n}})", user)
        if q.text:
            add("(c.id = {n} OR c.name ILIKE '%' || {n} || '%')", q.text)
        if q.within is not None:
            add("c.id = ANY({n}::text[])", sorted(q.within))
        if q.created_from:
            add("c.created_at >= {n}::date", q.created_from)
        if q.created_to:
            add("c.created_at < ({n}::date + 1)", q.created_to)
        select, cond, order = keyset(CAMPAIGN_ORDER, "", q.after, args)
        if cond:
            where.append(cond)
        sql = f"SELECT c.id, {select} FROM campaigns.campaigns c"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT {int(q.limit)}"
        return [dict(r) for r in await self.conn.fetch(sql, *args)]

    async def unpublished(self) -> list[str]:
        return [r[0] for r in await self.conn.fetch(
            "SELECT id FROM campaigns.campaigns WHERE published_version < version ORDER BY id")]

    async def all_campaign_ids(self) -> list[str]:
        return [r[0] for r in await self.conn.fetch("SELECT id FROM campaigns.campaigns ORDER BY id")]

    async def mark_published(self, campaign_id: str, version: int) -> None:
        await self.conn.execute(
            "UPDATE campaigns.campaigns SET published_version = greatest(published_version, $2) WHERE id = $1",
            campaign_id, version)

    # ------------------------------------------------------------------------------------ conversations

    async def open_conversations(self, campaign_id: str) -> int:
        return int(await self.conn.fetchval(
            "SELECT count(*) FROM campaigns.open_conversations WHERE campaign_id = $1 AND NOT closed", campaign_id))

    async def open_conversations_of(self, campaign_id: str, agents: list[str]) -> dict[str, list[str]]:
        """The open conversations of the campaign each of ``agents`` holds (at most 20 named per agent)."""
        rows = await self.conn.fetch(
            "SELECT agent_id, (array_agg(conversation_id ORDER BY conversation_id))[1:20] AS ids "
            "FROM campaigns.open_conversations WHERE campaign_id = $1 AND NOT closed AND agent_id = ANY($2::text[]) "
            "GROUP BY agent_id ORDER BY agent_id", campaign_id, agents)
        return {r["agent_id"]: list(r["ids"]) for r in rows}

    async def track_conversation(self, conversation_id: str, campaign_id: str | None, seq: int,
                                 closed: bool, agent_id: str | None = None) -> None:
        """Fold one conversation event; an older event (lower seq) than the one seen changes nothing."""
        await self.conn.execute(
            """INSERT INTO campaigns.open_conversations (conversation_id, campaign_id, seq, closed, agent_id)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (conversation_id) DO UPDATE
               SET campaign_id = coalesce(EXCLUDED.campaign_id, open_conversations.campaign_id),
                   agent_id = coalesce(EXCLUDED.agent_id, open_conversations.agent_id),
                   seq = EXCLUDED.seq, closed = EXCLUDED.closed OR open_conversations.closed, updated_at = now()
               WHERE EXCLUDED.seq >= open_conversations.seq""",
            conversation_id, campaign_id, seq, closed, agent_id)


def channel_in_conflict(exc: asyncpg.UniqueViolationError) -> str | None:
    """The channel a racing writer took first, from the unique index's error detail."""
    if getattr(exc, "constraint_name", None) != "campaign_channels_one_active":
        return None
    m = _CHANNEL_KEY.search(getattr(exc, "detail", "") or "")
    return m.group("channel") if m else "?"


def _duplicate(t: Table, exc: asyncpg.UniqueViolationError) -> Conflict:
    """A unique index refused a catalog row: its key, or the other unique column of the table."""
    if (exc.constraint_name or "").endswith("_pkey"):
        return Conflict(f"{t.key}: another {t.entity} already has this {t.key}", field=t.key)
    if t.unique_field == "subcategory":
        return Conflict("subcategory: another typification already has this category and subcategory",
                        field="subcategory")
    return Conflict(f"{t.unique_field}: another {t.entity} already has this {t.unique_field}",
                    field=t.unique_field)


class PgUnitOfWork(BaseUnitOfWork):
    """The campaigns repository on one transaction (``libs.storage.uow``)."""

    repo: Repository

    def bind(self, conn: asyncpg.Connection) -> None:
        self.repo = Repository(conn)


def unit_of_work(pool: asyncpg.Pool) -> Any:
    """The ``UnitOfWorkFactory`` over a pool."""

    def open_uow(*, readonly: bool = False) -> PgUnitOfWork:
        return PgUnitOfWork(pool, readonly=readonly)

    return open_uow
