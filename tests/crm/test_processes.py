"""Bulk processes: recycle / reprocess, lists, callback reassignment, mass close, field finder, and the job
machinery itself (progress, cancel, crash and resume, a 1,000,000-row file in bounded memory)."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from libs.contracts import CampaignSnapshot, ConversationAssigned, ConversationOpened, CustomField, Typification
from services.crm.handlers.processes import KINDS
from services.crm.handlers.processes.runner import JobRunner, few_collections


async def _list_with_calls(client, unique: str) -> tuple[dict, list[dict]]:
    lst = await (await client.post("/lists", json={"name": f"base {unique}"})).json()
    people = [await (await client.post("/contacts", json={"name": f"R{i} {unique}",
                                                          "phones": [f"+54911520{i:05d}"]})).json() for i in range(4)]
    await client.post(f"/lists/{lst['id']}/members", json={"contact_ids": [p["id"] for p in people]})
    # attempts: R0 none, R1 one by u1, R2 two by u2 (no-answer), R3 three by u1 (sale)
    for i, person in enumerate(people):
        for _ in range(i):
            await client.post("/calls", json={"direction": "out", "phone": person["phones"][0]["number"],
                                              "contact_id": person["id"], "list_id": lst["id"],
                                              "agent_id": "u1" if i != 2 else "u2",
                                              "disposition": "sale" if i == 3 else "no-answer"})
    return lst, people


async def test_recycle_counts_live_deletes_call_history_reprocess_keeps_it(client, jobs, unique):
    lst, people = await _list_with_calls(client, unique)

    async def count(**params):
        resp = await client.get("/processes/recycle-count", params={"list_id": lst["id"], **params})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["count"]

    assert await count() == 4
    assert await count(attempts_gt="0", attempts_lt="3") == 2
    assert await count(users="u1") == 2 and await count(typifications="sale") == 1
    assert await count(last_contact_from=(datetime.now(UTC) - timedelta(hours=1)).isoformat()) == 3
    bad = await client.get("/processes/recycle-count", params={"list_id": lst["id"], "attempts_lt": "many"})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "attempts_lt"
    assert (await client.get("/processes/recycle-count", params={"list_id": "ghost"})).status == 404

    reprocess = await jobs.run("reprocess", {"list_id": lst["id"], "typifications": ["no-answer"]})
    assert reprocess["status"] == "succeeded" and reprocess["counts"] == {"reprocessed": 2, "calls_deleted": 0}
    calls = await (await client.get("/calls", params={"list_id": lst["id"]})).json()
    assert len(calls["items"]) == 6
    recycle = await jobs.run("recycle", {"list_id": lst["id"], "users": ["u1"]})
    assert recycle["counts"] == {"recycled": 2, "calls_deleted": 4}
    rows = await jobs.outcome(recycle["id"])
    assert {r["ref"]: r["reason"] for r in rows} == {people[1]["id"]: "1 calls deleted",
                                                     people[3]["id"]: "3 calls deleted"}
    members = {m["contact_id"]: m for m in (await (await client.get(f"/lists/{lst['id']}/members")).json())["items"]}
    assert members[people[3]["id"]]["attempts"] == 0 and members[people[3]["id"]]["status"] == "pending"
    assert members[people[2]["id"]]["attempts"] == 2  # reprocessed: kept
    calls = await (await client.get("/calls", params={"list_id": lst["id"]})).json()
    assert len(calls["items"]) == 2
    resp = await jobs.start("recycle", {"list_id": "ghost"})
    assert resp.status == 404 and (await resp.json())["error"]["field"] == "params.list_id"


async def test_associate_and_dissociate_lists(client, jobs, unique):
    batch = await (await client.post("/batches", json={"name": f"lote {unique}"})).json()
    lst = await (await client.post("/lists", json={"name": f"base {unique}"})).json()
    ids = [(await (await client.post("/contacts", json={"name": f"L{i}"})).json())["id"] for i in range(3)]
    await client.post(f"/batches/{batch['id']}/members", json={"contact_ids": ids})
    await client.post(f"/lists/{lst['id']}/members", json={"contact_ids": ids[:1]})
    dry = await jobs.run("associate_list", {"list_id": lst["id"], "batch_id": batch["id"]}, dry_run=True)
    assert dry["counts"] == {"would_added": 2, "would_already_in_list": 1}
    assert (await (await client.get(f"/lists/{lst['id']}")).json())["members"] == 1
    run = await jobs.run("associate_list", {"list_id": lst["id"], "batch_id": batch["id"]})
    assert run["counts"] == {"added": 2, "already_in_list": 1}
    gone = await jobs.run("dissociate_list", {"list_id": lst["id"], "batch_id": batch["id"]})
    assert gone["counts"] == {"removed": 2}  # the one added by hand has no batch
    assert (await (await client.get(f"/lists/{lst['id']}")).json())["members"] == 1
    resp = await jobs.start("dissociate_list", {"list_id": lst["id"]})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "params"


async def test_callback_reassignment_spreads_evenly_with_audit(client, pool, jobs, unique):
    person = await (await client.post("/contacts", json={"name": f"CB {unique}"})).json()
    made = []
    for i in range(5):
        owner = f"u1-{unique}" if i % 2 else f"u2-{unique}"
        made.append(await (await client.post("/callbacks", json={
            "owner_id": owner, "due_at": f"2031-04-0{i + 1}T10:00:00Z", "contact_id": person["id"]})).json())
    targets = [f"u3-{unique}", f"u4-{unique}"]
    params = {"from_users": [f"u1-{unique}", f"u2-{unique}"], "to_users": targets}
    dry = await jobs.run("reassign_callbacks", params, dry_run=True)
    assert dry["counts"] == {"would_reassign": 5}
    run = await jobs.run("reassign_callbacks", params)
    assert run["counts"] == {"reassigned": 5}
    owners = [(await (await client.get(f"/callbacks/{m['id']}")).json())["owner_id"] for m in made]
    assert owners == [targets[0], targets[1], targets[0], targets[1], targets[0]]
    history = await (await client.get(f"/contacts/{person['id']}/history")).json()
    assert history["contact_id"] == person["id"]
    async with pool.acquire() as conn:
        audit = await conn.fetch("SELECT actor, changes FROM crm.audit_log WHERE entity = 'callback' "
                                 "AND action = 'reassigned' AND entity_id = $1", made[0]["id"])
    assert audit[0]["actor"] == "sofia" and json.loads(audit[0]["changes"])["owner_id"] == [f"u2-{unique}",
                                                                                         targets[0]]
    resp = await jobs.start("reassign_callbacks", {"from_users": ["a"], "to_users": ["a", "b"]})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "params"


async def test_mass_close_from_a_file(client, h, jobs, nc, unique):
    camp = await h.put_campaign(CampaignSnapshot(
        id=f"mc-{unique}", name="MC", agents=[f"ana-{unique}"], supervisors=["sofia"],
        permissions={"close_without_reply": True},
        typifications=[Typification(id="spam", category="Spam"), Typification(id="venta", category="Venta")],
        custom_fields=[CustomField(key="monto", label="Monto", required=False)]))
    convs = [f"mc{i}-{unique}" for i in range(3)]
    for cid in convs:
        common = {"conversation_id": cid, "campaign_id": camp.id, "channel_id": f"ch-{unique}",
                  "channel_type": "whatsapp", "contact_address": "+5491150009999"}
        await h.publish(ConversationOpened(**common, seq=1))
        await h.publish(ConversationAssigned(**common, seq=2, agent_id=f"ana-{unique}"))

    async def ready():
        got = [await client.get(f"/conversations/{c}") for c in convs]
        return all(r.status == 200 for r in got)

    await h.eventually(ready)
    await client.post(f"/conversations/{convs[2]}/close", json={"typification_id": "venta"})
    data = "\n".join(["ConversationId,Subcategoría", f"{convs[0]},spam", f"{convs[1]},bogus",
                      f"ghost-{unique},spam", f"{convs[2]},spam", ",", f"{convs[1]},"]).encode()
    up = await jobs.uploaded("cierre.csv", data)
    dry = await jobs.run("mass_close", {"typification_id": "venta"}, up["id"], dry_run=True)
    assert dry["counts"] == {"would_close": 2, "error": 3}
    assert (await (await client.get(f"/conversations/{convs[0]}")).json())["status"] == "assigned"

    sub = await nc.subscribe(f"sb.agent.cmd.close.ana-{unique}")
    await nc.flush()  # subscribed at the server before anything is published
    run = await jobs.run("mass_close", {"typification_id": "venta"}, up["id"])
    assert run["counts"] == {"closed": 2, "error": 3}, run
    rows = {int(r["row"]): r for r in await jobs.outcome(run["id"])}
    assert rows[2]["outcome"] == "closed" and rows[2]["key"] == "spam"
    assert rows[3]["outcome"] == "error" and "bogus" in rows[3]["reason"] and "typification_id" in rows[3]["reason"]
    assert "not found" in rows[4]["reason"] and "already closed" in rows[5]["reason"]
    assert rows[7]["outcome"] == "closed" and rows[7]["key"] == "venta"  # the default typification
    commands = sorted([json.loads((await sub.next_msg(timeout=5)).data)["conversation_id"] for _ in range(2)])
    await sub.unsubscribe()
    assert commands == sorted(convs[:2])
    closed = await (await client.get(f"/conversations/{convs[1]}")).json()
    assert closed["closure"]["typification_id"] == "venta" and closed["closure"]["closed_by"] == "sofia"

    # Agents run no bulk processes: refused before anything is queued.
    resp = await jobs.start("mass_close", {"typification_id": "venta"}, up["id"], user="intruso", role="agent")
    assert resp.status == 403 and (await resp.json())["error"]["field"] == "role"
    no_typ = await jobs.uploaded("ids.csv", f"ConversationId\n{convs[0]}".encode())
    resp = await jobs.start("mass_close", {}, no_typ["id"])
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "params.typification_id"
    wrong = await jobs.uploaded("wrong.csv", b"id,tipo\n1,2")
    resp = await jobs.start("mass_close", {"typification_id": "x"}, wrong["id"])
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "columns"


async def test_field_usage_finder_searches_the_campaigns_scripts_and_tabs(client, h, jobs, unique):
    """Seed 000: the finder reads what agents are shown (the campaign's script and tabs), nothing else."""
    camp = f"fu-{unique}"
    await h.put_campaign(CampaignSnapshot(
        id=camp, name="Bienvenida", script="Hola {{name}}\nsi lblEtiqueta1 > 3 entonces\n¿Cómo nos conoció?",
        tabs=[{"name": "Deuda", "url_template": "https://deuda.example/x?doc={contact_document}&e={contact.custom.lblEtiqueta1}"},
              {"name": "Otra", "url_template": "https://otra.example/{contact.custom.lblEtiqueta10}"}]))
    await h.put_campaign(CampaignSnapshot(id=f"{camp}-b", name="Otra campaña", script="lblEtiqueta1 aquí también"))
    run = await jobs.run("field_usage", {"field": "lblEtiqueta1", "campaign_id": camp})
    rows = await jobs.outcome(run["id"])
    assert [r["reason"].split(":")[0] for r in rows] == [f"script 'Bienvenida', campaign '{camp}', line 2",
                                                          f"tab 'Deuda', campaign '{camp}', line 1"]
    everywhere = await jobs.run("field_usage", {"field": "lblEtiqueta1"})
    assert len(await jobs.outcome(everywhere["id"])) >= 3
    text = await jobs.run("field_usage", {"text": "CÓMO NOS", "campaign_id": camp})
    assert [r["reason"].split(",")[0] for r in await jobs.outcome(text["id"])] == ["script 'Bienvenida'"]
    resp = await jobs.start("field_usage", {"campaign_id": camp})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "params"
    assert (await client.post("/scripts", json={"kind": "script", "name": "x", "body": ""})).status == 404


class HoldAt:
    """The real publisher, holding the runner once a committed step brings ``done`` to ``rows``, until the test
    lets it go: the test acts at a known point of the job, however fast the job runs."""

    def __init__(self, inner: Any, rows: int) -> None:
        self.inner, self.rows = inner, rows
        self.reached, self.release = asyncio.Event(), asyncio.Event()

    async def publish(self, msg: Any) -> None:
        await self.inner.publish(msg)

    async def progress(self, job_id: str, body: dict[str, Any]) -> None:
        await self.inner.progress(job_id, body)
        if body["done"] >= self.rows and not self.reached.is_set():
            self.reached.set()
            await self.release.wait()


def _rows_csv(n: int, unique: str, start: int = 0) -> bytes:
    lines = ["account_number,document,name"]
    lines += [f"R{i}-{unique},DOC{i}-{unique},Persona {i}" for i in range(start, start + n)]
    return "\n".join(lines).encode()


async def test_a_crashed_job_is_resumed_from_its_cursor(client, crm, h, jobs, unique):
    camp = await h.put_campaign(CampaignSnapshot(id=f"cr-{unique}", name="Crash"))
    # The last row repeats the first one's account number: the resumed runner must still know row 2.
    up = await jobs.uploaded("big.csv", _rows_csv(3000, unique) + f"\nR0-{unique},DOCX-{unique},Again".encode())
    # Scheduled in the future, so the service's own runner leaves it to ours.
    resp = await client.post("/processes", json={"kind": "import_accounts", "params": {"campaign_id": camp.id},
                                                 "upload_id": up["id"], "run_at": "2099-01-01T00:00:00Z"})
    job_id = (await resp.json())["id"]
    short = replace(crm, settings=crm.settings.model_copy(update={"job_lease_s": 0.5, "job_chunk_rows": 200}))
    hold = HoldAt(crm.publisher, 400)
    first = JobRunner(replace(short, publisher=hold), KINDS, owner="runner-that-dies")
    job = await first.claim(job_id)
    task = asyncio.create_task(first.execute(job, asyncio.Event()))
    await asyncio.wait_for(hold.reached.wait(), 15)
    task.cancel()  # the runner dies mid-job (the next chunk is being read): its lease is left to expire
    await asyncio.gather(task, return_exceptions=True)
    stuck = await (await client.get(f"/processes/{job_id}")).json()
    assert stuck["status"] == "running" and 0 < stuck["done"] < 3000
    await asyncio.sleep(0.6)
    second = JobRunner(short, KINDS, owner="runner-that-resumes")
    job = await second.claim(job_id)
    assert job is not None and job["attempts"] == 2 and job["cursor"]["row"] == stuck["done"] + 1
    await second.execute(job, asyncio.Event())
    done = await (await client.get(f"/processes/{job_id}")).json()
    assert done["status"] == "succeeded" and done["done"] == 3001
    assert done["counts"] == {"created": 3000, "invalid": 1}
    rows = await jobs.outcome(job_id)
    assert [int(r["row"]) for r in rows] == list(range(2, 3003))
    assert "in the file (first at row 2)" in rows[-1]["reason"]
    accounts = await h.pool.fetchval("SELECT count(*) FROM crm.accounts WHERE campaign_id = $1", camp.id)
    contacts = await h.pool.fetchval("SELECT count(*) FROM crm.contacts WHERE document LIKE $1", f"DOC%-{unique}")
    assert accounts == 3000 and contacts == 3000


async def test_cancel_queued_and_running_jobs(client, crm, h, jobs, unique):
    camp = await h.put_campaign(CampaignSnapshot(id=f"cx-{unique}", name="Cancel"))
    up = await jobs.uploaded("c.csv", _rows_csv(1000, unique))
    later = await client.post("/processes", json={"kind": "import_accounts", "params": {"campaign_id": camp.id},
                                                  "upload_id": up["id"], "run_at": "2099-01-01T00:00:00Z"})
    job_id = (await later.json())["id"]
    cancelled = await (await client.post(f"/processes/{job_id}/cancel")).json()
    assert cancelled["status"] == "cancelled"
    assert (await client.post(f"/processes/{job_id}/cancel")).status == 409
    assert (await client.post("/processes/ghost/cancel")).status == 404

    again = await client.post("/processes", json={"kind": "import_accounts", "params": {"campaign_id": camp.id},
                                                  "upload_id": up["id"], "run_at": "2099-01-01T00:00:00Z"})
    job_id = (await again.json())["id"]
    hold = HoldAt(crm.publisher, 1)
    small = replace(crm, publisher=hold, settings=crm.settings.model_copy(update={"job_chunk_rows": 100}))
    runner = JobRunner(small, KINDS, owner="cancel-test")
    job = await runner.claim(job_id)
    task = asyncio.create_task(runner.execute(job, asyncio.Event()))
    await asyncio.wait_for(hold.reached.wait(), 15)  # the first chunk is in
    await client.post(f"/processes/{job_id}/cancel")
    hold.release.set()
    await task
    final = await (await client.get(f"/processes/{job_id}")).json()
    assert final["status"] == "cancelled" and final["done"] == 100
    rows = await jobs.outcome(job_id)
    assert len(rows) == final["done"]  # what was applied before the cancel is listed, nothing else


async def test_progress_events_and_a_million_rows_in_bounded_memory(client, crm, h, jobs, nc, unique):
    camp = await h.put_campaign(CampaignSnapshot(id=f"m-{unique}", name="Million"))

    async def chunks():
        yield b"account_number,document,name\n"
        block = 20_000
        for start in range(0, 1_000_000, block):
            yield "".join(f"M{i}-{unique},MD{i}-{unique},P {i}\n" for i in range(start, start + block)).encode()

    tracemalloc.start()
    try:
        resp = await client.post("/imports", params={"filename": "million.csv"}, data=chunks())
        assert resp.status == 201, await resp.text()
        up = await resp.json()
        sub = await nc.subscribe("sb.crm.process.>")
        await nc.flush()  # subscribed at the server before anything is published
        job = await (await jobs.start("import_accounts", {"campaign_id": camp.id}, up["id"], dry_run=True)).json()

        async def moving():
            got = await (await client.get(f"/processes/{job['id']}")).json()
            return got if got["done"] >= 3000 else None

        running = await h.eventually(moving)
        await client.post(f"/processes/{job['id']}/cancel")
        final = await jobs.finished(job["id"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert running["total"] == 1_000_000
    assert final["status"] == "cancelled"
    assert peak < 60 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    events = []
    while not events or events[-1]["status"] == "running":
        event = json.loads((await sub.next_msg(timeout=5)).data)
        if event["id"] == job["id"]:
            events.append(event)
    await sub.unsubscribe()
    assert events[-1]["status"] == "cancelled" and events[-1]["total"] == 1_000_000
    assert [e["done"] for e in events] == sorted(e["done"] for e in events) and events[-1]["done"] > 0


def test_bulk_jobs_relax_the_garbage_collector_and_the_last_one_restores_it():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with few_collections():
        with few_collections():
            assert gc.get_threshold()[0] >= 100_000
        assert gc.get_threshold()[0] >= 100_000  # the outer job still runs
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen  # a service's frozen start-up stays

