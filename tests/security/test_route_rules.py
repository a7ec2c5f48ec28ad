"""Every route the gateway serves has its own rule, and every forwarded route exists where it is sent.

Generated from the route tables: adding a route without a rule, or forwarding to a path the service
does not serve, fails here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.app import create_app
from services.gateway.facade import RULES
from services.gateway.routes import ACCESS, API, access_of

from ..gateway.conftest import bearer, gateway_settings


def served(app: web.Application) -> list[tuple[str, str]]:
    out = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        if resource.canonical.startswith(f"{API}/"):
            out.append((route.method, resource.canonical))
    return out


def test_every_served_route_has_a_rule(gw_client):
    routes = served(gw_client.app)
    assert len(routes) > 100
    missing = [r for r in routes if access_of(*r) is None]
    assert not missing, f"served without an access rule: {missing}"
    for method, path in routes:
        rule = access_of(method, path)
        assert rule is not None and (rule.public or rule.roles), (method, path)
    # ...and nothing is declared that is not served.
    assert set(ACCESS) == set(routes)
    public = sorted(p for (m, p), a in ACCESS.items() if a.public)
    # The external case view's signed link is its own credential (checked by the CRM).
    assert public == [f"{API}/auth/login", f"{API}/auth/refresh", f"{API}/external/cases/{{token}}",
                      f"{API}/openapi.json"]


def _service_routes() -> dict[str, set[tuple[str, str]]]:
    from services.campaigns.app import create_app as campaigns
    from services.campaigns.settings import CampaignsSettings
    from services.channels.app import ADMIN_APP
    from services.channels.app import create_app as channels
    from services.channels.settings import ChannelsSettings
    from services.crm.app import create_app as crm
    from services.crm.settings import CrmSettings
    from services.router.app import create_app as router
    from services.router.settings import RouterSettings

    apps: dict[str, Any] = {"campaigns": campaigns(CampaignsSettings(env="test")),
                            "channels": channels(ChannelsSettings(env="test"))[ADMIN_APP],
                            "crm": crm(CrmSettings(env="test")), "router": router(RouterSettings(env="test"))}
    return {name: {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
            for name, app in apps.items()}


def test_every_facade_endpoint_is_a_route_of_its_service():
    services = _service_routes()
    for rule in RULES:
        for endpoint in rule.endpoints:
            upstream = (endpoint.method, rule.upstream_template(endpoint))
            template = upstream[1]
            known = {(m, _placeholders(p)) for m, p in services[rule.upstream]}
            assert (endpoint.method, _placeholders(template)) in known, (rule.public, endpoint, upstream)


def _placeholders(path: str) -> str:
    """``/calls/{call_id}/x`` and ``/calls/{id}/x`` are the same route."""
    return "/".join("{}" if p.startswith("{") else p for p in path.split("/"))


async def test_a_route_without_a_rule_is_refused(stack, router_peer, services_peer, gateway, make_user):
    app = create_app(gateway_settings(stack, router_peer.url, services_peer.url))

    async def rogue(request: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    app.router.add_get(f"{API}/rogue", rogue)  # added by hand, without a rule
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        admin = await gateway.users.get(await make_user("admin"))
        token = gateway.tokens.issue(admin.principal, "access")
        resp = await client.get(f"{API}/rogue", headers=bearer(token))
        assert resp.status == 403, await resp.text()
        assert (await resp.json())["error"]["code"] == "forbidden"
    finally:
        await client.close()
