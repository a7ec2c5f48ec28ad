"""Pool sizes and the migration policy come from settings: migrate at start-up (development) or wait for the
migrate Job (production, SB_MIGRATE_ON_START=false)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from libs.core.settings import ServiceSettings
from libs.storage import PG_POOL, create_pool, migrate, pg_pool_ctx
from libs.storage.postgres import MigrationsMissing, pending


def _folder(tmp_path: Path, table: str) -> Path:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "001_create.sql").write_text(f"CREATE TABLE {table} (id int PRIMARY KEY);")
    (folder / "002_seed.sql").write_text(f"INSERT INTO {table} VALUES (1);")
    return folder


async def _open(settings: ServiceSettings, migrations: tuple[str, Path]) -> tuple[web.Application, object]:
    app = web.Application()
    ctx = pg_pool_ctx(settings, migrations=migrations)(app)
    await anext(ctx)
    return app, ctx


async def test_pool_sizes_come_from_settings(stack, tmp_path, unique):
    settings = ServiceSettings(database_url=stack.database_url, database_pool_min=2, database_pool_max=3)
    app, ctx = await _open(settings, (f"svc_{unique}", _folder(tmp_path, f"t_{unique}")))
    try:
        pool = app[PG_POOL]
        assert (pool.get_min_size(), pool.get_max_size()) == (2, 3)
    finally:
        await anext(ctx, None)


async def test_migrate_on_start_both_ways(stack, tmp_path, unique):
    folder = _folder(tmp_path, f"t_{unique}")
    service = f"svc_{unique}"
    waiting = ServiceSettings(database_url=stack.database_url, migrate_on_start=False, migrate_wait_s=0.5)
    with pytest.raises(MigrationsMissing, match=r"001_create.sql, 002_seed.sql.*switchboard migrate"):
        await _open(waiting, (service, folder))
    # Started while the Job has not run yet: it waits, and goes on once the Job has migrated.
    patient = waiting.model_copy(update={"migrate_wait_s": 30.0})
    opening = asyncio.create_task(_open(patient, (service, folder)))
    await asyncio.sleep(1.5)
    assert not opening.done()
    job = await create_pool(stack.database_url)
    try:
        assert await migrate(job, service, folder) == ["001_create.sql", "002_seed.sql"]
        app, ctx = await asyncio.wait_for(opening, 10)
        assert await app[PG_POOL].fetchval(f"SELECT count(*) FROM t_{unique}") == 1
        await anext(ctx, None)
        (folder / "003_more.sql").write_text(f"INSERT INTO t_{unique} VALUES (2);")
        assert await pending(job, service, folder) == ["003_more.sql"]
        # The development default migrates by itself.
        app, ctx = await _open(ServiceSettings(database_url=stack.database_url), (service, folder))
        assert await pending(job, service, folder) == []
        await anext(ctx, None)
    finally:
        await job.close()
