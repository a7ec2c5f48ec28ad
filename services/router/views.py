"""Read models of the router: an agent, a conversation (with its messages), an agent's open conversations,
the decisions about a conversation and a campaign's queue, as the internal API shows them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from libs.core.errors import NotFound
from libs.messaging.snapshots import SnapshotDirectory
from services.router.adapters.ports import LiveState, StateLost
from services.router.domain import now_ms


def _iso(ms: str | int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat()


class RouterViews:
    """Reads of the live state. ``on_state_lost`` starts a rebuild when a conversation is missing because the
    state itself is gone (then the read is ``StateLost``, a 503, not a 404)."""

    def __init__(self, store: LiveState, directory: SnapshotDirectory, on_state_lost: Callable[[], None]) -> None:
        self.store = store
        self.directory = directory
        self.on_state_lost = on_state_lost

    async def agent_view(self, agent_id: str) -> dict[str, Any]:
        a = await self.store.agent(agent_id)
        camps = self.directory.campaigns_of(agent_id)
        return {
            "agent_id": agent_id,
            "status": a.get("status", "offline"),
            "reason": a.get("reason") or None,
            "since": _iso(a.get("since")),
            "load": int(a.get("load", 0)),
            "capacity": {c: s.routing.agent_capacity for c in camps if (s := self.directory.get(c))},
            "missed_offers": int(a.get("missed", 0)),
            "campaigns": camps,
            "conversations": await self.store.agent_conversations(agent_id),
        }

    async def conversation(self, cid: str) -> dict[str, str]:
        conv = await self.store.conversation(cid)
        if conv is None:
            if not await self.store.has_epoch():  # not known while the state is being rebuilt: not "not found"
                self.on_state_lost()
                raise StateLost("router live state is being rebuilt")
            raise NotFound(f"conversation {cid} not found", field="conversation_id")
        return conv

    async def conversation_view(self, cid: str, *, with_messages: bool = True, role: str | None = None
                                ) -> dict[str, Any]:
        """A conversation as ``role`` may see it (an agent of a campaign that hides numbers: masked; None: the
        caller is a service, which sees everything)."""
        conv = await self.conversation(cid)
        view = await self._summary(conv, role)
        if with_messages:
            # In the order they were sent; seq (processing order) breaks ties.
            view["messages"] = sorted(await self.store.messages(cid), key=lambda m: (m.get("at") or "", m["seq"]))
        return view

    def shown(self, item: dict[str, Any], role: str | None, campaign_id: str | None = None) -> dict[str, Any]:
        """``item`` with the contact's number as ``role`` may see it (``CampaignSnapshot.contact_shown_to``)."""
        snap = self.directory.get(campaign_id or item.get("campaign_id"))
        return item if role is None or snap is None else dict(snap.contact_shown_to(item, role))

    async def _summary(self, conv: dict[str, str], role: str | None = None) -> dict[str, Any]:
        queue = {"q": "queue", "hold": "out_of_hours"}.get(conv.get("queue", ""))
        view: dict[str, Any] = {
            "id": conv["id"],
            "state": conv.get("state"),
            "queue": queue,
            "agent_id": conv.get("agent") or None,
            "campaign_id": conv.get("campaign"),
            "channel_id": conv.get("channel"),
            "channel_type": conv.get("ctype"),
            "contact_address": conv.get("contact"),
            "contact_name": conv.get("cname") or None,
            "priority": int(conv.get("prio", 0)),
            "created_at": _iso(conv.get("created")),
            "last_customer_message_at": _iso(conv.get("last_in")),
            "closed_at": _iso(conv.get("closed_at")),
            "close_reason": conv.get("close_reason") or None,
            "offer_expires_at": _iso(conv.get("offer_until")) if conv.get("state") == "offered" else None,
        }
        if queue == "queue":
            pos = await self.store.position(conv["campaign"], conv["id"])
            view["position"] = pos
            view["estimated_wait_s"] = await self._estimate(conv["campaign"], pos)
        return self.shown(view, role)

    async def _estimate(self, campaign_id: str, position: int | None) -> float | None:
        """Position times the recent interval between assignments of the campaign (an EWMA)."""
        if position is None:
            return None
        gap = float((await self.store.stats(campaign_id)).get("gap_ms", 0) or 0)
        return round(position * gap / 1000, 1) if gap else None

    async def conversations_of(self, agent_id: str, role: str | None = None) -> list[dict[str, Any]]:
        convs = await self.store.conversations(await self.store.agent_conversations(agent_id))
        return [await self._summary(c, role) for c in convs]

    async def decisions(self, cid: str) -> list[dict[str, Any]]:
        await self.conversation(cid)
        return await self.store.decisions(cid)

    async def waiting(self, campaign_id: str, role: str | None = None) -> dict[str, Any]:
        """The conversations waiting in a campaign's queue, oldest (and highest priority) first, for its agents to
        take (``queue_assignment`` off): one page of at most 100, the contact as ``role`` may see it."""
        snap = self.directory.get(campaign_id)
        if snap is None:
            raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
        q = await self.store.queue(campaign_id)
        convs = {c["id"]: c for c in await self.store.conversations(q["queued"])}
        now = now_ms()
        items = []
        for pos, cid in enumerate(q["queued"], start=1):
            c = convs.get(cid)
            if c is None:
                continue
            items.append(self.shown({
                "conversation_id": cid, "position": pos, "priority": int(c.get("prio", 0)),
                "campaign_id": campaign_id, "channel_id": c.get("channel"), "channel_type": c.get("ctype"),
                "contact_address": c.get("contact"), "contact_name": c.get("cname") or None,
                "created_at": _iso(c.get("created")),
                "waiting_s": round((now - int(c.get("arrived", now))) / 1000, 1)}, role))
        return {"campaign_id": campaign_id, "queue_assignment": snap.routing.queue_assignment,
                "waiting": q["queued_count"], "items": items, "next_cursor": None}

    async def channel_conversations(self, channel_id: str) -> dict[str, Any]:
        """The conversations open on a channel (the first 100: ``open`` counts them all), which keep it from
        being deleted (issue 13 item 12)."""
        count, ids = await self.store.channel_conversations(channel_id)
        items = [{"id": c["id"], "campaign_id": c.get("campaign"), "state": c.get("state"),
                  "agent_id": c.get("agent") or None, "created_at": _iso(c.get("created"))}
                 for c in await self.store.conversations(ids)]
        return {"channel_id": channel_id, "open": count, "items": items, "next_cursor": None}

    async def queue_view(self, campaign_id: str) -> dict[str, Any]:
        snap = self.directory.get(campaign_id)
        q = await self.store.queue(campaign_id)
        if snap is None and not q["queued_count"] and not q["held_count"]:
            raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
        convs = {c["id"]: c for c in await self.store.conversations(q["queued"] + q["held"])}
        now = now_ms()
        gap = float(q["stats"].get("gap_ms", 0) or 0)

        def item(cid: str, pos: int | None) -> dict[str, Any]:
            c = convs.get(cid, {})
            return {"conversation_id": cid, "position": pos, "priority": int(c.get("prio", 0)),
                    "channel_type": c.get("ctype"), "contact_address": c.get("contact"),
                    "contact_name": c.get("cname") or None,
                    "waiting_s": round((now - int(c.get("arrived", now))) / 1000, 1),
                    "estimated_wait_s": round(pos * gap / 1000, 1) if (gap and pos) else None}

        members = sorted(set(q["members"]) | set(snap.agents if snap else []))
        agents = await self.store.agents(members)
        return {
            "campaign_id": campaign_id,
            "queued": q["queued_count"],
            "out_of_hours": q["held_count"],
            "average_wait_s": round(float(q["stats"].get("wait_ms", 0) or 0) / 1000, 1),
            "assigned_total": int(q["stats"].get("assigned", 0) or 0),
            "items": [item(cid, i + 1) for i, cid in enumerate(q["queued"])],
            "held": [item(cid, None) for cid in q["held"]],
            "agents": [{"agent_id": aid, "status": a.get("status", "offline"), "reason": a.get("reason") or None,
                        "since": _iso(a.get("since")), "load": int(a.get("load", 0)),
                        "capacity": snap.routing.agent_capacity if snap else None}
                       for aid, a in zip(members, agents, strict=True)],
            "agents_with_room": q["available_with_room"],
        }
