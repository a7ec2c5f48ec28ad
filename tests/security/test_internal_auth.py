"""Internal calls are authenticated: every internal service refuses a call without a valid internal token.

The services run in-process on the session stack (router, campaigns, CRM, scheduler, channels' admin
app); each is called with no token, a forged one, an expired one, one addressed to another service, one
whose key may not sign for users, and a valid one. Health and readiness need none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.core.auth import (
    AuthConfigError,
    Caller,
    KeySet,
    Signer,
    Verifier,
    parse_public_keys,
)
from libs.core.errors import Forbidden
from libs.core.settings import ServiceSettings

from ..gateway.conftest import bearer

# A route of each service that needs a token (and is cheap); a read any role may make.
PROBES = {"router": "/queues/nobody", "campaigns": "/typifications", "crm": "/contacts?limit=1",
          "scheduler": "/timers/nothing", "channels": "/channels"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def services(stack) -> AsyncIterator[dict[str, TestClient]]:
    """The internal services, in-process, each on its own port."""
    from services.campaigns.app import create_app as campaigns
    from services.campaigns.settings import CampaignsSettings
    from services.channels.app import ADMIN_APP
    from services.channels.app import create_app as channels
    from services.channels.settings import ChannelsSettings
    from services.crm.app import create_app as crm
    from services.crm.settings import CrmSettings
    from services.router.app import create_app as router
    from services.router.settings import RouterSettings
    from services.scheduler.app import create_app as scheduler
    from services.scheduler.settings import SchedulerSettings

    common: dict[str, Any] = {"env": "test", "nats_url": stack.nats_url, "redis_url": stack.redis_url,
                              "database_url": stack.database_url}
    chan = channels(ChannelsSettings(**common, smtp_enabled=False, outbound_consumer=False))
    apps: list[tuple[str, web.Application]] = [
        ("router", router(RouterSettings(**common))),
        ("campaigns", campaigns(CampaignsSettings(**common, conversation_consumer=False))),
        ("crm", crm(CrmSettings(**common, run_jobs=False))),
        ("scheduler", scheduler(SchedulerSettings(**common))),
        ("channels-public", chan), ("channels", chan[ADMIN_APP]),
    ]
    clients: dict[str, TestClient] = {}
    try:
        for name, app in apps:
            clients[name] = TestClient(TestServer(app, host="127.0.0.1"))
            await clients[name].start_server()
        yield clients
    finally:
        for client in reversed(list(clients.values())):
            await client.close()


def dev_signer(issuer: str) -> Signer:
    return Signer.from_settings(ServiceSettings(env="test"), issuer)


async def status_of(client: TestClient, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    resp = await client.get(path, headers=headers or {})
    return resp.status, (await resp.json() if resp.content_type == "application/json" else await resp.text())


async def test_no_token_forged_expired_or_misaddressed_is_401(services):
    gateway = dev_signer("gateway")
    forger = Signer("gateway", "dev-gateway", Ed25519PrivateKey.generate())  # right kid, wrong key
    for name, path in PROBES.items():
        client = services[name]
        cases = {
            "none": None,
            "not a JWT": {"Authorization": "Bearer not-a-token"},
            "forged": bearer(forger.for_user(name, "u1", "admin", None)),
            "expired": bearer(gateway.for_user(name, "u1", "admin", None, now=time.time() - 600)),
            "another audience": bearer(gateway.for_user("elsewhere", "u1", "admin", None)),
            "too long-lived": bearer(gateway.for_user(name, "u1", "admin", None, ttl_s=3600)),
            "unknown key": bearer(Signer("gateway", "gateway-9", Ed25519PrivateKey.generate()).for_user(
                name, "u1", "admin", None)),
            "a service key signing for a user": bearer(dev_signer("crm").for_user(name, "u1", "admin", None)),
            "a service key signing as another service": bearer(jwt.encode(
                {"iss": "crm", "aud": name, "sub": "service:gateway", "role": "service", "iat": int(time.time()),
                 "exp": int(time.time()) + 60}, dev_signer("crm")._key, algorithm="EdDSA",
                headers={"kid": "dev-crm"})),
            "HS256 with the public key": {"Authorization": "Bearer " + jwt.encode(
                {"iss": "gateway", "aud": name, "sub": "u1", "role": "admin", "cmp": "*",
                 "iat": int(time.time()), "exp": int(time.time()) + 60}, "x" * 32, algorithm="HS256",
                headers={"kid": "dev-gateway"})},
        }
        for label, headers in cases.items():
            status, body = await status_of(client, path, headers)
            assert status == 401, (name, label, status, body)
            expected = "internal_token_expired" if label == "expired" else (
                "unauthorized" if label == "none" else "internal_token_invalid")
            assert body["error"]["code"] == expected, (name, label, body)
        # Health and readiness need no token; a valid token passes the gate.
        assert (await status_of(client, "/healthz"))[0] == 200
        assert (await status_of(client, "/readyz"))[0] in (200, 503)
        status, body = await status_of(client, path, bearer(dev_signer("tests").for_service(name)))
        assert status not in (401, 403), (name, status, body)


async def test_the_public_channels_port_serves_only_webhooks_and_health(services):
    public = services["channels-public"]
    token = bearer(dev_signer("gateway").for_user("channels", "u1", "admin", None))
    for path in ("/channels", "/channels/x", "/dead-letters", "/blobs/" + "0" * 64):
        status, _ = await status_of(public, path, token)
        assert status == 404, path  # not served there at all, token or not
    assert (await status_of(public, "/healthz"))[0] == 200
    status, _ = await status_of(public, "/webhooks/whatsapp/no-such-channel?hub.mode=subscribe")
    assert status == 404  # served (an unknown channel), no internal token involved
    # Our media only through a link channels signed (tests/channels/test_outbound_media.py): a token opens nothing.
    assert (await status_of(public, "/media/" + "0" * 64, token))[0] == 403
    # The admin port serves no webhooks.
    assert (await status_of(services["channels"], "/webhooks/whatsapp/x", token))[0] == 404


def test_only_the_gateway_key_signs_for_users_and_keys_rotate_by_kid():
    keys = KeySet(("gateway", "crm"), version="2025a")
    newer = KeySet(("gateway",), version="2025b")
    env = keys.env()
    trusted = {**parse_public_keys(env["SB_AUTH_PUBLIC_KEYS"]), **parse_public_keys(newer.env()["SB_AUTH_PUBLIC_KEYS"])}
    verifier = Verifier("crm", trusted)
    old_token = keys.signer("gateway").for_user("crm", "ana", "agent", ["c1"])
    new_token = newer.signer("gateway").for_user("crm", "ana", "agent", ["c1"])
    for token in (old_token, new_token):  # both keys trusted during the rotation
        assert verifier.verify(token) == Caller("ana", "agent", "gateway", frozenset({"c1"}))
    # Once the old key is removed, its tokens are refused.
    rotated = Verifier("crm", {k: v for k, v in trusted.items() if k != "gateway-2025a"})
    assert rotated.verify(new_token).subject == "ana"
    with pytest.raises(Exception, match="unknown key"):
        rotated.verify(old_token)
    # The CRM's key signs its own identity, never a user's.
    service = Verifier("router", trusted).verify(keys.signer("crm").for_service("router"))
    assert service.is_service and service.subject == "service:crm"
    with pytest.raises(Exception, match="only the gateway"):
        Verifier("router", trusted).verify(keys.signer("crm").for_user("router", "ana", "admin", None))
    # Agents and supervisors always carry their campaign scope; "every campaign" is for admins.
    with pytest.raises(Exception, match="cmp"):
        verifier.verify(keys.signer("gateway").for_user("crm", "ana", "agent", None))


def test_production_needs_configured_keys():
    with pytest.raises(AuthConfigError, match="SB_AUTH_PUBLIC_KEYS"):
        Verifier.from_settings(ServiceSettings(env="production"), "crm")
    with pytest.raises(AuthConfigError, match="SB_GATEWAY_AUTH_PRIVATE_KEY"):
        Signer.from_settings(ServiceSettings(env="production"), "gateway")
    keys = KeySet(("gateway",))
    env = keys.env()
    settings = ServiceSettings.model_validate({"env": "production", "auth_public_keys": env["SB_AUTH_PUBLIC_KEYS"],
                                               "auth_private_key": env["SB_GATEWAY_AUTH_PRIVATE_KEY"],
                                               "auth_kid": env["SB_GATEWAY_AUTH_KID"]})
    token = Signer.from_settings(settings, "gateway").for_user("crm", "u", "admin", None)
    assert Verifier.from_settings(settings, "crm").verify(token).is_admin
    # In production a development key is never trusted, even one made in this checkout.
    with pytest.raises(Exception, match="unknown key"):
        Verifier.from_settings(settings, "crm").verify(dev_signer("gateway").for_user("crm", "u", "admin", None))


def test_caller_scope_and_roles():
    agent = Caller("ana", "agent", "gateway", frozenset({"c1"}))
    assert agent.in_scope("c1") and not agent.in_scope("c2") and not agent.in_scope(None)
    with pytest.raises(Forbidden):
        agent.require_scope("c2")
    with pytest.raises(Forbidden):
        agent.require(("admin",), "change channels")
    Caller("service:cli", "service", "cli").require(("admin",), "anything")  # a service identity passes


async def test_the_gateway_forwards_a_signed_token_with_the_callers_scope(gw_client, gateway, make_user, nats_js,
                                                                          services_peer, unique):
    from libs.contracts import CampaignSnapshot

    _, js = nats_js
    sup = await gateway.users.get(await make_user("supervisor"))
    camp = f"camp-tok-{unique}"
    await (await js.key_value("campaigns")).put(camp, CampaignSnapshot(
        id=camp, name="T", supervisors=[sup.id]).model_dump_json().encode())
    for _ in range(100):
        if gateway.directory.get(camp):
            break
        await asyncio.sleep(0.05)
    token = gateway.tokens.issue(sup.principal, "access")
    resp = await gw_client.get("/api/v1/lists", headers=bearer(token))
    assert resp.status == 200
    forwarded = services_peer.requests[-1]["authorization"]
    caller = Verifier.from_settings(ServiceSettings(env="test"), "crm").verify(forwarded.split(" ", 1)[1])
    assert caller == Caller(sup.id, "supervisor", "gateway", frozenset({camp}))
    assert "X-User-Id" not in str(services_peer.requests[-1])


def test_the_env_file_of_auth_key_gives_every_service_its_signing_key_and_trust(monkeypatch):
    """`switchboard auth-key --env-file V` is what docs/deployment.md puts in switchboard-secrets: each service,
    reading its own settings from that environment, signs as itself and is trusted by the others."""
    import subprocess
    import sys
    from pathlib import Path

    from services.channels.settings import ChannelsSettings
    from services.crm.settings import CrmSettings
    from services.gateway.settings import GatewaySettings
    from services.router.settings import RouterSettings

    out = subprocess.run([sys.executable, "-m", "libs.cli.main", "auth-key", "--env-file", "t1"], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).parents[2]).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if line)
    assert set(env) >= {"SB_AUTH_PUBLIC_KEYS", "SB_GATEWAY_AUTH_PRIVATE_KEY", "SB_CRM_AUTH_KID"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    gateway = Signer.from_settings(GatewaySettings(), "gateway")
    assert gateway.kid == "gateway-t1"
    for cls, issuer, audience in ((RouterSettings, "router", "crm"), (CrmSettings, "crm", "channels"),
                                  (ChannelsSettings, "channels", "router")):
        settings = cls()
        signer = Signer.from_settings(settings, issuer)
        assert signer.kid == f"{issuer}-t1", "each service finds its own key under its own prefix"
        target = Verifier.from_settings(ServiceSettings(), audience)
        assert target.verify(signer.for_service(audience)).subject == f"service:{issuer}"
        assert Verifier.from_settings(settings, issuer).verify(gateway.for_user(issuer, "u", "admin", None)).is_admin
