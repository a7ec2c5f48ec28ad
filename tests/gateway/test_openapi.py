"""The OpenAPI 3.1 document is valid and describes every route the gateway serves."""

from __future__ import annotations

from openapi_spec_validator import validate


async def test_openapi_document_is_valid_and_complete(gw_client):
    resp = await gw_client.get("/api/v1/openapi.json")  # public: no token
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    served = set()
    for route in gw_client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if path.startswith("/api/v1") and route.method != "HEAD":
            served.add((route.method.lower(), path.split("{action")[0].replace("{tail}", "{id}")))
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    for method, path in served:
        if path.endswith("/"):  # the conversation actions route: one documented path per action
            assert any(m == method and p.startswith(path) for m, p in documented), path
        else:
            assert (method, path) in documented, (method, path)


BAD_VALUES = (None, 0, -1, 1.5, True, "", " ", "x" * 5000, [], {}, ["a"], {"a": 1}, "😊\u0000")
BAD_IDS = ("..", "%2e%2e", "a b", "x" * 300, "ñ😊", "%00")


def _bodies(schema: dict) -> list:
    """Bodies that break a request schema in every simple way: wrong types per property, extras, junk."""
    props = schema.get("properties", {})
    valid = {k: "x" for k in props}
    out: list = [None, [], "text", 12, {}, {"unexpected": 1}, valid]
    for key in props:
        out += [{**valid, key: bad} for bad in BAD_VALUES]
    return out


async def test_no_documented_operation_answers_5xx_to_bad_input(gw_client, gateway, make_user, unique):
    """A schemathesis-like sweep of /api/v1/openapi.json: junk in, never a 5xx out, always the error shape."""
    doc = await (await gw_client.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    admin = await gateway.users.get(await make_user("admin"))
    token = gateway.tokens.issue(admin.principal, "access")
    checked = 0
    for path, ops in doc["paths"].items():
        if path.endswith("/events"):
            continue  # a WebSocket; covered by its own tests
        for method, op in ops.items():
            ref = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
                   .get("schema", {}).get("$ref", ""))
            body_schema = schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
            targets = [path.replace("{id}", bad) for bad in BAD_IDS] if "{id}" in path else [path]
            bodies = _bodies(body_schema) if method in ("post", "put", "patch") else [None]
            for target in targets:
                for body in bodies:
                    for headers in ({"Authorization": f"Bearer {token}"}, {}):
                        kwargs = {"data": b"{bad json"} if body == "text" else {"json": body}
                        resp = await gw_client.request(method.upper(), target, headers=headers, **kwargs)
                        checked += 1
                        assert resp.status < 500, (method, target, body, resp.status, await resp.text())
                        if resp.status >= 400:
                            err = (await resp.json())["error"]
                            assert err["code"] and err["message"], (method, target, err)
    assert checked > 500
