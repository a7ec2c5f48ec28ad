"""The supervisor's dashboard and reports through the gateway, against the real CRM: the hand-computed synthetic
day of tests/crm/test_reports.py gives the same numbers on /api/v1/dashboard and in the report download; a
supervisor sees and acts only on their own campaigns, at the gateway (the CRM checks again: tests/crm)."""

from __future__ import annotations

import asyncio
import csv
import io

from libs.contracts import CampaignSnapshot
from libs.contracts.campaigns import Routing
from services.crm.keys import CRM
from services.gateway.routes import GATEWAY

from ..crm.test_reports import DAY, DAY_TOTAL, synthetic_day
from .conftest import bearer
from .test_console_browser import eventually


async def test_dashboard_and_download_agree_with_the_hand_computed_day(crm_gw, real_crm, make_user, nats_js, unique,
                                                                     router_peer):
    u = unique
    _, js = nats_js
    sup, other, agent = await make_user("supervisor"), await make_user("supervisor"), await make_user("agent")
    camp = f"camp-{u}"
    snap = CampaignSnapshot(id=camp, name=f"Reportes {u}", agents=[f"ana-{u}", f"bruno-{u}", agent],
                            supervisors=[sup], routing=Routing(service_level_threshold_s=20))
    await (await js.key_value("campaigns")).put(camp, snap.model_dump_json().encode())
    gw, crm = crm_gw.app[GATEWAY], real_crm.app[CRM]
    await eventually(lambda: gw.directory.get(camp) and crm.campaigns.get(camp), "both watched the snapshot")
    events, statuses = synthetic_day(u)
    for e in events:
        await js.publish(e.subject(), e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.msg_id()})
    for s in statuses:
        await js.publish(s.subject(), s.model_dump_json().encode(), headers={"Nats-Msg-Id": s.id})
    tokens = {k: gw.tokens.issue((await gw.users.get(v)).principal, "access")
              for k, v in (("sup", sup), ("other", other), ("agent", agent))}
    day = {"date": DAY, "tz": "Europe/Madrid"}

    async def dashboard(token: str, **params: str):
        return await crm_gw.get("/api/v1/dashboard", params={**day, **params}, headers=bearer(token))

    # The CRM folds the day's events one by one (offered first, answers later): wait, up to 30 s, until the whole
    # day is in, then compare. A partly folded day (e.g. 6 offered and 3 of 4 answered) is not the day.
    totals: dict = {}
    for _ in range(300):
        body = await (await dashboard(tokens["sup"])).json()
        totals = {k: (body.get("totals") or {}).get(k) for k in DAY_TOTAL}
        if totals == DAY_TOTAL:
            break
        await asyncio.sleep(0.1)
    assert totals == DAY_TOTAL, "the CRM never recorded the whole day"
    assert [c["id"] for c in body["campaigns"]] == [camp]
    assert body["campaigns"][0]["target"] == {"threshold_s": 20, "target_pct": 80}
    assert {k: body["campaigns"][0]["kpis"][k] for k in DAY_TOTAL} == DAY_TOTAL
    assert len(body["series"]) == 96

    params = {"from": DAY, "to": DAY, "tz": "Europe/Madrid", "interval": "day", "format": "csv"}
    resp = await crm_gw.get("/api/v1/reports/kpis", params=params, headers=bearer(tokens["sup"]))
    assert resp.status == 200, await resp.text()
    line = next(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert {k: float(line[k]) for k in DAY_TOTAL} == {k: float(v) for k, v in DAY_TOTAL.items()}

    # Another supervisor: refused on our campaign by name, and shown nothing of it by default.
    resp = await dashboard(tokens["other"], campaign_id=camp)
    assert resp.status == 403 and (await resp.json())["error"]["field"] == "campaign_id"
    resp = await crm_gw.get("/api/v1/reports/kpis", params={"campaign_id": camp}, headers=bearer(tokens["other"]))
    assert resp.status == 403 and (await resp.json())["error"]["field"] == "campaign_id"
    mine = await (await dashboard(tokens["other"])).json()
    assert mine["campaigns"] == [] and mine["agents"] == []
    resp = await crm_gw.get("/api/v1/reports/forecast", params={"campaign_id": camp}, headers=bearer(tokens["other"]))
    assert resp.status == 403
    # An agent: none of it.
    assert (await dashboard(tokens["agent"])).status == 403
    resp = await crm_gw.get("/api/v1/reports/dashboard", headers=bearer(tokens["agent"]))
    assert resp.status == 403

    # Supervisor actions: the state of an agent of their campaign, carried out by the router; not another's.
    before = len(router_peer.received("PUT", f"/agents/{agent}/status"))
    resp = await crm_gw.put(f"/api/v1/agents/{agent}/status", json={"status": "break", "reason": "Reunión"},
                            headers=bearer(tokens["sup"]))
    assert resp.status == 200, await resp.text()
    sent = router_peer.received("PUT", f"/agents/{agent}/status")
    assert len(sent) == before + 1 and sent[-1]["body"] == {"status": "break", "reason": "Reunión"}
    resp = await crm_gw.put(f"/api/v1/agents/{agent}/status", json={"status": "offline"},
                            headers=bearer(tokens["other"]))
    assert resp.status == 403 and (await resp.json())["error"]["field"] == "agent_id"
    resp = await crm_gw.put(f"/api/v1/agents/{agent}/status", json={"status": "dancing"}, headers=bearer(tokens["sup"]))
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "status"
    assert len(router_peer.received("PUT", f"/agents/{agent}/status")) == before + 1
    resp = await crm_gw.put(f"/api/v1/agents/{sup}/status", json={"status": "offline"},
                            headers=bearer(tokens["agent"]))
    assert resp.status == 403
