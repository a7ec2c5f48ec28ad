"""Login and sessions (issue 11 item 5): a login flood at bounded memory, limits before any hashing, the client
address only through trusted proxies, slowing guesses without locking anyone out, refresh-token reuse closing
the session, logout, and a deactivation or role change taking effect at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from libs.devstack.stack import StackInfo
from services.gateway.app import create_app
from services.gateway.keys import GATEWAY
from services.gateway.security import hash_password
from services.gateway.settings import GatewaySettings

API = "/api/v1"
PASSWORD = "sessions-pass-123"
ARGON2_MIB = 64  # argon2-cffi's default memory cost per verification


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gw(stack: StackInfo) -> AsyncIterator[TestClient]:
    """A gateway of its own (its limits are what is tested); no upstream is reached by these routes."""
    settings = GatewaySettings(env="test", nats_url=stack.nats_url, redis_url=stack.redis_url,
                               database_url=stack.database_url, router_url="http://127.0.0.1:9",
                               campaigns_url="http://127.0.0.1:9", crm_url="http://127.0.0.1:9",
                               channels_url="http://127.0.0.1:9", demo_seed=False, login_max_failures=3,
                               login_concurrency=2, login_queue=8, login_ip_per_minute=5, trusted_proxy_hops=1)
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def _address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


async def _user(gw: TestClient, role: str = "agent") -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    user = await gw.app[GATEWAY].users.create(id=f"s-{role}-{tag}", username=f"s{role}{tag}", display_name="S",
                                              role=role, password_hash=await asyncio.to_thread(hash_password,
                                                                                               PASSWORD))
    assert user is not None
    return user.id, user.username


async def _login(gw: TestClient, username: str, password: str = PASSWORD, address: str | None = None):
    return await gw.post(f"{API}/auth/login", json={"username": username, "password": password},
                         headers={"X-Forwarded-For": address or _address()})


async def _tokens(gw: TestClient, username: str) -> dict:
    r = await _login(gw, username)
    assert r.status == 200, await r.text()
    return await r.json()


def _me(gw: TestClient, access: str):
    return gw.get(f"{API}/me", headers={"Authorization": f"Bearer {access}"})


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


async def test_a_flood_of_50_concurrent_logins_hashes_two_at_a_time_at_bounded_memory(gw):
    """50 logins at once, each from its own address and for its own (unknown) username, so no counter stops
    them: at most ``login_concurrency`` argon2 verifications run at once, the ones that cannot even queue are
    refused with 429 before hashing, and the process's peak RSS grows by about two verifications."""
    slots = gw.app[GATEWAY].hash_slots
    slots.peak = 0
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
    before = _rss_kib("VmRSS")
    answers = await asyncio.gather(*(_login(gw, f"nobody-{uuid.uuid4().hex[:8]}", "wrong") for _ in range(50)))
    statuses = sorted(r.status for r in answers)
    grown_mib = (_rss_kib("VmHWM") - before) / 1024
    print(f"\n50 concurrent logins: {statuses.count(401)} x 401, {statuses.count(429)} x 429; "
          f"hashes at once {slots.peak}; peak RSS +{grown_mib:.0f} MiB")
    assert set(statuses) <= {401, 429}
    assert slots.peak == 2, "two verifications run at once, never more"
    assert statuses.count(429) >= 50 - 2 - 8 - 10, "those that cannot queue are refused at once"
    refused = next(r for r in answers if r.status == 429)
    assert (await refused.json())["error"]["field"] == "username"
    assert grown_mib < 2 * ARGON2_MIB + 48, f"peak RSS grew {grown_mib:.0f} MiB"


async def test_the_per_address_limit_comes_before_hashing_and_the_address_only_through_trusted_hops(gw):
    """5 attempts a minute per client address; the address is the one the trusted proxy (1 hop) appended, so
    what a client writes in X-Forwarded-For itself changes nothing."""
    _, username = await _user(gw)
    client = _address()
    for n in range(5):  # the client claims a different address each time, left of what the proxy saw
        r = await _login(gw, username, "wrong-password", address=f"192.0.2.{n + 1}, {client}")
        assert r.status in (401, 429), await r.text()
    r = await _login(gw, username, address=f"198.51.100.7, {client}")
    assert r.status == 429, await r.text()
    body = await r.json()
    assert "address" in body["error"]["message"] and body["error"]["field"] == "username"
    # Another address is not held back by that one: the right password works at once from there.
    assert (await _login(gw, username)).status == 200


async def test_guesses_on_one_account_slow_down_but_never_lock_its_owner_out(gw):
    """Failures on one account from many addresses (3 allowed in the window) slow its next attempts, but its
    owner, from their own address, still logs in; the guessing address itself is blocked (429)."""
    _, username = await _user(gw)
    attacker = _address()
    for _ in range(3):
        assert (await _login(gw, username, "guess", address=attacker)).status == 401
    assert (await _login(gw, username, "guess", address=attacker)).status == 429
    for _ in range(3):  # a botnet: one guess per address
        assert (await _login(gw, username, "guess")).status == 401
    assert gw.app[GATEWAY].limiter.max_failures <= await gw.app[GATEWAY].limiter.account_failures(username)
    r = await _login(gw, username)  # the owner, slowed down (about a second here), not locked out
    assert r.status == 200, await r.text()


async def test_reusing_a_refresh_token_closes_its_whole_session(gw):
    _, username = await _user(gw)
    first = await _tokens(gw, username)
    other = await _tokens(gw, username)  # another session of the same user (another browser)
    r = await gw.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status == 200
    second = await r.json()
    assert (await _me(gw, second["access_token"])).status == 200
    # The first refresh token again: stolen or replayed. The whole session ends, the new tokens with it.
    r = await gw.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status == 401 and "session" in (await r.json())["error"]["message"]
    r = await gw.post(f"{API}/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status == 401
    assert (await _me(gw, second["access_token"])).status == 401
    assert (await _me(gw, first["access_token"])).status == 401
    assert (await _me(gw, other["access_token"])).status == 200, "another session is not touched"


async def test_logout_ends_the_session_and_its_websocket_token(gw):
    _, username = await _user(gw)
    pair = await _tokens(gw, username)
    auth = {"Authorization": f"Bearer {pair['access_token']}"}
    assert (await _me(gw, pair["access_token"])).status == 200
    assert (await gw.post(f"{API}/auth/logout")).status == 401  # a logout needs a session to end
    assert (await gw.post(f"{API}/auth/logout", headers=auth)).status == 204
    assert (await _me(gw, pair["access_token"])).status == 401
    r = await gw.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status == 401
    ws = await gw.ws_connect(f"{API}/events")
    await ws.send_json({"type": "auth", "token": pair["access_token"]})
    msg = await ws.receive(timeout=10)
    assert ws.closed or msg.type.name in ("CLOSE", "CLOSED"), msg
    await ws.close()


@pytest.mark.parametrize(("change", "revokes"), [
    ({"role": "supervisor"}, True),
    ({"active": False}, True),
    ({"password": "another-pass-456"}, True),
    ({"display_name": "Renamed"}, False),
    ({"role": "agent"}, False),  # the same role again: nothing changed
])
async def test_a_change_of_role_password_or_active_ends_the_users_tokens_at_once(gw, change, revokes):
    _, admin_name = await _user(gw, "admin")
    user_id, username = await _user(gw)
    admin = await _tokens(gw, admin_name)
    pair = await _tokens(gw, username)
    assert (await _me(gw, pair["access_token"])).status == 200  # its version is now cached in Redis
    r = await gw.patch(f"{API}/users/{user_id}", json=change,
                       headers={"Authorization": f"Bearer {admin['access_token']}"})
    assert r.status == 200, await r.text()
    assert (await _me(gw, pair["access_token"])).status == (401 if revokes else 200)
    r = await gw.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status == (401 if revokes else 200)
    if revokes and change.get("active") is not False:
        password = change.get("password", PASSWORD)
        r = await _login(gw, username, password)
        assert r.status == 200, "a new login gets tokens of the new version"
        assert (await _me(gw, (await r.json())["access_token"])).status == 200
