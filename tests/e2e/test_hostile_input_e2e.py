"""The three inputs schemathesis found, sent as it sent them: through the real gateway to the real CRM (each was a
500 in the CRM and a 502 at the gateway). Each is now a 4xx naming the field."""

from __future__ import annotations

from aiohttp import ClientSession, ClientTimeout


async def test_the_three_schemathesis_findings_are_4xx_through_the_gateway(platform):
    await platform.start("campaigns", "crm", "gateway")
    gw = platform.url("gateway")
    async with ClientSession(timeout=ClientTimeout(total=15)) as http:
        async with http.post(f"{gw}/api/v1/auth/login", json={"username": "admin",
                                                                "password": "admin-demo-pass"}) as r:
            assert r.status == 200, await r.text()
            auth = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        found: list[tuple[int, dict]] = []
        async with http.get(f"{gw}/api/v1/contacts?q=%1E%C3%AC%00H%C3%9C", headers=auth) as r:
            found.append((r.status, await r.json()))
        async with http.post(f"{gw}/api/v1/imports", data=b"--x\r\n\r\n--x--\r\n",
                             headers={**auth, "Content-Type": "multipart/form-data"}) as r:
            found.append((r.status, await r.json()))
        for disposition in (b'name="\xff\xfe"; filename="a.csv"', b'name="file"; filename="\xff.csv"'):
            form = b"--xx\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\nname\r\n--xx--\r\n"
            async with http.post(f"{gw}/api/v1/imports", data=form,
                                 headers={**auth, "Content-Type": "multipart/form-data; boundary=xx"}) as r:
                found.append((r.status, await r.json()))
    statuses = [s for s, _ in found]
    assert all(400 <= s < 500 for s in statuses), (found, platform.logs())
    assert [b["error"].get("field") for _, b in found] == ["q", "Content-Type", "file", "filename"], found
