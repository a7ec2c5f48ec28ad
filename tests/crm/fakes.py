"""In-memory stand-ins for the CRM's ports (``services/crm/adapters/ports.py``): a unit of work over dicts that
rolls back when its block raises, with the repositories the use cases on it need."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from libs.core.errors import Conflict
from libs.messaging.snapshots import SnapshotDirectory
from libs.storage.uow import MemoryUnitOfWork
from services.crm.handlers import Crm
from services.crm.settings import CrmSettings

_CLOCK = itertools.count()


def _now() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=next(_CLOCK))


class State:
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.actions: dict[str, dict[str, Any]] = {}
        self.audit: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.catalog: dict[tuple[str, str, str], dict[str, Any]] = {}
        # accounts, lists and batches (``members``: (table, group id) -> contact id -> batch id); callbacks; cases
        self.accounts: dict[str, dict[str, Any]] = {}
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.members: dict[tuple[str, str], dict[str, str | None]] = {}
        self.callbacks: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self.case_events: list[dict[str, Any]] = []
        # conversations with their event ids, messages and closures; contact addresses (contact id, kind, value,
        # network); webhooks and their queued deliveries
        self.conversations: dict[str, dict[str, Any]] = {}
        self.conversation_events: set[str] = set()
        self.messages: dict[str, dict[str, Any]] = {}
        self.closures: dict[str, dict[str, Any]] = {}
        self.addresses: list[tuple[str, str, str, str]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        # the preview dialer's calls per list member (``FakeDialer``); calls
        self.dial: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        # bulk processes and saved import mappings (``FakeJobs``)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.mappings: dict[str, dict[str, Any]] = {}

    def action_types(self, *kinds: str, form_id: str | None = None) -> None:
        """Action types in the catalog, as an admin would have made them (``kind`` is their id and name)."""
        for kind in kinds:
            self.catalog[("action_type", "", kind)] = {
                "kind": "action_type", "scope": "", "id": kind, "name": kind, "position": 0,
                "data": {"form_id": form_id}, "created_at": _now(), "updated_at": _now(), "created_by": "admin",
                "updated_by": "admin"}


class FakeTickets:
    """``TicketRepository``: a ticket's ``pending`` is whether it has a pending action, as the SQL computes."""

    def __init__(self, s: State) -> None:
        self.s = s

    def _ticket(self, row: dict[str, Any]) -> dict[str, Any]:
        pending = any(a["ticket_id"] == row["id"] and a["status"] == "pending" for a in self.s.actions.values())
        return {**copy.deepcopy(row), "pending": pending}

    async def insert_ticket(self, ticket_id: str, d: dict[str, Any]) -> None:
        self.s.tickets[ticket_id] = {"id": ticket_id, "contact_id": d["contact_id"], "subject": d["subject"],
                                     "description": d.get("description", ""), "priority": d["priority"],
                                     "agent_id": d.get("agent_id"), "group_name": d.get("group"),
                                     "forms": d.get("forms") or {}, "status": "open", "closed_at": None,
                                     "call_id": d.get("call_id"), "case_id": d.get("case_id"),
                                     "created_by": d["created_by"], "created_at": _now()}

    async def insert_action(self, action_id: str, ticket_id: str, d: dict[str, Any]) -> None:
        self.s.actions[action_id] = {"id": action_id, "ticket_id": ticket_id, "kind": d["kind"],
                                     "subject": d.get("subject", ""), "status": d["status"],
                                     "priority": d["priority"], "agent_id": d.get("agent_id"),
                                     "group_name": d.get("group"), "forms": d.get("forms") or {},
                                     "due_at": d.get("due_at"), "done_at": None, "created_at": _now()}

    async def get_ticket(self, ticket_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.tickets.get(ticket_id)
        return self._ticket(row) if row else None

    async def get_action(self, action_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.actions.get(action_id)
        return copy.deepcopy(row) if row else None

    async def actions_of(self, ticket_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(a) for a in self.s.actions.values() if a["ticket_id"] == ticket_id]

    async def update_ticket(self, ticket_id: str, fields: dict[str, Any]) -> None:
        self.s.tickets[ticket_id].update(copy.deepcopy(fields))

    async def update_action(self, action_id: str, fields: dict[str, Any]) -> None:
        self.s.actions[action_id].update(copy.deepcopy(fields))

    async def search_tickets(self, *, status: str | None, pending: bool | None, limit: int,
                             after: tuple[Any, ...] | None, **common: Any) -> list[dict[str, Any]]:
        rows = [self._ticket(t) for t in self.s.tickets.values()]
        rows = [t for t in rows if (not status or t["status"] == status)
                and (pending is None or t["pending"] == pending)
                and (not common.get("contact_id") or t["contact_id"] == common["contact_id"])]
        return sorted(rows, key=lambda t: (t["created_at"], t["id"]), reverse=True)[:limit]

    async def search_actions(self, *, status: str | None, limit: int, after: tuple[Any, ...] | None,
                             **common: Any) -> list[dict[str, Any]]:
        rows = [copy.deepcopy(a) for a in self.s.actions.values() if not status or a["status"] == status]
        return sorted(rows, key=lambda a: (a["created_at"], a["id"]), reverse=True)[:limit]


class FakeAudit:
    def __init__(self, s: State) -> None:
        self.s = s

    async def audit(self, entity: str, entity_id: str, action: str, actor: str,
                    changes: Mapping[str, Any] | None = None) -> None:
        self.s.audit.append({"id": len(self.s.audit) + 1, "entity": entity, "entity_id": entity_id,
                             "action": action, "actor": actor, "changes": copy.deepcopy(dict(changes or {})),
                             "at": _now()})

    async def audit_entries(self, entity: str, entity_id: str) -> list[dict[str, Any]]:
        return [{k: e[k] for k in ("id", "action", "actor", "changes", "at")} for e in self.s.audit
                if e["entity"] == entity and e["entity_id"] == entity_id]


class FakeContacts:
    def __init__(self, s: State) -> None:
        self.s = s

    async def get(self, contact_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.contacts.get(contact_id)
        return copy.deepcopy(row) if row else None

    async def find_by_address(self, kind: str, value: str, network: str = "", limit: int = 20) -> list[str]:
        return sorted({c for c, k, v, n in self.s.addresses if (k, v, n) == (kind, value, network)})[:limit]

    async def touch_activity(self, contact_id: str, at: datetime, disposition: str | None = None) -> None:
        """The last activity moves forward only; the disposition is kept unless a new one is given."""
        row = self.s.contacts[contact_id]
        row["last_activity_at"] = max(row.get("last_activity_at") or at, at)
        row["disposition"] = disposition or row.get("disposition")


class FakeAttachments:
    def __init__(self, s: State) -> None:
        self.s = s

    async def attachments(self, owner_kind: str, owner_id: str) -> list[dict[str, Any]]:
        return [a for a in self.s.attachments if (a["owner_kind"], a["owner_id"]) == (owner_kind, owner_id)]


class FakeCatalogs:
    """``CatalogRepository``: unique (kind, scope, id) and (kind, scope, lower(name)), as the table's indexes."""

    def __init__(self, s: State) -> None:
        self.s = s

    async def items(self, kind: str, scope: str = "") -> list[dict[str, Any]]:
        rows = [copy.deepcopy(r) for (k, sc, _), r in self.s.catalog.items() if (k, sc) == (kind, scope)]
        return sorted(rows, key=lambda r: (r["position"], r["name"].lower(), r["id"]))

    async def get(self, kind: str, key: str, scope: str = "", *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.catalog.get((kind, scope, key))
        return copy.deepcopy(row) if row else None

    def _taken(self, kind: str, scope: str, key: str, name: str) -> None:
        for (k, sc, other), r in self.s.catalog.items():
            if (k, sc) == (kind, scope) and other != key and r["name"].lower() == name.lower():
                raise Conflict(f"a {kind.replace('_', ' ')} with this name already exists", field="name")

    async def insert(self, kind: str, scope: str, key: str, name: str, position: int, data: dict[str, Any],
                     actor: str) -> dict[str, Any]:
        if (kind, scope, key) in self.s.catalog:
            raise Conflict(f"a {kind.replace('_', ' ')} with this id already exists", field="id")
        self._taken(kind, scope, key, name)
        self.s.catalog[(kind, scope, key)] = {"kind": kind, "scope": scope, "id": key, "name": name,
                                              "position": position, "data": copy.deepcopy(data), "created_at": _now(),
                                              "updated_at": _now(), "created_by": actor, "updated_by": actor}
        return copy.deepcopy(self.s.catalog[(kind, scope, key)])

    async def update(self, kind: str, scope: str, key: str, name: str, position: int, data: dict[str, Any],
                     actor: str) -> dict[str, Any]:
        self._taken(kind, scope, key, name)
        row = self.s.catalog[(kind, scope, key)]
        row.update(name=name, position=position, data=copy.deepcopy(data), updated_by=actor, updated_at=_now())
        return copy.deepcopy(row)

    async def delete(self, kind: str, key: str, scope: str = "") -> bool:
        return self.s.catalog.pop((kind, scope, key), None) is not None

    async def referrers(self, kind: str, key: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if kind == "ticket_form":
            out["action_types"] = sorted(r["id"] for (k, _, _), r in self.s.catalog.items()
                                         if k == "action_type" and r["data"].get("form_id") == key)
        if kind == "action_type":
            out["dispositions"] = sorted(f"{r['scope']}/{r['id']}" for (k, _, _), r in self.s.catalog.items()
                                         if k == "disposition"
                                         and (r["data"].get("follow_up") or {}).get("action_type_id") == key)
            out["tickets"] = sorted({a["ticket_id"] for a in self.s.actions.values()
                                     if a["kind"] == key and a["status"] == "pending"})
        return {k: v for k, v in out.items() if v}


class FakeAccounts:
    """``AccountRepository``: one account number per campaign, as the table's unique index."""

    def __init__(self, s: State) -> None:
        self.s = s

    async def insert_account(self, account_id: str, data: dict[str, Any]) -> dict[str, Any] | None:
        if any((a["campaign_id"], a["number"]) == (data["campaign_id"], data["number"])
               for a in self.s.accounts.values()):
            return None
        self.s.accounts[account_id] = {
            "id": account_id, "contact_id": data["contact_id"], "campaign_id": data["campaign_id"],
            "number": data["number"], "product": data.get("product"), "fields": copy.deepcopy(data.get("fields") or {}),
            "assigned_user": data.get("assigned_user"), "created_at": _now(), "updated_at": _now()}
        return copy.deepcopy(self.s.accounts[account_id])

    async def get_account(self, account_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.accounts.get(account_id)
        return copy.deepcopy(row) if row else None

    async def update_account(self, account_id: str, data: dict[str, Any]) -> None:
        row = self.s.accounts[account_id]
        taken = {a["number"] for a in self.s.accounts.values()
                 if a["id"] != account_id and a["campaign_id"] == row["campaign_id"]}
        if data.get("number") in taken:
            raise Conflict(f"account {data.get('number')} already exists in the campaign", field="number")
        row.update(copy.deepcopy(data), updated_at=_now())

    async def delete_account(self, account_id: str) -> bool:
        return self.s.accounts.pop(account_id, None) is not None

    async def list_accounts(self, contact_id: str | None, campaign_id: str | None, limit: int,
                            after: tuple[Any, ...] | None, campaigns: list[str] | None = None
                            ) -> list[dict[str, Any]]:
        rows = [copy.deepcopy(a) for a in self.s.accounts.values()
                if (campaigns is None or a["campaign_id"] in campaigns) and contact_id in (None, a["contact_id"])
                and campaign_id in (None, a["campaign_id"])]
        return sorted(rows, key=lambda a: (a["created_at"], a["id"]), reverse=True)[:limit]

    async def insert_group(self, table: str, group_id: str, name: str, campaign_id: str | None) -> dict[str, Any]:
        self.s.groups[(table, group_id)] = {"id": group_id, "name": name, "campaign_id": campaign_id,
                                            "created_at": _now()}
        return copy.deepcopy(self.s.groups[(table, group_id)])

    async def get_group(self, table: str, group_id: str) -> dict[str, Any] | None:
        row = self.s.groups.get((table, group_id))
        return {**row, "members": len(self.s.members.get((table, group_id), {}))} if row else None

    async def list_groups(self, table: str, campaign_id: str | None, limit: int, after: tuple[Any, ...] | None,
                          campaigns: list[str] | None = None) -> list[dict[str, Any]]:
        rows = [copy.deepcopy(g) for (t, _), g in self.s.groups.items() if t == table
                and campaign_id in (None, g["campaign_id"]) and (campaigns is None or g["campaign_id"] in campaigns)]
        return sorted(rows, key=lambda g: (g["created_at"], g["id"]), reverse=True)[:limit]

    async def missing_contacts(self, contact_ids: list[str]) -> list[str]:
        return [c for c in contact_ids if c not in self.s.contacts]

    async def add_members(self, table: str, group_id: str, contact_ids: list[str],
                          batch_id: str | None = None) -> int:
        members = self.s.members.setdefault((table, group_id), {})
        new = [c for c in dict.fromkeys(contact_ids) if c not in members]
        members.update({c: batch_id for c in new})
        return len(new)

    async def remove_member(self, table: str, group_id: str, contact_id: str) -> bool:
        members = self.s.members.get((table, group_id), {})
        if contact_id not in members:
            return False
        del members[contact_id]
        return True

    async def list_members(self, list_id: str, limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
        members = self.s.members.get(("lists", list_id), {})
        return [{"contact_id": c, "name": self.s.contacts[c].get("name"), "batch_id": b}
                for c, b in sorted(members.items()) if not after or c > after[0]][:limit]


class FakeCallbacks:
    """``CallbackRepository``: a callback with its contact's name, as the SQL joins it."""

    def __init__(self, s: State) -> None:
        self.s = s

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        contact = self.s.contacts.get(row["contact_id"] or "")
        return {**copy.deepcopy(row), "contact_name": contact["name"] if contact else None}

    async def insert(self, callback_id: str, d: dict[str, Any]) -> None:
        self.s.callbacks[callback_id] = {
            "id": callback_id, "owner_id": d["owner_id"], "due_at": d["due_at"], "contact_id": d.get("contact_id"),
            "case_id": d.get("case_id"), "campaign_id": d.get("campaign_id"), "note": d.get("note") or "",
            "status": "pending", "work_case_id": None, "created_by": d["created_by"], "created_at": _now(),
            "updated_at": _now()}

    async def get(self, callback_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.callbacks.get(callback_id)
        return self._row(row) if row else None

    async def update(self, callback_id: str, fields: dict[str, Any]) -> None:
        self.s.callbacks[callback_id].update(copy.deepcopy(fields), updated_at=_now())

    async def search(self, *, owners: list[str] | None, status: str | None, start: datetime | None,
                     end: datetime | None, limit: int, after: tuple[Any, ...] | None = None
                     ) -> list[dict[str, Any]]:
        rows = [self._row(b) for b in self.s.callbacks.values()
                if (not owners or b["owner_id"] in owners) and (not status or b["status"] == status)
                and (not start or b["due_at"] >= start) and (not end or b["due_at"] < end)
                and (not after or (b["due_at"], b["id"]) > after)]
        return sorted(rows, key=lambda b: (b["due_at"], b["id"]))[:limit]


class FakeCases:
    """The part of ``CaseRepository`` a callback falling due and the dialer use: a case, its update and its
    events (no account summaries or earlier results: no campaign here autocompletes)."""

    def __init__(self, s: State) -> None:
        self.s = s

    async def get(self, case_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.cases.get(case_id)
        return copy.deepcopy(row) if row else None

    async def insert(self, case_id: str, data: dict[str, Any]) -> dict[str, Any]:
        self.s.cases[case_id] = {"id": case_id, "campaign_id": data["campaign_id"], "contact_id": data["contact_id"],
                                 "title": data.get("title") or "", "priority": data.get("priority", 0),
                                 "assigned_user": data.get("assigned_user"), "status": "open",
                                 "account_id": data.get("account_id")}
        return copy.deepcopy(self.s.cases[case_id])

    async def events(self, case_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(e) for e in self.s.case_events if e["case_id"] == case_id]

    async def update(self, case_id: str, **fields: Any) -> None:
        self.s.cases[case_id].update(copy.deepcopy(fields))

    async def add_event(self, case_id: str, kind: str, actor: str, body: str | None = None,
                        data: dict[str, Any] | None = None) -> dict[str, Any]:
        event = {"id": len(self.s.case_events) + 1, "case_id": case_id, "kind": kind, "actor": actor, "body": body,
                 "data": copy.deepcopy(data or {}), "at": _now()}
        self.s.case_events.append(event)
        return copy.deepcopy(event)


class FakePublisher:
    """``EventPublisher``: what was published, in order."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def publish(self, msg: Any) -> None:
        self.sent.append(msg)

    async def progress(self, job_id: str, body: dict[str, Any]) -> None:
        self.sent.append((job_id, body))


class FakeConversations:
    """``ConversationRepository`` as its SQL behaves: an event id is recorded once; a closed conversation stays
    closed and an older event (lower ``seq``) does not overwrite a newer one's state; one closure each."""

    def __init__(self, s: State) -> None:
        self.s = s

    async def record_event(self, event_id: str, conversation_id: str, type_: str, seq: int, occurred_at: datetime,
                           agent_id: str | None, payload: str) -> bool:
        fresh = event_id not in self.s.conversation_events
        self.s.conversation_events.add(event_id)
        return fresh

    async def upsert(self, *, conversation_id: str, campaign_id: str | None, channel_id: str, channel_type: str,
                     contact_address: str, agent_id: str | None, status: str | None, seq: int, at: datetime
                     ) -> dict[str, Any]:
        row = self.s.conversations.get(conversation_id)
        if row is None:
            row = self.s.conversations[conversation_id] = {
                "id": conversation_id, "campaign_id": campaign_id, "channel_id": channel_id,
                "channel_type": channel_type, "contact_address": contact_address, "contact_id": None,
                "match_state": "pending", "agent_id": agent_id, "status": status or "opened", "last_seq": seq,
                "state_seq": 0 if status is None else seq, "opened_at": at,
                "closed_at": at if status == "closed" else None}
            return copy.deepcopy(row)
        newer = seq >= row["last_seq"]
        row["campaign_id"] = campaign_id or row["campaign_id"]
        if newer and agent_id is not None:
            row["agent_id"] = agent_id
        if row["status"] == "closed" or status == "closed":
            row["closed_at"] = row["closed_at"] or (at if status == "closed" else None)
            row["status"] = "closed"
        elif status is not None and seq >= row["state_seq"]:  # the state events' own order (a message has none)
            row["status"] = status
        if status is not None:
            row["state_seq"] = max(row["state_seq"], seq)
        row["last_seq"], row["opened_at"] = max(row["last_seq"], seq), min(row["opened_at"], at)
        return copy.deepcopy(row)

    async def link_contact(self, conversation_id: str, contact_id: str | None, match_state: str) -> None:
        self.s.conversations[conversation_id].update(contact_id=contact_id, match_state=match_state)

    async def insert_message(self, *, message_id: str, conversation_id: str, event_id: str, direction: str,
                             kind: str, text: str | None, media: list[Any], provider_message_id: str | None,
                             seq: int, at: datetime) -> bool:
        if message_id in self.s.messages:
            return False
        self.s.messages[message_id] = {"id": message_id, "conversation_id": conversation_id, "direction": direction,
                                       "kind": kind, "text": text, "media": copy.deepcopy(media),
                                       "provider_message_id": provider_message_id, "seq": seq, "occurred_at": at}
        return True

    async def insert_closure(self, *, conversation_id: str, campaign_id: str | None, typification_id: str | None,
                             fields: dict[str, Any], reason: str, closed_by: str | None, closed_at: datetime,
                             source: str, event_id: str | None = None) -> bool:
        if conversation_id in self.s.closures:
            return False
        self.s.closures[conversation_id] = {"typification_id": typification_id, "fields": copy.deepcopy(fields),
                                            "reason": reason, "closed_by": closed_by, "closed_at": closed_at,
                                            "source": source}
        return True

    async def mark_closed(self, conversation_id: str, at: datetime) -> None:
        row = self.s.conversations[conversation_id]
        row.update(status="closed", closed_at=row["closed_at"] or at)

    async def get(self, conversation_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        row = self.s.conversations.get(conversation_id)
        return copy.deepcopy(row) if row else None

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        rows = [copy.deepcopy(m) for m in self.s.messages.values() if m["conversation_id"] == conversation_id]
        return sorted(rows, key=lambda m: (m["seq"], m["occurred_at"], m["id"]))

    async def count_outbound(self, conversation_id: str) -> int:
        return sum(1 for m in self.s.messages.values()
                   if m["conversation_id"] == conversation_id and m["direction"] == "out")

    async def closure(self, conversation_id: str) -> dict[str, Any] | None:
        row = self.s.closures.get(conversation_id)
        return copy.deepcopy(row) if row else None


class FakeFollowUps:
    """``FollowUpLog``: no transcript or notification is kept (no campaign here sends them)."""

    def __init__(self, s: State) -> None:
        self.s = s

    async def transcript(self, conversation_id: str) -> dict[str, Any] | None:
        return None


class FakeWebhooks:
    """``WebhookRepository``: the webhooks and their delivery queue (one delivery per webhook and event)."""

    def __init__(self, s: State) -> None:
        self.s = s

    def _hook(self, hook_id: str) -> dict[str, Any] | None:
        return next((h for h in self.s.webhooks if h["id"] == hook_id), None)

    def _delivery(self, delivery_id: int) -> dict[str, Any] | None:
        return next((d for d in self.s.deliveries if d["id"] == delivery_id), None)

    async def insert(self, d: dict[str, Any]) -> dict[str, Any]:
        hook = copy.deepcopy(d) | {"created_at": _now(), "updated_at": _now()}
        self.s.webhooks.append(hook)
        return copy.deepcopy(hook)

    async def get(self, hook_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        return copy.deepcopy(self._hook(hook_id))

    async def update(self, hook_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        hook = self._hook(hook_id)
        assert hook is not None
        hook.update(copy.deepcopy(fields) | {"updated_at": _now()})
        return copy.deepcopy(hook)

    async def delete(self, hook_id: str) -> bool:
        before = len(self.s.webhooks)
        self.s.webhooks = [h for h in self.s.webhooks if h["id"] != hook_id]
        return len(self.s.webhooks) < before

    async def of_campaign(self, campaign_id: str | None, *, active_only: bool = False) -> list[dict[str, Any]]:
        return [copy.deepcopy(h) for h in self.s.webhooks
                if campaign_id in (None, h["campaign_id"]) and (h["active"] or not active_only)]

    async def enqueue(self, hook_id: str, event_id: str, event_type: str, payload: dict[str, Any]) -> None:
        if any(d["webhook_id"] == hook_id and d["event_id"] == event_id for d in self.s.deliveries):
            return
        self.s.deliveries.append({"id": len(self.s.deliveries) + 1, "webhook_id": hook_id, "event_id": event_id,
                                  "event_type": event_type, "payload": copy.deepcopy(payload), "status": "pending",
                                  "attempts": 0, "next_at": _now(), "last_status": None, "last_error": None,
                                  "delivered_at": None})

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
        due = sorted((d for d in self.s.deliveries if d["status"] == "pending" and d["next_at"] <= now),
                     key=lambda d: d["next_at"])[:limit]
        for d in due:
            d["next_at"] = lease_until
        return copy.deepcopy(due)

    async def settle(self, delivery_id: int, *, status: str, attempts: int, next_at: datetime | None,
                     last_status: int | None, last_error: str | None, at: datetime) -> None:
        d = self._delivery(delivery_id)
        assert d is not None
        d.update(status=status, attempts=attempts, next_at=next_at or d["next_at"], last_status=last_status,
                 last_error=last_error, delivered_at=at if status == "delivered" else None)

    async def deliveries(self, hook_id: str, status: str | None, limit: int, after: int | None
                         ) -> list[dict[str, Any]]:
        rows = [d for d in self.s.deliveries if d["webhook_id"] == hook_id and status in (None, d["status"])
                and (after is None or d["id"] < after)]
        return copy.deepcopy(sorted(rows, key=lambda d: -d["id"])[:limit])

    async def delivery(self, delivery_id: int, *, for_update: bool = False) -> dict[str, Any] | None:
        return copy.deepcopy(self._delivery(delivery_id))

    async def requeue(self, delivery_id: int, at: datetime) -> None:
        d = self._delivery(delivery_id)
        assert d is not None
        d.update(status="pending", attempts=0, next_at=at, last_error=None)


class FakeDialer:
    """``DialerRepository`` over the lists of ``FakeAccounts`` (``groups``/``members``) and the cases; ``dial``
    holds each member's call state: (list id, contact id) -> {status, attempts, claimed_by, claimed_until}."""

    def __init__(self, s: State) -> None:
        self.s = s

    def _member(self, list_id: str, contact_id: str) -> dict[str, Any]:
        return self.s.dial.setdefault((list_id, contact_id), {"status": "pending", "attempts": 0, "claimed_by": None,
                                                              "claimed_until": None})

    async def lists_of(self, campaign_id: str, now: datetime) -> list[dict[str, Any]]:
        out = []
        for (table, gid), g in self.s.groups.items():
            if table == "lists" and g.get("campaign_id") == campaign_id:
                members = [self._member(gid, c) for c in self.s.members.get(("lists", gid), {})]
                out.append({"id": gid, "name": g["name"], "campaign_id": campaign_id, "members": len(members),
                            "pending": sum(m["status"] == "pending" for m in members)})
        return out

    async def get_list(self, list_id: str) -> dict[str, Any] | None:
        g = self.s.groups.get(("lists", list_id))
        return {"id": g["id"], "name": g["name"], "campaign_id": g["campaign_id"]} if g else None

    async def claim_next(self, list_id: str, user: str, now: datetime, until: datetime) -> dict[str, Any] | None:
        """The caller's own live claim first, then the fewest attempts, in list order; never another's claim."""
        free = []
        for order, contact_id in enumerate(self.s.members.get(("lists", list_id), {})):
            m = self._member(list_id, contact_id)
            mine = m["claimed_by"] == user and m["claimed_until"] is not None and m["claimed_until"] >= now
            if m["status"] == "pending" and (mine or m["claimed_until"] is None or m["claimed_until"] < now):
                free.append((not mine, m["attempts"], order, contact_id, m))
        if not free:
            return None
        *_, contact_id, m = min(free, key=lambda f: f[:3])
        m.update(claimed_by=user, claimed_until=until)
        return {"list_id": list_id, "contact_id": contact_id, "status": m["status"], "attempts": m["attempts"],
                "claimed_until": until}

    async def open_case(self, campaign_id: str, contact_id: str) -> dict[str, Any] | None:
        return next(({"id": c["id"], "assigned_user": c["assigned_user"]} for c in self.s.cases.values()
                     if c["campaign_id"] == campaign_id and c["contact_id"] == contact_id and c["status"] != "closed"),
                    None)


class FakeCalls:
    """The part of ``CallRepository`` click-to-call uses: a call, its placement and its status."""

    def __init__(self, s: State) -> None:
        self.s = s

    async def insert(self, call_id: str, d: dict[str, Any]) -> None:
        self.s.calls[call_id] = copy.deepcopy(d) | {"id": call_id, "status": None, "channel_id": None,
                                                    "provider_call_id": None, "duration_s": d.get("duration_s") or 0}

    async def placed(self, call_id: str, *, channel_id: str, provider_call_id: str) -> None:
        self.s.calls[call_id].update(channel_id=channel_id, provider_call_id=provider_call_id, status="dialing")

    async def set_status(self, call_id: str, status: str) -> None:
        self.s.calls[call_id]["status"] = status

    async def get(self, call_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        return copy.deepcopy(self.s.calls.get(call_id))


class FakeJobs:
    """The part of ``JobRepository`` that queues, shows and cancels processes, and keeps saved mappings."""

    def __init__(self, s: State) -> None:
        self.s = s

    async def create(self, job_id: str, kind: str, params: dict[str, Any], *, dry_run: bool, upload_id: str | None,
                     created_by: str, created_role: str, run_at: datetime | None = None) -> dict[str, Any]:
        self.s.jobs[job_id] = {"id": job_id, "kind": kind, "params": copy.deepcopy(params), "dry_run": dry_run,
                               "upload_id": upload_id, "created_by": created_by, "created_role": created_role,
                               "created_at": run_at or _now(), "status": "queued", "cancel_requested": False}
        return copy.deepcopy(self.s.jobs[job_id])

    async def get(self, job_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        return copy.deepcopy(self.s.jobs.get(job_id))

    async def request_cancel(self, job_id: str) -> str | None:
        job = self.s.jobs[job_id]
        job["cancel_requested"] = True
        if job["status"] == "queued":
            job["status"] = "cancelled"
        return str(job["status"])

    async def save_mapping(self, mapping_id: str, name: str, kind: str, mapping: dict[str, str], created_by: str
                           ) -> dict[str, Any] | None:
        if any(m["name"] == name for m in self.s.mappings.values()):
            return None
        self.s.mappings[mapping_id] = {"id": mapping_id, "name": name, "kind": kind,
                                       "mapping": copy.deepcopy(mapping), "created_by": created_by}
        return copy.deepcopy(self.s.mappings[mapping_id])


class FakeProcesses:
    """The part of ``ProcessRepository`` the checks before queueing use: whether a list or batch exists."""

    def __init__(self, s: State) -> None:
        self.s = s

    async def group_exists(self, table: str, group_id: str) -> bool:
        return (table, group_id) in self.s.groups


class FakeUnitOfWork(MemoryUnitOfWork):
    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.tickets, self.audit = FakeTickets(state), FakeAudit(state)
        self.contacts, self.attachments = FakeContacts(state), FakeAttachments(state)
        self.catalogs = FakeCatalogs(state)
        self.accounts, self.callbacks, self.cases = FakeAccounts(state), FakeCallbacks(state), FakeCases(state)
        self.conversations, self.followups = FakeConversations(state), FakeFollowUps(state)
        self.webhooks, self.dialer, self.calls = FakeWebhooks(state), FakeDialer(state), FakeCalls(state)
        self.jobs, self.processes = FakeJobs(state), FakeProcesses(state)


class FakeUnitOfWorkFactory:
    def __init__(self) -> None:
        self.state = State()

    def __call__(self, *, readonly: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.state)


def fake_crm() -> tuple[Crm, State]:
    """A ``Crm`` whose unit of work is in memory (the use cases not yet on it must not be called)."""
    uow = FakeUnitOfWorkFactory()
    crm = Crm(settings=CrmSettings(default_region="AR"), campaigns=SnapshotDirectory(),
              publisher=FakePublisher(), blobs=None, exports=None, uow=uow)  # type: ignore[arg-type]
    return crm, uow.state
