"""Call history (filters, 24-hour classification window, voice conversations) and callbacks (calendar, due)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import CallProgress, CampaignSnapshot, ConversationClosed, ConversationOpened, TimerDue
from services.crm.handlers.calls import on_progress

from ..conftest import as_user


async def test_calls_register_link_filter_and_classify(client, h, unique):
    company = f"CallCo-{unique}"
    person = await (await client.post("/contacts", json={"name": f"Caller {unique}", "company": company,
                                                         "phones": ["+5491166660000"]})).json()
    lst = await (await client.post("/lists", json={"name": f"L {unique}"})).json()
    await client.post(f"/lists/{lst['id']}/members", json={"contact_ids": [person["id"]]})
    agent = f"ag-{unique}"
    now = datetime.now(UTC)
    c_in = await (await client.post("/calls", json={"direction": "in", "phone": "+54 9 11 6666-0000",
                                                    "agent_id": agent, "duration_s": 46,
                                                    "started_at": now.isoformat()})).json()
    assert c_in["contact_id"] == person["id"] and c_in["phone"] == "+5491166660000"
    c_out = await (await client.post("/calls", json={"direction": "out", "phone": "+5491166660000",
                                                     "agent_id": agent, "disposition": "venta", "list_id": lst["id"],
                                                     "comment": "Solicita comunicarse con Juan"})).json()
    old = await (await client.post("/calls", json={"direction": "in", "phone": "+5491166660000",
                                                   "agent_id": agent,
                                                   "started_at": (now - timedelta(hours=25)).isoformat()})).json()

    async def ids(**params):
        body = await (await client.get("/calls", params=params)).json()
        return [c["id"] for c in body["items"]]

    assert set(await ids(agent_id=agent)) == {c_in["id"], c_out["id"], old["id"]}
    assert await ids(agent_id=agent, type="out") == [c_out["id"]]
    assert await ids(company=company, disposition="venta") == [c_out["id"]]
    assert await ids(list_id=lst["id"]) == [c_out["id"]]
    since = (now - timedelta(hours=1)).isoformat()
    assert set(await ids(agent_id=agent, **{"from": since})) == {c_in["id"], c_out["id"]}
    members = await (await client.get(f"/lists/{lst['id']}/members")).json()
    assert members["items"][0]["attempts"] == 1 and members["items"][0]["last_typification"] == "venta"

    pending = await (await client.get("/calls/pending", params={"agent_id": agent})).json()
    assert [c["id"] for c in pending["items"]] == [c_in["id"]]  # the 25-hour-old one has expired
    ok = await client.put(f"/calls/{c_in['id']}/classification", json={"disposition": "consulta",
                          "comment": "Llamada interna."}, headers=as_user("crm", agent))
    assert ok.status == 200 and (await ok.json())["classified_by"] == agent
    late = await client.put(f"/calls/{old['id']}/classification", json={"disposition": "consulta"})
    assert late.status == 409 and (await late.json())["error"]["field"] == "call_id"
    assert (await (await client.get("/calls/pending", params={"agent_id": agent})).json())["items"] == []
    history = await (await client.get(f"/contacts/{person['id']}/history")).json()
    assert sum(1 for i in history["items"] if i["kind"] == "call") == 3

    for body, field in (({"direction": "in", "phone": "12"}, "phone"), ({"direction": "up", "phone": "1"},
                                                                       "direction"),
                        ({"direction": "in", "phone": "+5491166660000", "duration_s": -1}, "duration_s")):
        resp = await client.post("/calls", json=body)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field
    assert (await client.get("/calls", params={"type": "sideways"})).status == 400


async def test_get_one_call(client, unique):
    agent = f"ag-get-{unique}"
    made = await (await client.post("/calls", json={"direction": "out", "phone": "+5491166661111", "agent_id": agent,
                                                    "campaign_id": f"camp-{unique}"})).json()
    resp = await client.get(f"/calls/{made['id']}")
    assert resp.status == 200
    call = await resp.json()
    assert (call["id"], call["agent_id"], call["campaign_id"], call["direction"]) == (
        made["id"], agent, f"camp-{unique}", "out")
    assert call["disposition"] is None
    missing = await client.get(f"/calls/nope-{unique}")
    assert missing.status == 404
    assert (await missing.json())["error"]["field"] == "call_id"
    # the collection's views are not taken for ids
    assert (await client.get("/calls/pending", params={"agent_id": agent})).status == 200


async def test_a_placed_calls_stages_in_any_order_keep_every_time_and_never_move_it_back(client, crm, unique):
    """Channels publishes ringing, answered, ended in order, but a redelivery can bring answered after ended: the
    call stays ended and still learns when it was answered (CI saw answered_at missing after a redelivery)."""
    made = await (await client.post("/calls", json={"direction": "out", "phone": "+5491166662222",
                                                    "agent_id": f"ag-{unique}"})).json()
    t0 = datetime(2026, 12, 7, 8, 0, 1, tzinfo=UTC)

    def stage(name: str, s: int, duration: int | None = None) -> CallProgress:
        return CallProgress(channel_id=f"voice-{unique}", call_id=made["id"], provider_call_id=f"sb-{made['id']}",
                            stage=name, duration_s=duration, occurred_at=t0 + timedelta(seconds=s))

    for event in (stage("ended", 70, 65), stage("answered", 5), stage("ringing", 1)):
        await on_progress(crm, event)
    call = await (await client.get(f"/calls/{made['id']}")).json()
    assert call["status"] == "ended" and call["duration_s"] == 65
    assert datetime.fromisoformat(call["answered_at"]) == t0 + timedelta(seconds=5)
    assert datetime.fromisoformat(call["ended_at"]) == t0 + timedelta(seconds=70)
    await on_progress(crm, stage("ended", 90, 80))  # the end redelivered: the first one stands
    again = await (await client.get(f"/calls/{made['id']}")).json()
    assert (again["duration_s"], again["ended_at"]) == (65, call["ended_at"])


@pytest.mark.parametrize("order", ["in order", "closed first"])
async def test_voice_conversation_becomes_a_call(client, h, unique, order):
    """Replicas share the consumer, so the closure may be handled before the opening: the call still starts
    when the conversation opened and lasts until it closed."""
    common = {"conversation_id": f"voice-{unique}", "campaign_id": f"cc-{unique}", "channel_id": f"v-{unique}",
              "channel_type": "voice", "contact_address": "+5491177770000", "agent_id": f"ag-{unique}"}
    start = datetime.now(UTC) - timedelta(seconds=90)
    events = [ConversationOpened(**common, seq=1, occurred_at=start),
              ConversationClosed(**common, seq=2, occurred_at=start + timedelta(seconds=73),
                                 typification_id="resuelto")]
    for event in events if order == "in order" else events[::-1]:
        await h.publish(event)

    async def call():
        body = await (await client.get("/calls", params={"campaign_id": f"cc-{unique}"})).json()
        items = body["items"]
        # Both events handled: the closure set the disposition, and the duration counts from the opening.
        return items[0] if items and items[0]["disposition"] and items[0]["duration_s"] == 73 else None

    got = await h.eventually(call)
    assert got["direction"] == "in" and got["phone"] == "+5491177770000"
    assert got["conversation_id"] == f"voice-{unique}" and got["agent_id"] == f"ag-{unique}"


async def test_callbacks_calendar_timer_and_due_work(client, h, nc, unique):
    person = await (await client.post("/contacts", json={"name": f"Agenda {unique}"})).json()
    ana, bruno = f"ana-{unique}", f"bruno-{unique}"
    await h.put_campaign(CampaignSnapshot(id=f"camp-{unique}", name="Agenda", agents=[ana, bruno]))
    sub = await nc.subscribe("sb.timer.cmd.>")
    await nc.flush()  # subscribed at the server before anything is published
    monday = "2031-03-03"
    made = []
    for owner, due in ((ana, "2031-03-03T09:00:00-03:00"), (ana, "2031-03-05T23:30:00-03:00"),
                       (bruno, "2031-03-09T10:00:00-03:00"), (bruno, "2031-03-10T10:00:00-03:00")):
        resp = await client.post("/callbacks", json={"owner_id": owner, "due_at": due, "contact_id": person["id"],
                                                     "campaign_id": f"camp-{unique}", "note": "volver a llamar"})
        assert resp.status == 201, await resp.text()
        made.append(await resp.json())
    timers = [json.loads((await sub.next_msg(timeout=5)).data) for _ in made]
    assert {t["timer_id"] for t in timers} == {m["id"] for m in made}
    assert all(t["type"] == "timer.set" and t["owner"] == "crm" and t["purpose"] == "callback" for t in timers)

    week = await (await client.get("/callbacks/calendar", params={"users": f"{ana},{bruno}", "view": "week",
                                                                  "date": "2031-03-06",
                                                                  "tz": "America/Argentina/Buenos_Aires"})).json()
    assert sorted(week["users"][ana]) == [monday, "2031-03-05"]
    assert list(week["users"][bruno]) == ["2031-03-09"]
    day = await (await client.get("/callbacks/calendar", params={"users": ana, "view": "day", "date": "2031-03-05",
                                                                 "tz": "America/Argentina/Buenos_Aires"})).json()
    assert [c["id"] for c in day["users"][ana]["2031-03-05"]] == [made[1]["id"]]
    month = await (await client.get("/callbacks/calendar", params={"users": bruno, "view": "month",
                                                                   "date": "2031-03-20"})).json()
    assert sum(len(v) for v in month["users"][bruno].values()) == 2

    # The scheduler says the first one is due: a high-priority work item for its owner, once.
    due = TimerDue(timer_id=made[0]["id"], owner="crm", purpose="callback",
                   fire_at=datetime.fromisoformat(made[0]["due_at"]))
    await h.publish(due)
    await h.publish(due, msg_id=f"again-{unique}")
    stale = TimerDue(timer_id=made[1]["id"], owner="crm", purpose="callback",
                     fire_at=datetime(2031, 1, 1, tzinfo=UTC))
    await h.publish(stale)

    async def work():
        cb = await (await client.get(f"/callbacks/{made[0]['id']}")).json()
        return cb if cb["status"] == "due" else None

    cb = await h.eventually(work)
    panel = await (await client.get("/panel", params={"campaign_id": f"camp-{unique}", "agent_id": ana},
                                    headers=h.agent(ana))).json()
    assert [i["id"] for i in panel["items"]] == [cb["work_case_id"]]
    assert panel["items"][0]["priority"] == "high" and panel["items"][0]["assigned_user"] == ana
    assert (await (await client.get(f"/callbacks/{made[1]['id']}")).json())["status"] == "pending"

    cancel = await client.patch(f"/callbacks/{made[2]['id']}", json={"status": "cancelled"})
    assert cancel.status == 200
    msg = json.loads((await sub.next_msg(timeout=5)).data)
    assert msg["type"] == "timer.cancel" and msg["timer_id"] == made[2]["id"]
    moved = await client.patch(f"/callbacks/{made[3]['id']}", json={"due_at": "2031-03-11T10:00:00-03:00"})
    assert moved.status == 200
    msg = json.loads((await sub.next_msg(timeout=5)).data)
    assert msg["type"] == "timer.set" and msg["fire_at"].startswith("2031-03-11T13:00:00")
    await sub.unsubscribe()

    for body, field in (({"owner_id": ana, "due_at": "2031-03-03T09:00:00", "contact_id": person["id"]}, "due_at"),
                        ({"owner_id": ana, "due_at": "2031-03-03T09:00:00Z"}, "contact_id"),
                        ({"owner_id": ana, "due_at": "2031-03-03T09:00:00Z", "case_id": "ghost"}, "case_id")):
        resp = await client.post("/callbacks", json=body)
        assert resp.status in (400, 404) and (await resp.json())["error"]["field"] == field, body
    for params, field in (({"users": ana, "date": "2031-03-03", "view": "year"}, "view"),
                          ({"users": ana, "date": "2031-03-03", "tz": "Mars/Olympus"}, "tz"),
                          ({"users": ana}, "date"), ({"date": "2031-03-03"}, "users")):
        resp = await client.get("/callbacks/calendar", params=params)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field, params
