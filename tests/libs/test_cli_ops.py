"""The operator commands against the real stack: migrate, dlq, streams, user, up (restarts) and config check."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import signal
import sys
from pathlib import Path

import asyncpg
import pytest

from libs.cli import config_check
from libs.contracts import InboundMessage
from libs.core.errors import Invalid
from libs.devstack import free_port
from libs.messaging import publish, run_consumer

ROOT = Path(__file__).resolve().parents[2]


async def cli(*argv: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> tuple[int, str, str]:
    # Only the settings a test gives: none of this process's SB_* variables leak into the command.
    base = {k: v for k, v in os.environ.items() if not k.startswith("SB_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libs.cli.main", *argv, cwd=ROOT, env={**base, **(env or {})},
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def fresh_db(stack, unique) -> str:
    """An empty database on the session's PostgreSQL."""
    name = f"cli_{unique}"
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return stack.database_url.rsplit("/", 1)[0] + f"/{name}"


async def test_migrate_applies_every_schema_once_and_one_service_on_demand(fresh_db):
    code, out, err = await cli("migrate", "--service", "crm", "--database-url", fresh_db)
    assert code == 0, err
    assert out.startswith("crm: 001_") and "gateway" not in out
    code, out, err = await cli("migrate", "--database-url", fresh_db)
    assert code == 0, err
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert set(lines) == {"campaigns", "channels", "crm", "gateway", "router", "scheduler", "deadletters"} - \
        ({"router"} if not (ROOT / "services/router/migrations").is_dir() else set())
    assert lines["crm"] == "up to date" and lines["gateway"].startswith("001_")
    conn = await asyncpg.connect(fresh_db)
    try:
        applied = {r["service"] for r in await conn.fetch("SELECT DISTINCT service FROM schema_migrations")}
        assert applied == set(lines)
        assert await conn.fetchval("SELECT count(*) FROM ops.dead_letter_replays") == 0
    finally:
        await conn.close()
    code, out, _ = await cli("migrate", "--database-url", fresh_db)
    assert code == 0 and set(out.strip().splitlines()) == {f"{n}: up to date" for n in lines}


def _inbound(unique: str, n: int = 1) -> InboundMessage:
    return InboundMessage(channel_id=f"ch-{unique}", channel_type="whatsapp", contact_address="+34600000009",
                          provider_message_id=f"wamid.cli.{unique}.{n}", text="hola")


async def test_dlq_list_show_replay_with_audit_and_streams_shows_lag(stack, nats_js, unique, fresh_db):
    _, js = nats_js
    env = {"SB_NATS_URL": stack.nats_url, "SB_DATABASE_URL": fresh_db}
    durable = f"t-cli-{unique}"
    subject = f"sb.inbound.whatsapp.ch-{unique}"
    fixed = asyncio.Event()
    handled: list[str] = []

    async def handler(event):
        if not fixed.is_set():
            raise Invalid("no campaign serves this channel", field="channel_id")
        handled.append(event.provider_message_id)

    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, handler=handler, stop=stop,
                                            filter_subject=subject))
    try:
        await publish(js, _inbound(unique))
        rows: list = []
        for _ in range(50):
            code, out, err = await cli("dlq", "list", "--consumer", durable, "--json", env=env)
            assert code == 0, err
            rows = json.loads(out)
            if rows:
                break
            await asyncio.sleep(0.2)
        assert len(rows) == 1 and rows[0]["stream"] == "INBOUND" and "no campaign" in rows[0]["reason"]
        seq = rows[0]["sequence"]
        code, out, _ = await cli("dlq", "list", "--consumer", durable, "--reason", "NO CAMPAIGN", env=env)
        assert code == 0 and str(seq) in out and "no campaign serves" in out
        code, out, _ = await cli("dlq", "list", "--consumer", durable, "--reason", "timeout", env=env)
        assert code == 0 and "(none)" in out
        code, out, _ = await cli("dlq", "show", str(seq), env=env)
        assert code == 0 and json.loads(out)["payload"]["provider_message_id"] == f"wamid.cli.{unique}.1"
        code, _, err = await cli("dlq", "show", "999999999", env=env)
        assert code == 1 and "no dead letter 999999999" in err

        fixed.set()
        code, out, err = await cli("dlq", "replay", str(seq), "--actor", "ops-tester", env=env)
        assert code == 0, err
        assert f"{seq}: replayed to {subject} for {durable}" in out
        for _ in range(50):
            if handled:
                break
            await asyncio.sleep(0.1)
        assert handled == [f"wamid.cli.{unique}.1"]
        code, out, _ = await cli("dlq", "replay", str(seq), "--actor", "ops-tester", env=env)
        assert code == 0 and "duplicate" in out
        await asyncio.sleep(1)
        assert handled == [f"wamid.cli.{unique}.1"]
        conn = await asyncpg.connect(fresh_db)
        try:
            audit = await conn.fetch("SELECT actor, via, duplicate, consumer FROM ops.dead_letter_replays "
                                     "WHERE dlq_sequence = $1 ORDER BY id", seq)
        finally:
            await conn.close()
        assert [(r["actor"], r["via"], r["duplicate"], r["consumer"]) for r in audit] == [
            ("ops-tester", "cli", False, durable), ("ops-tester", "cli", True, durable)]
    finally:
        stop.set()
        await task

    # Lag: a consumer that is behind shows its pending count.
    lagging = f"t-lag-{unique}"
    from libs.messaging import ensure_consumer

    await ensure_consumer(js, "INBOUND", lagging, f"sb.inbound.whatsapp.lag-{unique}")
    for n in range(3):
        await publish(js, InboundMessage(channel_id=f"lag-{unique}", channel_type="whatsapp",
                                         contact_address="+34600000010", provider_message_id=f"lag.{unique}.{n}"))
    code, out, err = await cli("streams", "--json", env=env)
    assert code == 0, err
    streams = {s["stream"]: s for s in json.loads(out)}
    assert {"INBOUND", "OUTBOUND", "CONVERSATIONS", "DEADLETTER"} <= set(streams)
    consumer = next(c for c in streams["INBOUND"]["consumers"] if c["name"] == lagging)
    assert consumer["pending"] == 3 and consumer["replicas"] >= 1
    code, out, _ = await cli("streams", env=env)
    assert code == 0 and re.search(rf"{lagging}\s+3\s+0\s+\d", out), out


async def test_user_create_reset_and_deactivate(fresh_db, unique):
    env = {"SB_DATABASE_URL": fresh_db}
    assert (await cli("migrate", "--service", "gateway", env=env))[0] == 0
    code, out, err = await cli("user", "create", f"op{unique}", "--role", "admin", env=env)
    assert code == 0, err
    created = json.loads(out)
    assert created["created"]["role"] == "admin" and len(created["password"]) >= 20
    code, _, err = await cli("user", "create", f"op{unique}", "--role", "admin", env=env)
    assert code == 1 and "already exists" in err
    code, _, err = await cli("user", "create", "Bad Name", "--id", f"bad-{unique}", "--role", "agent", env=env)
    assert code == 2 and "username" in err
    code, out, err = await cli("user", "reset-password", f"op{unique}", "--password-stdin", env=env,
                               stdin=b"a-new-password-123\n")
    assert code == 0 and "password" not in json.loads(out), err
    code, out, _ = await cli("user", "deactivate", f"op{unique}", env=env)
    assert code == 0 and json.loads(out)["deactivated"]["active"] is False
    code, _, err = await cli("user", "deactivate", "nobody-here", env=env)
    assert code == 1 and "no user" in err
    from services.gateway.security import verify_password

    conn = await asyncpg.connect(fresh_db)
    try:
        row = await conn.fetchrow("SELECT password_hash, active FROM gateway.users WHERE username = $1", f"op{unique}")
    finally:
        await conn.close()
    assert row["active"] is False
    assert verify_password(row["password_hash"], "a-new-password-123")
    assert not verify_password(row["password_hash"], created["password"])


async def _read_until(stream: asyncio.StreamReader, pattern: str, seen: list[str], timeout: float = 60) -> re.Match:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        line = await asyncio.wait_for(stream.readline(), max(0.1, deadline - loop.time()))
        if not line:
            break
        text = line.decode(errors="replace")
        seen.append(text)
        found = re.search(pattern, text)
        if found:
            return found
    raise AssertionError(f"{pattern!r} never appeared:\n{''.join(seen[-40:])}")


async def _up(stack, tmp_path: Path, *extra: str) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = {**os.environ, **stack.env(), "SB_SCHEDULER_PORT": str(port), "SB_SANDBOX_PORT": str(free_port()),
           "COLUMNS": "200", "SB_SHUTDOWN_BUDGET_S": "4"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libs.cli.main", "up", "--only", "scheduler", "--no-demo", "--data", str(tmp_path),
        *extra, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    return proc, port


async def test_up_restarts_a_killed_service_and_says_which_and_why(stack, tmp_path):
    os.chmod(tmp_path, 0o755)
    proc, _ = await _up(stack, tmp_path)
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        first = int((await _read_until(proc.stdout, r"scheduler\s+> started \(pid (\d+)\)", seen)).group(1))
        await _read_until(proc.stdout, r"scheduler\s+│?\s*ready|Switchboard is up", seen)
        os.kill(first, signal.SIGKILL)
        await _read_until(proc.stdout, r"scheduler\s+> killed by SIGKILL after [\d.]+ s.*restart 1 in 1 s", seen)
        second = int((await _read_until(proc.stdout, r"scheduler\s+> started \(pid (\d+)\)", seen)).group(1))
        assert second != first
        await _read_until(proc.stdout, r"service_started", seen)
        proc.send_signal(signal.SIGINT)
        await _read_until(proc.stdout, r"Stopped\.", seen)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_up_exit_on_crash_stops_everything(stack, tmp_path):
    os.chmod(tmp_path, 0o755)
    proc, _ = await _up(stack, tmp_path, "--exit-on-crash")
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        pid = int((await _read_until(proc.stdout, r"scheduler\s+> started \(pid (\d+)\)", seen)).group(1))
        await _read_until(proc.stdout, r"Switchboard is up", seen)
        os.kill(pid, signal.SIGKILL)
        await _read_until(proc.stdout, r"killed by SIGKILL .*stopping everything \(--exit-on-crash\)", seen)
        assert await asyncio.wait_for(proc.wait(), 30) == 1
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---- config check -------------------------------------------------------------------------------------------

GOOD = {
    "SB_ENV": "production", "SB_NATS_URL": "nats://nats:4222", "SB_REDIS_URL": "redis://redis:6379/0",
    "SB_DATABASE_URL": "postgresql://sb@postgres-rw:5432/switchboard",
    "SB_GATEWAY_ROUTER_URL": "http://router:8082", "SB_GATEWAY_CAMPAIGNS_URL": "http://campaigns:8084",
    "SB_GATEWAY_CRM_URL": "http://crm:8085", "SB_GATEWAY_CHANNELS_URL": "http://channels:8086",
    "SB_ROUTER_CRM_URL": "http://crm:8085", "SB_CHANNELS_ROUTER_URL": "http://router:8082",
    "SB_GATEWAY_JWT_SECRET": "x" * 48,
    "SB_CHANNELS_SECRET_KEYS": "k1:" + "A" * 43 + "=", "SB_CHANNELS_PUBLIC_BASE_URL": "https://hooks.example.com",
    "SB_CHANNELS_BLOB_DIR": "/tmp/blobs", "SB_CRM_BLOB_DIR": "/tmp/crm-blobs", "SB_BLOB_URL": "s3://sb-blobs",
}
BAD = {  # setting -> a production misconfiguration of it (None: left unset)
    "SB_ENV": "development",
    "SB_NATS_URL": "nats://127.0.0.1:4222",
    "SB_DATABASE_URL": None,
    "SB_GATEWAY_CRM_URL": "http://localhost:8085",
    "SB_ROUTER_CRM_URL": None,
    "SB_CHANNELS_ROUTER_URL": "http://127.0.0.1:8082",
    "SB_GATEWAY_JWT_SECRET": config_check.DEV_JWT_SECRET,
    "SB_CHANNELS_SECRET_KEYS": None,
    "SB_CHANNELS_PUBLIC_BASE_URL": None,
    "SB_CHANNELS_BLOB_DIR": ".data/blobs",
    "SB_CRM_BLOB_DIR": None,
    "SB_BLOB_URL": "",
}


def test_config_check_constants_match_the_services():
    from libs.core.secretbox import DEV_KEY_ID
    from services.gateway.settings import DEV_JWT_SECRET

    assert config_check.DEV_JWT_SECRET == DEV_JWT_SECRET and config_check.DEV_SECRET_KEY_ID == DEV_KEY_ID


async def test_config_check_on_the_environment_names_each_misconfiguration():
    code, out, err = await cli("config", "check", env=GOOD)
    assert code == 0 and "no production misconfiguration" in out, out + err
    for setting, bad in BAD.items():
        env = {k: v for k, v in GOOD.items() if k != setting}
        if bad is not None:
            env[setting] = bad
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SB_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "libs.cli.main", "config", "check", cwd=ROOT, env={**clean, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out_b, _ = await proc.communicate()
        assert proc.returncode == 1, setting
        assert f": {setting}: " in out_b.decode(), (setting, out_b.decode())


def _prod() -> list[dict]:
    return config_check.render(ROOT / "deploy" / "k8s" / "overlays" / "prod")


def _complete(docs: list[dict]) -> list[dict]:
    """The production overlay with every checked setting given a production value (in each container)."""
    docs = copy.deepcopy(docs)
    for d in docs:
        if d.get("kind") != "Deployment":
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            c["envFrom"] = []
            c["env"] = [e for e in c.get("env") or [] if e["name"] not in GOOD] + \
                [{"name": k, "value": v} for k, v in GOOD.items()]
    return docs


def test_config_check_on_the_rendered_production_overlay():
    docs = _prod()
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} >= set(config_check.SERVICES)
    problems, _ = config_check.check_manifests(_complete(docs))
    assert problems == []
    # The real overlay passes; what it leaves to the external Secret is noted, not counted.
    notes: list[str] = []
    real, _ = config_check.check_manifests(docs, notes)
    assert real == [], [str(p) for p in real]
    assert any("SB_GATEWAY_JWT_SECRET" in n and "switchboard-secrets" in n for n in notes), notes
    for setting, bad in BAD.items():
        broken = _complete(docs)
        for d in broken:
            if d.get("kind") != "Deployment":
                continue
            for c in d["spec"]["template"]["spec"]["containers"]:
                c["env"] = [e for e in c["env"] if e["name"] != setting]
                if bad is not None:
                    c["env"].append({"name": setting, "value": bad})
        problems, _ = config_check.check_manifests(broken)
        assert any(p.setting == setting for p in problems), setting


def test_config_check_reads_config_maps_and_secrets_of_the_render():
    docs = [
        {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"SB_ENV": "production",
                                                                    "SB_GATEWAY_JWT_SECRET": "short"}},
        {"kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"SB_NATS_URL": "nats://127.0.0.2:4222"}},
        {"kind": "Deployment", "metadata": {"name": "gateway", "labels": {"app.kubernetes.io/name": "gateway"}},
         "spec": {"template": {"spec": {"containers": [{"name": "app", "envFrom": [
             {"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "sec"}}],
             "env": [{"name": "SB_REDIS_URL",
                      "valueFrom": {"secretKeyRef": {"name": "elsewhere", "key": "url"}}}]}]}}}},
    ]
    problems, _ = config_check.check_manifests(docs)
    named = {p.setting: p.message for p in problems if p.where == "Deployment/gateway"}
    assert "shorter than 32" in named["SB_GATEWAY_JWT_SECRET"]
    assert "127.0.0.2" in named["SB_NATS_URL"]
    assert "SB_REDIS_URL" not in named  # from a Secret not in the render: present, value unknown
    assert {p.where for p in problems} >= {"channels", "router"}  # no Deployment runs them


def test_config_check_with_redis_sentinel_and_an_external_secret():
    env = {k: v for k, v in GOOD.items() if k != "SB_REDIS_URL"}
    assert config_check.check_env({**env, "SB_REDIS_SENTINELS": "redis-sentinel:26379"}, "router") == []
    named = config_check.check_env({**env, "SB_REDIS_SENTINELS": "127.0.0.1:26379"}, "router")
    assert [p.setting for p in named] == ["SB_REDIS_SENTINELS"]
    assert [p.setting for p in config_check.check_env(env, "router")] == ["SB_REDIS_URL"]
    notes: list[str] = []
    no_jwt = {k: v for k, v in GOOD.items() if k != "SB_GATEWAY_JWT_SECRET"}
    assert config_check.check_env(no_jwt, "gateway", external=["vault-secrets"], notes=notes) == []
    assert notes == ["gateway: SB_GATEWAY_JWT_SECRET: not in the render; expected from Secret vault-secrets"]
    # A development value in the render is still named, external Secret or not.
    dev = {**GOOD, "SB_GATEWAY_JWT_SECRET": config_check.DEV_JWT_SECRET}
    assert [p.setting for p in config_check.check_env(dev, "gateway", external=["vault-secrets"], notes=[])] == [
        "SB_GATEWAY_JWT_SECRET"]


async def test_config_check_names_streams_below_the_configured_replicas(stack, nats_js):
    env = {**GOOD, "SB_NATS_URL": stack.nats_url, "SB_NATS_REPLICAS": "3"}
    code, out, _ = await cli("config", "check", "--service", "scheduler", "--nats", env=env)
    assert code == 1
    assert "nats: stream INBOUND: has 1 replica(s), below SB_NATS_REPLICAS=3" in out
    # SB_NATS_URL at a test address is itself flagged; only the streams line matters here.
    env["SB_NATS_REPLICAS"] = "1"
    code, out, _ = await cli("config", "check", "--service", "scheduler", "--nats", env=env)
    assert "stream" not in out
