"""A synthetic day of conversations through the CONVERSATIONS and AGENTS streams: its KPIs, computed by hand
below, come out the same from the dashboard, the JSON report and the CSV/XLSX downloads; scope is enforced."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from libs.contracts import (
    AgentStatusChanged,
    CampaignSnapshot,
    ConversationAssigned,
    ConversationClosed,
    ConversationOpened,
    ConversationQueued,
    ConversationTransferred,
)
from libs.contracts.campaigns import Routing

from ..conftest import as_user

TZ = ZoneInfo("Europe/Madrid")
DAY = "2026-02-10"


def at(hms: str) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime(2026, 2, 10, h, m, s, tzinfo=TZ)


def conversation(u: str, n: int, channel: str, steps: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    """The events of one conversation: (kind, local time, extra fields), seq in order."""
    common = {"conversation_id": f"rep-{u}-{n}", "campaign_id": f"camp-{u}", "channel_id": f"ch-{u}-{channel}",
              "channel_type": channel, "contact_address": f"+3460000{n:04d}"}
    kinds = {"opened": ConversationOpened, "queued": ConversationQueued, "assigned": ConversationAssigned,
             "transferred": ConversationTransferred, "closed": ConversationClosed}
    return [kinds[kind](**common, seq=i + 1, occurred_at=at(hms), **extra)
            for i, (kind, hms, extra) in enumerate(steps)]


def synthetic_day(u: str) -> tuple[list[Any], list[AgentStatusChanged]]:
    ana, bruno = f"ana-{u}", f"bruno-{u}"
    convs = [
        # 1: waits 10 s, ana holds it 300 s.
        conversation(u, 1, "whatsapp", [("opened", "09:00:00", {}), ("queued", "09:00:00", {}),
                                        ("assigned", "09:00:10", {"agent_id": ana}),
                                        ("closed", "09:05:10", {"agent_id": ana, "typification_id": "sale"})]),
        # 2: waits 30 s (over 20), bruno 120 s, transferred to ana who holds it 240 s.
        conversation(u, 2, "whatsapp", [("opened", "09:02:00", {}), ("queued", "09:02:00", {}),
                                        ("assigned", "09:02:30", {"agent_id": bruno}),
                                        ("transferred", "09:04:30", {"agent_id": ana, "from_agent_id": bruno,
                                                                     "to_agent_id": ana}),
                                        ("closed", "09:08:30", {"agent_id": ana})]),
        # 3: the customer leaves after 60 s in the queue (waiting across 09:30).
        conversation(u, 3, "sms", [("opened", "09:29:30", {}), ("queued", "09:29:30", {}),
                                   ("closed", "09:30:30", {"reason": "customer_left"})]),
        # 4: waits 5 s, ana 120 s.
        conversation(u, 4, "whatsapp", [("opened", "10:10:00", {}), ("queued", "10:10:00", {}),
                                        ("assigned", "10:10:05", {"agent_id": ana}),
                                        ("closed", "10:12:05", {"agent_id": ana})]),
        # 5: written out of hours at 07:00, released at 08:30: waits 15 s from the release, bruno 300 s.
        conversation(u, 5, "sms", [("opened", "07:00:00", {}), ("queued", "07:00:00", {"reason": "out_of_hours"}),
                                   ("queued", "08:30:00", {"reason": "released"}),
                                   ("assigned", "08:30:15", {"agent_id": bruno}),
                                   ("closed", "08:35:15", {"agent_id": bruno})]),
        # 6: closed by a supervisor while still queued, after 20 s: abandoned too.
        conversation(u, 6, "whatsapp", [("opened", "10:40:00", {}), ("queued", "10:40:00", {}),
                                        ("closed", "10:40:20", {"reason": "supervisor"})]),
        # 7: out of hours and closed at once: never offered to a queue, not counted.
        conversation(u, 7, "whatsapp", [("opened", "22:00:00", {}),
                                        ("closed", "22:00:00", {"reason": "out_of_hours"})]),
    ]
    statuses = [AgentStatusChanged(agent_id=ana, status="available", occurred_at=at("08:00:00")),
                AgentStatusChanged(agent_id=ana, status="offline", occurred_at=at("11:00:00")),
                AgentStatusChanged(agent_id=bruno, status="available", occurred_at=at("08:00:00")),
                AgentStatusChanged(agent_id=bruno, status="break", reason="lunch", occurred_at=at("09:30:00")),
                AgentStatusChanged(agent_id=bruno, status="available", occurred_at=at("09:45:00")),
                AgentStatusChanged(agent_id=bruno, status="offline", occurred_at=at("11:00:00"))]
    return [e for c in convs for e in c], statuses


# Computed by hand from the day above (threshold 20 s).
# Offered 6 (1-6; 7 never queued in hours). Answered 4 (1, 2, 4, 5), within 20 s: 1 (10 s), 4 (5 s), 5 (15 s).
# Abandoned 2 (3, 6). SL = 3 / (4 + 2) = 50 %. ASA = (10 + 30 + 5 + 15) / 4 = 15 s.
# AHT = (300 + (120 + 240) + 120 + 300) / 4 = 270 s. Abandonment 2 / 6 = 33.33 %. Transfers 1.
# Occupancy: ana logged 3 h, busy 09:00:10-09:08:30 (500 s) + 120 s = 620 s; bruno logged 3 h (a break is
# logged in), busy 300 + 120 = 420 s: (620 + 420) / 21600 = 4.81 %.
DAY_TOTAL = {"offered": 6, "answered": 4, "answered_within": 3, "abandoned": 2, "transfers": 1,
             "service_level": 50.0, "asa_s": 15.0, "aht_s": 270.0, "abandonment_rate": 33.33, "occupancy": 4.81}
HOURS = {  # by the hour of arrival
    "08:00": {"offered": 1, "answered": 1, "answered_within": 1, "abandoned": 0, "service_level": 100.0,
              "asa_s": 15.0, "aht_s": 300.0, "transfers": 0},
    "09:00": {"offered": 3, "answered": 2, "answered_within": 1, "abandoned": 1, "service_level": 33.33,
              "asa_s": 20.0, "aht_s": 330.0, "transfers": 1},
    "10:00": {"offered": 2, "answered": 1, "answered_within": 1, "abandoned": 1, "service_level": 50.0,
              "asa_s": 5.0, "aht_s": 120.0, "transfers": 0},
}
# ana answered 1 and 4 (10 s, 5 s) and held 300 + 240 + 120 s over 3 conversations; bruno answered 5 and 2
# (15 s, 30 s), held 300 + 120 s, transferred 1. Occupancy 620 / 10800 = 5.74 %, 420 / 10800 = 3.89 %.
AGENTS = {
    "ana": {"answered": 2, "answered_within": 2, "asa_s": 7.5, "aht_s": 220.0, "transfers": 0, "occupancy": 5.74},
    "bruno": {"answered": 2, "answered_within": 1, "asa_s": 22.5, "aht_s": 210.0, "transfers": 1, "occupancy": 3.89},
}
CHANNELS = {"whatsapp": {"offered": 4, "answered": 3, "answered_within": 2, "abandoned": 1, "service_level": 50.0},
            "sms": {"offered": 2, "answered": 1, "answered_within": 1, "abandoned": 1, "service_level": 50.0}}


def subset(row: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in expected}


@pytest.fixture
async def day(h, unique):
    u = unique
    await h.put_campaign(CampaignSnapshot(
        id=f"camp-{u}", name=f"Reportes {u}", agents=[f"ana-{u}", f"bruno-{u}"], supervisors=[f"sofia-{u}"],
        routing=Routing(service_level_threshold_s=20, service_level_target_pct=80)))
    events, statuses = synthetic_day(u)
    for e in events:
        await h.publish(e)
    for s in statuses:
        await h.js.publish(s.subject(), s.model_dump_json().encode(), headers={"Nats-Msg-Id": s.id})

    async def recorded() -> bool:
        async with h.pool.acquire() as conn:
            n = await conn.fetchval("SELECT count(*) FROM crm.conversation_events WHERE conversation_id LIKE $1",
                                    f"rep-{u}-%")
            m = await conn.fetchval("SELECT count(*) FROM crm.agent_events WHERE agent_id LIKE $1", f"%-{u}")
        return n == len(events) and m == len(statuses)

    await h.eventually(recorded)
    return u


def sup(u: str) -> dict[str, str]:
    return as_user("crm", f"sofia-{u}", "supervisor", [f"camp-{u}"])


async def test_the_dashboard_gives_the_hand_computed_day(client, day):
    u = day
    resp = await client.get("/reports/dashboard", params={"date": DAY, "tz": "Europe/Madrid"}, headers=sup(u))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["campaigns"] == [f"camp-{u}"]
    assert subset(body["totals"], DAY_TOTAL) == DAY_TOTAL
    assert subset(body["by_campaign"][f"camp-{u}"], DAY_TOTAL) == DAY_TOTAL
    for name, expected in AGENTS.items():
        assert subset(body["by_agent"][f"{name}-{u}"], expected) == expected, name
    assert body["targets"] == {f"camp-{u}": {"threshold_s": 20, "target_pct": 80}}
    series = {p["start"][11:16]: p for p in body["series"]}
    assert len(body["series"]) == 96  # every 15 minutes of the day
    assert series["09:00"]["offered"] == 2 and series["09:00"]["service_level"] == 50.0
    assert series["09:15"]["offered"] == 1 and series["09:15"]["service_level"] == 0.0
    assert series["09:15"]["queue_length"] == 1  # conversation 3 was waiting at 09:30
    assert series["09:30"]["queue_length"] == 0 and series["12:00"]["offered"] == 0


async def test_the_report_and_its_downloads_give_the_same_numbers(client, day):
    u = day
    params = {"from": DAY, "to": DAY, "tz": "Europe/Madrid", "campaign_id": f"camp-{u}"}
    resp = await client.get("/reports/kpis", params={**params, "interval": "60"}, headers=sup(u))
    assert resp.status == 200, await resp.text()
    rows = {r["interval_start"][11:16]: r for r in (await resp.json())["items"]}
    assert sorted(rows) == ["08:00", "09:00", "10:00"]
    for hour, expected in HOURS.items():
        assert subset(rows[hour], expected) == expected, hour

    daily = (await (await client.get("/reports/kpis", params={**params, "interval": "day"}, headers=sup(u))).json())
    assert subset(daily["items"][0], DAY_TOTAL) == DAY_TOTAL

    agents = await (await client.get("/reports/kpis", params={**params, "interval": "day", "group": "agent"},
                                     headers=sup(u))).json()
    by_agent = {r["key"]: r for r in agents["items"]}
    for name, expected in AGENTS.items():
        assert subset(by_agent[f"{name}-{u}"], expected) == expected, name

    channels = await (await client.get("/reports/kpis", params={**params, "interval": "day", "group": "channel"},
                                       headers=sup(u))).json()
    assert {r["key"]: subset(r, CHANNELS[r["key"]]) for r in channels["items"]} == CHANNELS

    # The CSV download: the same numbers as text.
    resp = await client.get("/reports/kpis", params={**params, "interval": "day", "format": "csv"}, headers=sup(u))
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    line = next(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    for key, value in DAY_TOTAL.items():
        assert float(line[key]) == float(value), key
    # The XLSX download: a workbook with the same rows as the JSON report of the same query.
    half = {**params, "interval": "30"}
    json_rows = (await (await client.get("/reports/kpis", params=half, headers=sup(u))).json())["items"]
    resp = await client.get("/reports/kpis", params={**half, "format": "xlsx"}, headers=sup(u))
    assert resp.status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(await resp.read()), read_only=True).active
    header, *lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(lines) == len(json_rows) == 6  # every half hour the agents were logged in, 08:00 to 11:00
    for line, row in zip(lines, json_rows, strict=True):
        got = dict(zip(header, line, strict=True))
        for key in ("offered", "answered", "abandoned", "service_level", "asa_s", "aht_s"):
            assert (got[key] is None and row[key] is None) or float(got[key]) == float(row[key]), key


async def test_the_forecast_uses_the_measured_day(client, day):
    u = day
    resp = await client.get("/reports/forecast", params={"date": DAY, "tz": "Europe/Madrid", "interval": "60",
                                                         "campaign_id": f"camp-{u}"}, headers=sup(u))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["threshold_s"] == 20 and body["target_pct"] == 80 and body["aht_s"] == 270.0
    # Patience: everybody's wait (answered 60 s + abandoned 60 s + 20 s) over the 2 who gave up = 70 s.
    assert body["patience_s"] == 70.0
    rows = {r["start"][11:16]: r for r in body["items"]}
    nine = rows["09:00"]
    assert nine["offered"] == 3 and nine["aht_s"] == 330.0
    assert nine["load_erlangs"] == pytest.approx(3 * 330 / 3600, abs=1e-3)
    assert nine["erlang_c"]["agents"] == 2 and nine["erlang_a"]["agents"] >= 1
    assert nine["logged_in"] == pytest.approx(2.0, abs=0.01)  # bruno's break counts as logged in
    assert rows["12:00"]["erlang_c"] is None and rows["12:00"]["logged_in"] == 0


async def test_scope_supervisors_see_only_their_campaigns_and_agents_nothing(client, day):
    u = day
    other = as_user("crm", f"other-{u}", "supervisor", [])
    resp = await client.get("/reports/kpis", params={"campaign_id": f"camp-{u}", "from": DAY}, headers=other)
    assert resp.status == 403 and (await resp.json())["error"]["field"] == "campaign_id"
    resp = await client.get("/reports/dashboard", params={"date": DAY}, headers=other)
    body = await resp.json()
    assert body["campaigns"] == [] and body["totals"]["offered"] == 0  # none of theirs: nothing of ours
    agent = as_user("crm", f"ana-{u}", "agent", [f"camp-{u}"])
    for path in ("/reports/kpis", "/reports/dashboard", "/reports/forecast"):
        resp = await client.get(path, params={"campaign_id": f"camp-{u}"}, headers=agent)
        assert resp.status == 403, path
    resp = await client.get("/reports/kpis", params={"interval": "7"}, headers=sup(u))
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "interval"
    resp = await client.get("/reports/kpis", params={"from": "2026-02-10", "to": "2026-02-01"}, headers=sup(u))
    assert (await resp.json())["error"]["field"] == "to"
    resp = await client.get("/reports/kpis", params={"tz": "Mars/Base"}, headers=sup(u))
    assert (await resp.json())["error"]["field"] == "tz"

