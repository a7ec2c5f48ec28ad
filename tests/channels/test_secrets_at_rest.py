"""Channel credentials are encrypted in PostgreSQL (AES-256-GCM, key id for rotation): the raw table holds no
plaintext, the API keeps masking them, rows written before are encrypted by the migration, and keys rotate
(old values stay readable, new ones are written with the new key). Each test runs on a database of its own: a
rotation re-encrypts every row of the table."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from libs.core.secretbox import DEV_KEY, SecretBox, SecretBoxError, new_key_spec
from libs.storage.postgres import migrate
from services.channels.app import MIGRATIONS
from services.channels.settings import ChannelsSettings

SECRETS = {"app_secret": "the-app-secret", "verify_token": "the-verify-token", "access_token": "the-access-token"}


@pytest.fixture
async def database(stack: Any) -> AsyncIterator[str]:
    """A fresh database on the session's PostgreSQL."""
    name = f"sealed_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    yield stack.database_url.rsplit("/", 1)[0] + f"/{name}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()


async def _raw(dsn: str, channel_id: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return dict(await conn.fetchrow("SELECT * FROM channels.channel WHERE id = $1", channel_id))
    finally:
        await conn.close()


def _whatsapp(cid: str, suffix: str = "") -> dict[str, Any]:
    return {"id": cid, "type": "whatsapp", "phone_number_id": "1", **{k: v + suffix for k, v in SECRETS.items()}}


async def _signed_webhook_ok(app: Any, cid: str, secret: str) -> bool:
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    resp = await app.post(f"/webhooks/whatsapp/{cid}", data=body, headers={"X-Hub-Signature-256": sig,
                                                                            "Content-Type": "application/json"})
    return resp.status == 200


async def test_the_table_holds_no_plaintext_and_the_api_masks(make_app, database):
    keys = new_key_spec("k1")
    async with make_app(database_url=database, secret_keys=keys) as app:
        resp = await app.post("/channels", json=_whatsapp("enc-1"))
        assert resp.status == 201, await resp.text()
        shown = await (await app.get("/channels/enc-1")).json()
        assert all(shown[k] == "********" for k in SECRETS)
        row = await _raw(database, "enc-1")
        for name, plaintext in SECRETS.items():
            assert row[name].startswith("sb1:k1:") and plaintext not in row[name]
        assert not any(p in str(row) for p in SECRETS.values())
        assert row["auth_token"] is None and row["smtp_password"] is None
        assert await _signed_webhook_ok(app, "enc-1", SECRETS["app_secret"])  # decrypted where it is used
        # PostgreSQL itself refuses a plaintext secret from now on.
        conn = await asyncpg.connect(database)
        try:
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute("UPDATE channels.channel SET access_token = 'plain' WHERE id = 'enc-1'")
        finally:
            await conn.close()
        # A value moved to another column (or row) does not open.
        box = SecretBox.parse(keys)
        with pytest.raises(SecretBoxError, match="changed or moved"):
            box.decrypt(row["app_secret"], "channels.channel:enc-1:access_token")
        assert box.decrypt(row["app_secret"], "channels.channel:enc-1:app_secret") == SECRETS["app_secret"]


async def test_keys_rotate_old_values_stay_readable_new_ones_use_the_new_key(make_app, database):
    k1, k2 = new_key_spec("k1"), new_key_spec("k2")
    async with make_app(database_url=database, secret_keys=k1) as app:
        assert (await app.post("/channels", json=_whatsapp("rot-old"))).status == 201
    assert (await _raw(database, "rot-old"))["app_secret"].startswith("sb1:k1:")
    # Step 1 of a rotation: the new key is added, the old one still current: nothing changes.
    async with make_app(database_url=database, secret_keys=f"{k1},{k2}") as app:
        assert (await _raw(database, "rot-old"))["app_secret"].startswith("sb1:k1:")
        assert await _signed_webhook_ok(app, "rot-old", SECRETS["app_secret"])
    # Step 2: the new key first. Old values are read with k1 and re-encrypted with k2; new writes use k2.
    async with make_app(database_url=database, secret_keys=f"{k2},{k1}") as app:
        assert (await _raw(database, "rot-old"))["app_secret"].startswith("sb1:k2:")
        assert await _signed_webhook_ok(app, "rot-old", SECRETS["app_secret"])
        assert (await app.post("/channels", json=_whatsapp("rot-new", "-2"))).status == 201
        fresh = await _raw(database, "rot-new")
        assert all(fresh[k].startswith("sb1:k2:") for k in SECRETS)
        resp = await app.put("/channels/rot-old", json={"access_token": "changed", "app_secret": "********"})
        assert resp.status == 200, await resp.text()
    row = await _raw(database, "rot-old")
    assert row["access_token"].startswith("sb1:k2:") and "changed" not in row["access_token"]
    # Step 3: k1 retired. Everything still opens.
    async with make_app(database_url=database, secret_keys=k2) as app:
        assert await _signed_webhook_ok(app, "rot-old", SECRETS["app_secret"])
        assert await _signed_webhook_ok(app, "rot-new", SECRETS["app_secret"] + "-2")
    # A replica that lacks the current key does not start (and says why) rather than serve without secrets.
    with pytest.raises(SecretBoxError, match="encrypted with key 'k2', which is not configured"):
        async with make_app(database_url=database, secret_keys=k1):
            pass


async def test_the_migration_encrypts_rows_written_before(make_app, database, tmp_path: Path):
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if int(path.name[:3]) < 5:  # the schema as it was before encryption at rest
            shutil.copy(path, before / path.name)
    pool = await asyncpg.create_pool(database, min_size=1, max_size=2)
    try:
        await migrate(pool, "channels", before)
        await pool.execute("INSERT INTO channels.channel (id, type, app_secret, verify_token, access_token, "
                           "phone_number_id) VALUES ('legacy', 'whatsapp', $1, $2, $3, '1')", *SECRETS.values())
    finally:
        await pool.close()
    assert (await _raw(database, "legacy"))["app_secret"] == SECRETS["app_secret"]
    async with make_app(database_url=database, secret_keys=new_key_spec("k1")) as app:
        row = await _raw(database, "legacy")
        assert all(row[k].startswith("sb1:k1:") for k in SECRETS) and not any(p in str(row) for p in SECRETS.values())
        assert await _signed_webhook_ok(app, "legacy", SECRETS["app_secret"])
        assert (await (await app.get("/channels/legacy")).json())["app_secret"] == "********"
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT convalidated FROM pg_constraint WHERE conname = 'channel_secrets_sealed'")
    finally:
        await conn.close()


def test_production_needs_real_keys_and_a_bad_key_list_is_refused():
    base = {"env": "production", "public_base_url": "https://hooks.example.com"}
    with pytest.raises(ValueError, match="SB_CHANNELS_SECRET_KEYS must be set"):
        ChannelsSettings(**base)
    dev = "mine:" + base64.urlsafe_b64encode(DEV_KEY).decode()  # the development key under another name
    with pytest.raises(ValueError, match="SB_CHANNELS_SECRET_KEYS must be set"):
        ChannelsSettings(**base, secret_keys=dev)
    assert ChannelsSettings(**base, secret_keys=new_key_spec("k1")).secret_box().current == "k1"
    assert ChannelsSettings(env="development").secret_box().current == "dev"
    for bad, reason in (("k1", "<id>:<base64 key>"), ("k1:AAAA", "has 3 bytes"), ("k1:***", "not base64"),
                        (f"{new_key_spec('k1')},{new_key_spec('k1')}", "used twice")):
        with pytest.raises(ValueError, match=reason):
            ChannelsSettings(secret_keys=bad)
