"""``switchboard import`` against a running CRM: upload, dry run, import, progress to the end, outcome file."""

from __future__ import annotations

import csv
import uuid

from libs.cli.processes import ProcessError, run_import
from libs.core import demo


def _write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


async def test_cli_import_dry_run_then_run_with_per_row_outcome(platform, tmp_path):
    await platform.start("campaigns", "crm")
    crm = platform.url("crm")
    u = uuid.uuid4().hex[:8]
    path = _write_csv(tmp_path / "cuentas.csv", [
        ["account_number", "document", "name", "phone", "balance"],
        [f"A-{u}-1", f"D{u}1", "Lucía Pérez", "+34600111222", "1.234,50"],
        [f"A-{u}-2", f"D{u}2", "Mario Gómez", "+34600111333", "20"],
        ["", f"D{u}3", "Sin Cuenta", "+34600111444", "5"],
        [f"A-{u}-1", f"D{u}1", "Lucía Pérez", "+34600111222", "1.234,50"],
        [f"A-{u}-4", f"D{u}4", "Fecha Mala", "+34600111555", "not-a-number"],
    ])
    params = {"campaign_id": demo.CAMPAIGN_ID, "mode": "template"}

    dry = await run_import(crm, path, "import_accounts", params, True, tmp_path / "dry.csv", show=False)
    assert dry["status"] == "succeeded"
    # The repeated account in the file is refused as a duplicate inside the file.
    assert dry["counts"] == {"new": 2, "invalid": 3}, dry

    run = await run_import(crm, path, "import_accounts", params, False, tmp_path / "run.csv", show=False)
    assert run["status"] == "succeeded" and run["done"] == 5
    with (tmp_path / "run.csv").open(encoding="utf-8-sig") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 5
    by_row = {int(line["row"]): line for line in lines}
    assert by_row[4]["outcome"] == "invalid" and "account_number" in by_row[4]["reason"]
    assert by_row[6]["outcome"] == "invalid" and "balance" in by_row[6]["reason"]
    assert by_row[5]["outcome"] == "invalid" and "duplicate" in by_row[5]["reason"], by_row[5]
    assert by_row[2]["outcome"] != "invalid" and by_row[3]["outcome"] != "invalid"


async def test_cli_import_refuses_an_unknown_campaign_by_field(platform, tmp_path):
    await platform.start("campaigns", "crm")
    path = _write_csv(tmp_path / "x.csv", [["account_number"], ["1"]])
    try:
        await run_import(platform.url("crm"), path, "import_accounts",
                         {"campaign_id": "no-such-campaign", "mode": "template"}, False, None, show=False)
    except ProcessError as exc:
        assert "campaign_id" in str(exc)
    else:
        raise AssertionError("an unknown campaign was accepted")
