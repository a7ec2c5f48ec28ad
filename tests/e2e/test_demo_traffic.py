"""``switchboard demo --traffic`` on the running platform: contacts arrive, agents answer, transfer and close,
some wait too long and are abandoned; the dashboard and the reports fill in from the durable record."""

from __future__ import annotations

from aiohttp import ClientSession

from libs.cli.traffic import Client, Plan, run_traffic
from libs.core import demo


async def test_traffic_fills_the_dashboard(platform):
    await platform.start("campaigns", "channels", "router", "crm", "gateway")
    lines: list[str] = []
    # A simulated 6 minutes at 90 contacts an hour, 30x faster: about 9 contacts in 12 s.
    plan = Plan(hours=0.1, speed=30, contacts_per_hour=90, aht_s=60, answer_s=5, transfer_share=0.3,
                max_wait_s=90, seed=7)
    assert await run_traffic(platform.url("gateway"), platform.url("channels"), plan, say=lines.append) == 0, \
        platform.logs()
    async with ClientSession() as http:
        sofia = await Client(http, platform.url("gateway")).login("sofia", "sofia-demo-pass")
        board = await sofia.call("GET", f"/dashboard?campaign_id={demo.CAMPAIGN_ID}")
        report = await sofia.call("GET", f"/reports/kpis?campaign_id={demo.CAMPAIGN_ID}&interval=15")
    arrivals = int(lines[-3].split()[1].rstrip(","))
    assert arrivals >= 3, lines
    totals = board["totals"]
    assert totals["offered"] >= arrivals - 1 and totals["answered"] >= 1, (lines, totals)
    assert totals["aht_s"] and totals["occupancy"], totals
    assert sum(r["offered"] for r in report["items"]) == totals["offered"]
    assert any(p["offered"] for p in board["series"])
