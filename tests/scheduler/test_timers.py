"""Durable timers: set, cancel, fire once and on time; bad requests name the field."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from libs.contracts import TimerCancel, TimerSet
from libs.messaging import publish


def _at(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_timer_set_over_http_fires_once_on_time(nats_js, scheduler, unique, skit):
    _, js = nats_js
    owner = f"t{unique}"
    fire_at = _at(0.4)
    resp = await scheduler.post("/timers", json={"timer_id": "offer-1", "owner": owner, "purpose": "offer",
                                                 "fire_at": fire_at.isoformat(), "data": {"ref": "c1"}})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["state"] == "pending"
    for _ in range(50):
        if (await (await scheduler.get(f"/timers/{owner}/offer-1")).json())["state"] == "fired":
            break
        await asyncio.sleep(0.1)
    [due] = await skit.stored_due(js, owner)
    assert due.timer_id == "offer-1" and due.purpose == "offer" and due.data == {"ref": "c1"}
    assert due.subject() == f"sb.timer.due.{owner}.offer.offer-1"
    assert timedelta(0) <= due.occurred_at - fire_at  # never early; lateness is measured by a benchmark


async def test_commands_on_the_stream_set_move_and_cancel(nats_js, scheduler, unique, skit):
    _, js = nats_js
    owner = f"t{unique}"
    await publish(js, TimerSet(timer_id="cancelled", owner=owner, purpose="x", fire_at=_at(0.3)))
    await publish(js, TimerSet(timer_id="moved", owner=owner, purpose="x", fire_at=_at(30)))
    await publish(js, TimerSet(timer_id="moved", owner=owner, purpose="x", fire_at=_at(0.5)))
    await publish(js, TimerCancel(timer_id="cancelled", owner=owner))
    await publish(js, TimerSet(timer_id="sentinel", owner=owner, purpose="x", fire_at=_at(0.8)))
    for _ in range(50):
        if (await (await scheduler.get(f"/timers/{owner}/sentinel")).json()).get("state") == "fired":
            break
        await asyncio.sleep(0.1)
    fired = await skit.stored_due(js, owner)
    assert sorted(d.timer_id for d in fired) == ["moved", "sentinel"]
    assert (await (await scheduler.get(f"/timers/{owner}/cancelled")).json())["state"] == "cancelled"
    # A redelivered set of a timer that already fired does not fire it again.
    moved = next(d for d in fired if d.timer_id == "moved")
    await publish(js, TimerSet(timer_id="moved", owner=owner, purpose="x", fire_at=moved.fire_at), timeout=5)
    await publish(js, TimerSet(timer_id="sentinel2", owner=owner, purpose="x", fire_at=_at(0.2)))
    for _ in range(50):
        if (await (await scheduler.get(f"/timers/{owner}/sentinel2")).json()).get("state") == "fired":
            break
        await asyncio.sleep(0.1)
    assert sorted(d.timer_id for d in await skit.stored_due(js, owner)) == ["moved", "sentinel", "sentinel2"]


async def test_bad_timer_requests_name_the_field(scheduler, unique):
    ok = {"timer_id": "a", "owner": f"t{unique}", "purpose": "p", "fire_at": _at(5).isoformat()}
    cases = [
        ({k: v for k, v in ok.items() if k != "fire_at"}, "fire_at"),
        ({**ok, "fire_at": "tomorrow"}, "fire_at"),
        ({**ok, "fire_at": "2030-01-01T10:00:00"}, "fire_at"),
        ({**ok, "fire_at": _at(500 * 86400).isoformat()}, "fire_at"),
        ({**ok, "owner": ""}, "owner"),
        ({**ok, "timer_id": None}, "timer_id"),
        ([], "body"),
    ]
    for body, field in cases:
        resp = await scheduler.post("/timers", json=body)
        data = await resp.json()
        assert resp.status == 400 and data["error"]["field"] == field, (body, data)
    resp = await scheduler.get(f"/timers/t{unique}/a")
    assert resp.status == 404  # nothing half-written
    resp = await scheduler.post("/timers", data=b"{oops")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "body"
