"""Reports, the dashboard's day and the staffing forecast, computed from the durable record (PostgreSQL).

Conversation events (``crm.conversation_events``, from the CONVERSATIONS stream) and the agents' status
changes (``crm.agent_events``, from the AGENTS stream) are folded by :mod:`services.crm.domain.kpis`; nothing
comes from the router's live state in Redis. A supervisor gets only the campaigns they supervise (the gateway
checks first; this is the owning service's own check); an agent gets nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.contracts import AgentStatusChanged
from libs.core.errors import Forbidden, Invalid, NotFound
from services.crm.adapters.spreadsheets import chunks_for
from services.crm.domain import staffing
from services.crm.domain.kpis import (
    INTERVALS,
    AgentState,
    Contact,
    Group,
    Kpis,
    agent_segments,
    aggregate,
    bucket,
    contact_of,
    intersect,
    logged_spans,
    queue_length_series,
    seconds_by_bucket,
    union,
)
from services.crm.handlers import Actor, Crm

GROUPS: tuple[Group, ...] = ("total", "campaign", "agent", "channel")
MAX_DAYS = 93
DEFAULT_THRESHOLD_S = 20.0
DEFAULT_TARGET_PCT = 80.0
COLUMNS = ("interval_start", "group", "key", "offered", "answered", "answered_within", "abandoned", "transfers",
           "service_level", "asa_s", "aht_s", "abandonment_rate", "occupancy")


async def on_agent_event(crm: Crm, event: AgentStatusChanged) -> None:
    """Keep an agent's status change (once per event id)."""
    async with crm.uow() as uow:
        await uow.reports.record_agent_event(event.id, event.agent_id, event.status, event.reason, event.occurred_at)


# ------------------------------------------------------------------------------------------------ scope

def campaigns_for(crm: Crm, actor: Actor, requested: list[str]) -> list[str] | None:
    """The campaigns the caller reads: the requested ones if they may (``None``: every campaign, for admins and
    internal callers who name none).

    Raises:
        Forbidden: an agent, or a supervisor naming a campaign they do not supervise (``campaign_id``).
    """
    if actor.role in ("admin", "system"):
        return requested or None
    if actor.role != "supervisor":
        raise Forbidden("reports are for supervisors and admins", field="actor")
    mine = crm.campaigns.supervised_by(actor.id)
    for cid in requested:
        if cid not in mine:
            raise Forbidden(f"you do not supervise campaign {cid!r}", field="campaign_id")
    return requested or sorted(mine)


def parse_campaigns(raw: str | None) -> list[str]:
    return [x.strip() for x in (raw or "").split(",") if x.strip()][:200]


def parse_tz(raw: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(raw or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {raw!r} (use Area/City)", field="tz") from exc


def parse_interval(raw: str | None) -> int:
    value = (raw or "60").strip().lower()
    minutes = 1440 if value in ("day", "1440") else (int(value) if value.isdigit() else -1)
    if minutes not in INTERVALS:
        raise Invalid("interval must be 15, 30, 60 or day", field="interval")
    return minutes


def parse_day(raw: str | None, name: str, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"{name}: {raw!r} is not a date (YYYY-MM-DD)", field=name) from exc


@dataclass(frozen=True)
class ReportQuery:
    start: datetime
    end: datetime
    minutes: int
    group: Group
    tz: ZoneInfo
    campaigns: list[str] | None


def report_query(crm: Crm, actor: Actor, q: Mapping[str, str]) -> ReportQuery:
    """``from``/``to`` (local days, both included), ``interval``, ``group``, ``campaign_id`` (a,b), ``tz``."""
    tz = parse_tz(q.get("tz"))
    today = datetime.now(tz).date()
    first = parse_day(q.get("from"), "from", today)
    last = parse_day(q.get("to"), "to", first)
    if last < first:
        raise Invalid("to: the end date is before the start date", field="to")
    if (last - first).days >= MAX_DAYS:
        raise Invalid(f"to: at most {MAX_DAYS} days at once", field="to")
    group = (q.get("group") or "total").strip().lower()
    if group not in GROUPS:
        raise Invalid(f"group must be one of {', '.join(GROUPS)}", field="group")
    return ReportQuery(local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz),
                       parse_interval(q.get("interval")), group,
                       tz, campaigns_for(crm, actor, parse_campaigns(q.get("campaign_id"))))


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


# ----------------------------------------------------------------------------------------------- loading

async def load_contacts(crm: Crm, start: datetime, end: datetime, campaigns: list[str] | None) -> list[Contact]:
    async with crm.uow(readonly=True) as uow:
        rows = await uow.reports.conversation_events(start, end, campaigns)
    contacts = []
    for _, events in itertools.groupby(rows, key=lambda r: r["conversation_id"]):
        c = contact_of(list(events))
        if c is not None and c.arrived_at is not None and start <= c.arrived_at < end:
            contacts.append(c)
    return contacts


def thresholds(crm: Crm) -> dict[str, float]:
    return {snap.id: float(snap.routing.service_level_threshold_s) for snap in crm.campaigns}


def _agents_of(crm: Crm, campaigns: list[str] | None) -> set[str]:
    if campaigns is None:
        return {a for snap in crm.campaigns for a in snap.agents}
    return crm.campaigns.agents_of(set(campaigns))


async def _occupancy(crm: Crm, contacts: list[Contact], agents: set[str], start: datetime, end: datetime,
                     minutes: int, tz: ZoneInfo, now: datetime | None = None
                     ) -> dict[str, dict[datetime, tuple[float, float]]]:
    """Per agent, per interval: (seconds holding a conversation while logged in, seconds logged in)."""
    held = agent_segments(contacts, now or end)
    names = sorted(agents | set(held))
    async with crm.uow(readonly=True) as uow:
        rows = await uow.reports.agent_events(names, start, end)
    states: dict[str, list[AgentState]] = {}
    for r in rows:
        states.setdefault(r["agent_id"], []).append(AgentState(r["occurred_at"], r["status"]))
    stop = min(end, now) if now else end
    out: dict[str, dict[datetime, tuple[float, float]]] = {}
    for agent in names:
        logged = logged_spans(states.get(agent, []), start, stop)
        if not logged:
            continue
        busy = intersect(union(held.get(agent, [])), logged)
        logged_s, busy_s = seconds_by_bucket(logged, minutes, tz), seconds_by_bucket(busy, minutes, tz)
        out[agent] = {b: (busy_s.get(b, 0.0), s) for b, s in logged_s.items()}
    return out


# ----------------------------------------------------------------------------------------------- reports

async def kpi_rows(crm: Crm, q: ReportQuery) -> list[dict[str, Any]]:
    """One row per (interval, group key), in time order, with every KPI."""
    contacts = await load_contacts(crm, q.start, q.end, q.campaigns)
    table = aggregate(contacts, group=q.group, minutes=q.minutes, tz=q.tz, thresholds=thresholds(crm),
                      default_threshold_s=DEFAULT_THRESHOLD_S)
    if q.group != "channel":
        occupancy = await _occupancy(crm, contacts, _agents_of(crm, q.campaigns), q.start, q.end, q.minutes, q.tz)
        for agent, per_bucket in occupancy.items():
            keys = [agent] if q.group == "agent" else ([""] if q.group == "total" else
                                                        _campaigns_of_agent(crm, agent, q.campaigns))
            for start, (busy, logged) in per_bucket.items():
                for key in keys:
                    k = table.setdefault((start, key), Kpis())
                    k.busy_s += busy
                    k.logged_s += logged
    rows = []
    for (start, key), k in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        rows.append({"interval_start": start.isoformat(), "group": q.group, "key": key, **k.as_dict()})
    return rows


def _campaigns_of_agent(crm: Crm, agent: str, campaigns: list[str] | None) -> list[str]:
    return sorted(c for c in crm.campaigns.campaigns_of(agent) if campaigns is None or c in campaigns)


def report_file(rows: list[dict[str, Any]], fmt: str) -> AsyncIterator[bytes]:
    async def batches() -> AsyncIterator[list[list[Any]]]:
        yield [[r.get(c) for c in COLUMNS] for r in rows]

    return chunks_for(fmt, list(COLUMNS), batches(), "kpis")


# --------------------------------------------------------------------------------------------- dashboard

async def dashboard(crm: Crm, actor: Actor, q: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    """Today so far (local day of ``tz``), for the campaigns asked (or all the caller's): totals, one per
    campaign and per agent, and 15-minute series of arrivals, service level and queue length."""
    tz = parse_tz(q.get("tz"))
    now = now or datetime.now(UTC)
    day = parse_day(q.get("date"), "date", now.astimezone(tz).date())
    campaigns = campaigns_for(crm, actor, parse_campaigns(q.get("campaign_id")))
    start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    stop = min(end, now)
    contacts = await load_contacts(crm, start, stop, campaigns)
    limits = thresholds(crm)
    minutes = 15

    def totals(group: Group) -> dict[str, Kpis]:
        out: dict[str, Kpis] = {}
        for (_, key), k in aggregate(contacts, group=group, minutes=1440, tz=tz, thresholds=limits,
                                     default_threshold_s=DEFAULT_THRESHOLD_S).items():
            out[key] = k
        return out

    total = totals("total").get("", Kpis())
    by_campaign, by_agent = totals("campaign"), totals("agent")
    occupancy = await _occupancy(crm, contacts, _agents_of(crm, campaigns), start, end, 1440, tz, now=stop)
    for agent, per_day in occupancy.items():
        busy = sum(b for b, _ in per_day.values())
        logged = sum(s for _, s in per_day.values())
        by_agent.setdefault(agent, Kpis())
        by_agent[agent].busy_s += busy
        by_agent[agent].logged_s += logged
        total.busy_s += busy
        total.logged_s += logged
        for cid in _campaigns_of_agent(crm, agent, campaigns):
            by_campaign.setdefault(cid, Kpis())
            by_campaign[cid].busy_s += busy
            by_campaign[cid].logged_s += logged
    series_table = aggregate(contacts, group="total", minutes=minutes, tz=tz, thresholds=limits,
                             default_threshold_s=DEFAULT_THRESHOLD_S)
    points = []
    cursor = start
    while cursor < stop:
        points.append(cursor)
        cursor = bucket(cursor + timedelta(minutes=minutes), minutes, tz)
    ends = [min(bucket(p + timedelta(minutes=minutes), minutes, tz), stop) for p in points]
    lengths = queue_length_series(contacts, ends)
    series = []
    for p, length in zip(points, lengths, strict=True):
        k = series_table.get((bucket(p, minutes, tz), ""), Kpis()).as_dict()
        series.append({"start": p.isoformat(), "offered": k["offered"], "service_level": k["service_level"],
                       "queue_length": length})
    targets = {snap.id: {"threshold_s": snap.routing.service_level_threshold_s,
                         "target_pct": snap.routing.service_level_target_pct}
               for snap in crm.campaigns if campaigns is None or snap.id in campaigns}
    return {
        "date": day.isoformat(), "tz": str(tz), "as_of": stop.isoformat(), "campaigns": campaigns,
        "targets": targets, "totals": total.as_dict(),
        "by_campaign": {k: v.as_dict() for k, v in sorted(by_campaign.items())},
        "by_agent": {k: v.as_dict() for k, v in sorted(by_agent.items())},
        "series": series,
    }


# ---------------------------------------------------------------------------------------------- forecast

async def forecast(crm: Crm, actor: Actor, q: Mapping[str, str]) -> dict[str, Any]:
    """Per interval of a day (``date``, default today; ``interval`` 15/30/60), for one campaign: the measured
    arrivals and AHT, the agents Erlang C and Erlang A (with the measured patience) need to hold the campaign's
    service-level target, and the agents actually logged in (average over the interval)."""
    tz = parse_tz(q.get("tz"))
    campaign_id = (q.get("campaign_id") or "").strip()
    if not campaign_id:
        raise Invalid("campaign_id is required", field="campaign_id")
    campaigns_for(crm, actor, [campaign_id])
    snap = crm.campaigns.get(campaign_id)
    if snap is None:
        raise NotFound(f"campaign {campaign_id} is unknown to the CRM", field="campaign_id")
    minutes = parse_interval(q.get("interval") or "30")
    if minutes >= 1440:
        raise Invalid("interval must be 15, 30 or 60 for a forecast", field="interval")
    day = parse_day(q.get("date"), "date", datetime.now(tz).date())
    start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    threshold = float(snap.routing.service_level_threshold_s)
    target = float(snap.routing.service_level_target_pct) / 100.0
    contacts = await load_contacts(crm, start, end, [campaign_id])
    table = aggregate(contacts, group="total", minutes=minutes, tz=tz, thresholds={campaign_id: threshold})
    day_total = Kpis()
    for k in table.values():
        for name in ("abandoned", "answered", "handled"):
            setattr(day_total, name, getattr(day_total, name) + getattr(k, name))
        day_total.handle_sum_s += k.handle_sum_s
        day_total.waited_sum_s += k.waited_sum_s
    day_aht = day_total.handle_sum_s / day_total.handled if day_total.handled else None
    patience = staffing.patience_estimate(day_total.abandoned, day_total.waited_sum_s)
    occupancy = await _occupancy(crm, contacts, set(snap.agents), start, end, minutes, tz,
                                 now=min(end, datetime.now(UTC)))
    rows = []
    for b in _buckets(start, end, minutes, tz):
        k = table.get((b, ""), Kpis())
        aht = (k.handle_sum_s / k.handled) if k.handled else day_aht
        logged = sum(per.get(b, (0.0, 0.0))[1] for per in occupancy.values()) / (minutes * 60)
        row: dict[str, Any] = {"start": b.isoformat(), "offered": k.offered, "aht_s": round(aht, 2) if aht else None,
                               "arrival_rate_per_h": round(k.offered * 60 / minutes, 2),
                               "logged_in": round(logged, 2), "erlang_c": None, "erlang_a": None}
        if k.offered and aht:
            c = staffing.agents_erlang_c(k.offered, aht, minutes * 60, threshold, target)
            row["load_erlangs"] = round(c.load_erlangs, 3)
            row["erlang_c"] = {"agents": c.agents, "service_level": round(100 * c.service_level, 2),
                               "asa_s": round(c.asa_s or 0.0, 2), "occupancy": round(100 * c.occupancy, 2)}
            if patience:
                a = staffing.agents_erlang_a(k.offered, aht, minutes * 60, patience, threshold, target)
                row["erlang_a"] = {"agents": a.agents, "service_level": round(100 * a.service_level, 2),
                                   "abandonment": round(100 * a.abandonment, 2),
                                   "occupancy": round(100 * a.occupancy, 2)}
        rows.append(row)
    return {"campaign_id": campaign_id, "date": day.isoformat(), "tz": str(tz), "interval": minutes,
            "threshold_s": threshold, "target_pct": target * 100, "aht_s": round(day_aht, 2) if day_aht else None,
            "patience_s": round(patience, 2) if patience else None, "items": rows}


def _buckets(start: datetime, end: datetime, minutes: int, tz: ZoneInfo) -> Iterable[datetime]:
    cursor = bucket(start, minutes, tz)
    while cursor < end:
        yield cursor
        cursor = bucket(cursor + timedelta(minutes=minutes), minutes, tz)
