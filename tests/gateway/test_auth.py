"""Login, token expiry and refresh, rate limiting, and the demo users."""

from __future__ import annotations

import time

from libs.core import demo
from services.gateway.domain import Principal

from .conftest import PASSWORD, bearer, login


async def test_demo_users_log_in_with_their_roles(gw_client):
    for user_id, username, password, role in demo.USERS:
        pair = await login(gw_client, username, password)
        assert pair["user"] == {"id": user_id, "username": username, "role": role}
        assert pair["token_type"] == "bearer" and pair["expires_in"] == 15 * 60
        me = await gw_client.get("/api/v1/me", headers=bearer(pair["access_token"]))
        assert me.status == 200
        assert (await me.json())["id"] == user_id


async def test_demo_seed_is_idempotent(gateway):
    from services.gateway.handlers import seed_demo_users

    assert await seed_demo_users(gateway.users) == []


async def test_login_ok_and_bad_credentials(gw_client, make_user, gateway):
    user_id = await make_user("agent")
    user = await gateway.users.get(user_id)
    pair = await login(gw_client, user.username)
    assert pair["user"]["id"] == user_id and pair["access_token"] and pair["refresh_token"]
    # Case and surrounding spaces of the username do not matter.
    assert (await login(gw_client, f"  {user.username.upper()} "))["user"]["id"] == user_id

    for body in ({"username": user.username, "password": "wrong"}, {"username": "nobody-here", "password": "x"}):
        resp = await gw_client.post("/api/v1/auth/login", json=body)
        assert resp.status == 401
        err = (await resp.json())["error"]
        assert err["code"] == "invalid_credentials"
        assert err["message"] == "invalid username or password"  # the same for an unknown user


async def test_login_bad_input_names_the_field(gw_client):
    cases = [
        ({"password": "x"}, "username"),
        ({"username": "ana"}, "password"),
        ({"username": "", "password": "x"}, "username"),
        ({"username": "ana", "password": "x", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        resp = await gw_client.post("/api/v1/auth/login", json=body)
        assert resp.status == 400, body
        assert (await resp.json())["error"]["field"] == field
    resp = await gw_client.post("/api/v1/auth/login", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "body"
    resp = await gw_client.post("/api/v1/auth/login", json=["ana", "x"])
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "body"


async def test_login_is_rate_limited_per_username_and_ip(gw_client, make_user, gateway):
    user = await gateway.users.get(await make_user("agent"))
    for _ in range(3):  # login_max_failures=3 in the test settings
        resp = await gw_client.post("/api/v1/auth/login", json={"username": user.username, "password": "bad"})
        assert resp.status == 401
    # Now even the right password is refused until the window passes.
    resp = await gw_client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status == 429
    err = (await resp.json())["error"]
    assert err["code"] == "rate_limited" and err["field"] == "username" and err["details"]["retry_after_s"] > 0
    # Another username from the same IP is not affected.
    other = await gateway.users.get(await make_user("agent"))
    assert (await login(gw_client, other.username))["user"]["id"] == other.id


async def test_success_resets_the_failure_count(gw_client, make_user, gateway):
    user = await gateway.users.get(await make_user("agent"))
    for _ in range(2):
        await gw_client.post("/api/v1/auth/login", json={"username": user.username, "password": "bad"})
    await login(gw_client, user.username)
    for _ in range(2):
        resp = await gw_client.post("/api/v1/auth/login", json={"username": user.username, "password": "bad"})
        assert resp.status == 401
    await login(gw_client, user.username)


async def test_missing_bad_and_expired_tokens_are_refused(gw_client, gateway, make_user):
    resp = await gw_client.get("/api/v1/me")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    resp = await gw_client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert resp.status == 401 and (await resp.json())["error"]["field"] == "Authorization"
    resp = await gw_client.get("/api/v1/me", headers=bearer("not.a.jwt"))
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_invalid"

    user = await gateway.users.get(await make_user("agent"))
    p = Principal(user.id, user.username, "agent")
    expired = gateway.tokens.issue(p, "access", now=time.time() - 16 * 60)
    resp = await gw_client.get("/api/v1/me", headers=bearer(expired))
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_expired"
    fresh = gateway.tokens.issue(p, "access", now=time.time() - 14 * 60)
    assert (await gw_client.get("/api/v1/me", headers=bearer(fresh))).status == 200

    # A token signed with another secret is refused.
    from services.gateway.security import TokenIssuer

    forged = TokenIssuer("another-secret-of-enough-length-xx", "switchboard", 900, 3600).issue(p, "access")
    resp = await gw_client.get("/api/v1/me", headers=bearer(forged))
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_invalid"
    # A refresh token is not an access token; a ?token= query authenticates nothing.
    refresh = gateway.tokens.issue(p, "refresh")
    assert (await gw_client.get("/api/v1/me", headers=bearer(refresh))).status == 401
    assert (await gw_client.get(f"/api/v1/me?token={fresh}")).status == 401


async def test_refresh_rotates_and_works_once(gw_client, make_user, gateway):
    user = await gateway.users.get(await make_user("supervisor"))
    pair = await login(gw_client, user.username)
    resp = await gw_client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert resp.status == 200
    new = await resp.json()
    assert new["user"]["role"] == "supervisor" and new["refresh_token"] != pair["refresh_token"]
    assert (await gw_client.get("/api/v1/me", headers=bearer(new["access_token"]))).status == 200

    again = await gw_client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status == 401
    wrong_type = await gw_client.post("/api/v1/auth/refresh", json={"refresh_token": new["access_token"]})
    assert wrong_type.status == 401 and (await wrong_type.json())["error"]["code"] == "token_invalid"
    missing = await gw_client.post("/api/v1/auth/refresh", json={})
    assert missing.status == 400 and (await missing.json())["error"]["field"] == "refresh_token"

    expired = gateway.tokens.issue(user.principal, "refresh", now=time.time() - 8 * 24 * 3600)
    resp = await gw_client.post("/api/v1/auth/refresh", json={"refresh_token": expired})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_expired"


async def test_deactivated_user_can_neither_log_in_nor_refresh(gw_client, make_user, gateway):
    user = await gateway.users.get(await make_user("agent"))
    pair = await login(gw_client, user.username)
    await gateway.users.update(user.id, {"active": False})
    resp = await gw_client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status == 401
    resp = await gw_client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert resp.status == 401
