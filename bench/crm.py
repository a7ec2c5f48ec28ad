"""CRM benchmark: contact lookup by phone among 1,000,000 contacts (p99), and a 100,000-row export.

Runs against ``SB_DATABASE_URL`` when set (it adds rows to the ``crm`` schema there), otherwise starts an
embedded PostgreSQL in a temporary folder. The export is measured in a child process so its peak memory
(max RSS) is the export's own, not the loader's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

CONTACTS = 1_000_000
EXPORT_ROWS = 100_000
LOOKUPS = 2_000
CHUNK = 50_000
EXPORT_COMPANY = "bench-export"


def _phone(i: int) -> str:
    return f"+54911{40000000 + i:08d}"


def _contacts(start: int, stop: int, run: str) -> Iterator[tuple[Any, ...]]:
    for i in range(start, stop):
        company = EXPORT_COMPANY if i < EXPORT_ROWS else f"company-{i % 5000}"
        name = f"=cmd|' /C calc'!A{i}" if i % 1000 == 0 else f"Contact {i}"
        yield (f"{run}-{i}", name, f"DNI{i}", company, json.dumps({"segment": i % 7}), ["bench"])


async def _load(pool: asyncpg.Pool, run: str, total: int) -> float:
    t0 = time.perf_counter()
    async with pool.acquire() as conn:
        for start in range(0, total, CHUNK):
            stop = min(start + CHUNK, total)
            await conn.copy_records_to_table(
                "contacts", schema_name="crm", records=_contacts(start, stop, run),
                columns=["id", "name", "document", "company", "custom", "tags"])
            await conn.copy_records_to_table(
                "contact_addresses", schema_name="crm",
                records=((f"{run}-{i}", "phone", "", _phone(i), _phone(i), None, 0) for i in range(start, stop)),
                columns=["contact_id", "kind", "network", "value", "raw", "label", "position"])
            print(f"  loaded {stop:,} contacts", file=sys.stderr, flush=True)
        await conn.execute("ANALYZE crm.contacts; ANALYZE crm.contact_addresses")
    return time.perf_counter() - t0


def _crm(pool: asyncpg.Pool) -> Any:
    from libs.messaging import SnapshotDirectory
    from services.crm.adapters.postgres.uow import unit_of_work
    from services.crm.handlers import Crm
    from services.crm.settings import CrmSettings

    return Crm(settings=CrmSettings(default_region="AR"), campaigns=SnapshotDirectory(),
               publisher=None, blobs=None, exports=None, uow=unit_of_work(pool))  # type: ignore[arg-type]


async def _lookups(pool: asyncpg.Pool, total: int) -> list[float]:
    from services.crm.domain.contacts import ContactFilter
    from services.crm.handlers import contacts

    crm = _crm(pool)
    rng = random.Random(7)
    timings: list[float] = []
    for n in range(LOOKUPS):
        i = rng.randrange(total)
        raw = _phone(i) if n % 2 else f"011 15-{4000 + i // 10000:04d}-{i % 10000:04d}"
        t0 = time.perf_counter()
        found = await contacts.match(crm, ContactFilter(phone=raw))
        timings.append((time.perf_counter() - t0) * 1000)
        assert found["result"] == "one", (raw, found["result"])
    return timings


async def _export_child(dsn: str, fmt: str) -> None:
    from services.crm.adapters.postgres.exports import ExportRows
    from services.crm.domain.contacts import ContactFilter
    from services.crm.handlers import exports

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    rows = ExportRows(pool).contacts(ContactFilter(company=EXPORT_COMPANY))
    size = 0
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        async for chunk in exports.export(rows, fmt, "contacts"):
            size += len(chunk)
            sink.write(chunk)
    elapsed = time.perf_counter() - t0
    await pool.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "bytes": size}))


def _export(dsn: str, fmt: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.crm", "--export-child", fmt, "--dsn", dsn],
                         check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _main(dsn: str, total: int) -> None:
    from libs.storage import migrate
    from services.crm.app import MIGRATIONS

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    await migrate(pool, "crm", MIGRATIONS)
    run = f"b{int(time.time())}"
    load_s = await _load(pool, run, total)
    print(f"  load of {total:,} contacts with phones: {load_s:.1f} s", file=sys.stderr)
    timings = await _lookups(pool, total)
    await pool.close()
    results = {fmt: _export(dsn, fmt) for fmt in ("csv", "xlsx")}
    p50, p99 = _percentile(timings, 50), _percentile(timings, 99)
    print(f"contacts: {total:,}; lookups: {len(timings)}; lookup p50 {p50:.2f} ms")
    for fmt, r in results.items():
        print(f"export {fmt}: {EXPORT_ROWS:,} rows, {r['bytes'] / 1e6:.1f} MB file")
    print(f"crm_lookup_by_phone_p99: {p99:.2f} ms (target: < 5 ms)")
    for fmt, r in results.items():
        print(f"crm_export_{fmt}_100k_time: {r['seconds']:.2f} s (target: < 10 s)")
        print(f"crm_export_{fmt}_100k_peak_memory: {r['peak_mb']:.0f} MB (target: < 200 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--export-child", choices=("csv", "xlsx"))
    parser.add_argument("--dsn")
    parser.add_argument("--contacts", type=int, default=CONTACTS)
    args = parser.parse_args()
    if args.export_child:
        asyncio.run(_export_child(args.dsn, args.export_child))
        return
    dsn = os.environ.get("SB_DATABASE_URL")
    if dsn:
        asyncio.run(_main(dsn, args.contacts))
        return
    from libs.devstack import DevStack

    with tempfile.TemporaryDirectory(prefix="sb-bench-crm-") as folder:
        os.chmod(folder, 0o755)
        stack = DevStack(Path(folder))
        info = stack.start()
        try:
            asyncio.run(_main(info.database_url, args.contacts))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
