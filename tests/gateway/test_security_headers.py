"""The console and the API are served with a Content-Security-Policy, frame protection and nosniff."""

from __future__ import annotations

import pytest

from services.gateway.headers import API_CSP, CONSOLE_CSP


def directives(csp: str) -> dict[str, str]:
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in (x.strip() for x in csp.split(";"))}


@pytest.mark.parametrize("path", ["/", "/console/main.js", "/console/style.css", "/console/locales/es.js",
                                  "/console/missing.js"])
async def test_console_files_carry_the_policy(gw_client, path):
    resp = await gw_client.get(path)
    assert resp.status == (404 if "missing" in path else 200)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Content-Security-Policy"] == CONSOLE_CSP
    csp = directives(resp.headers["Content-Security-Policy"])
    # No inline script or style, no eval, only the gateway's own files; never framed.
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert "unsafe" not in resp.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    if path.endswith(".js") and resp.status == 200:
        assert resp.headers["Content-Type"] in ("text/javascript", "application/javascript")


async def test_index_loads_no_inline_script(gw_client):
    html = await (await gw_client.get("/")).text()
    assert '<script type="module" src="/console/main.js"></script>' in html
    body = html.replace("\n", " ").split("<body")[1]
    assert html.count("<script") == 1 and "style=" not in html and " on" not in body


async def test_api_answers_and_errors_carry_the_headers_too(gw_client):
    for path, status in (("/api/v1/openapi.json", 200), ("/api/v1/me", 401), ("/api/v1/nothing-here", 404)):
        resp = await gw_client.get(path)
        assert resp.status == status, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert resp.headers["X-Frame-Options"] == "DENY", path
        assert resp.headers["Content-Security-Policy"] == API_CSP, path
