"""The facade forwards only what it matched: a corpus of traversal encodings against every facade prefix.

Issue 11: as agent ana, ``GET /api/v1/contacts/..%2fprocesses`` answered 200 (the CRM's processes), because
the facade forwarded the decoded ``..`` and the client normalized it away. Every entry below must be
refused with 400 (``field: path``) before anything reaches a service.
"""

from __future__ import annotations

import pytest

from services.gateway.facade import RULES, BadSegment, decode_segment

from .conftest import raw_request

# What a traversal would reach on each service: routes no facade endpoint forwards to.
HIDDEN = {"crm": "batches", "campaigns": "openapi.json", "channels": "dead-letters", "router": "conversations"}

# {t} is the hidden target. Single, double and triple percent-encoding, mixed case, backslashes,
# semicolons, overlong UTF-8 forms, full-width dots and slashes, NUL, empty and dot segments.
CORPUS = (
    "..%2f{t}",
    "..%2F{t}",
    "%2e%2e%2f{t}",
    "%2E%2E%2F{t}",
    "%2e%2E/{t}",
    ".%2e/{t}",
    "%2e./{t}",
    "%2e/{t}",
    "..%2f..%2f{t}",
    "%2e%2e%2f%2e%2e%2f..%2f{t}",
    "..%252f{t}",
    "%252e%252e%252f{t}",
    "%252E%252E/{t}",
    "%25252e%25252e%25252f{t}",
    "..%5c{t}",
    "..%5C{t}",
    "%2e%2e%5c{t}",
    "..%255c{t}",
    "..;/{t}",
    "x%3b/{t}",
    "..%3B{t}",
    "%c0%ae%c0%ae/{t}",
    "%C0%AE%C0%AE%C0%AF{t}",
    "..%c0%af{t}",
    "%e0%80%ae%e0%80%ae/{t}",
    "%25c0%25ae%25c0%25ae/{t}",
    "%ef%bc%8e%ef%bc%8e/{t}",
    "..%ef%bc%8f{t}",
    "..%00/{t}",
    "%00/{t}",
    "/{t}",
    "x//{t}",
    "%2f{t}",
    "x%0a/{t}",
)


def test_the_corpus_is_large_enough():
    assert len(set(CORPUS)) == len(CORPUS) >= 25


@pytest.mark.parametrize("raw", ["..", ".", "", "%2e%2e", "%2E.", "a%2fb", "a%5Cb", "a;b", "a%3bb", "%c0%ae",
                                 "%252e%252e", "%25252e%25252e", "%ef%bc%8e%ef%bc%8e", "%00", "a%0d%0ab"])
def test_decode_segment_refuses(raw):
    with pytest.raises(BadSegment):
        decode_segment(raw)


@pytest.mark.parametrize(("raw", "value"), [("ana", "ana"), ("a%20b", "a b"), ("%C3%B1and%C3%BA", "ñandú"),
                                            ("50%25", "50%"), ("....", "...."), ("a.b", "a.b"), ("x%2Ey", "x.y")])
def test_decode_segment_keeps_plain_ids(raw, value):
    assert decode_segment(raw) == value


async def test_traversal_corpus_against_every_facade_prefix(gw_client, gateway, make_user, router_peer,
                                                            services_peer):
    agent = await gateway.users.get(await make_user("agent"))
    token = gateway.tokens.issue(agent.principal, "access")
    host, port = gw_client.server.host, gw_client.server.port
    before = len(router_peer.requests) + len(services_peer.requests)
    checked = 0
    for rule in RULES:
        for entry in CORPUS:
            target = f"/api/v1/{rule.public}/{entry.format(t=HIDDEN[rule.upstream])}"
            for method in ("GET", "POST"):
                status, body = await raw_request(host, port, method, target, {"Authorization": f"Bearer {token}"})
                assert status == 400, (method, target, status, body)
                assert body["error"]["field"] == "path", (target, body)
                checked += 1
    # Nothing at all reached a service.
    assert len(router_peer.requests) + len(services_peer.requests) == before
    assert checked == len(RULES) * len(CORPUS) * 2


async def test_the_reported_paths_are_refused_for_ana(gw_client, gateway, make_user, services_peer):
    """The two paths of the report, as the agent who found them."""
    agent = await gateway.users.get(await make_user("agent"))
    token = gateway.tokens.issue(agent.principal, "access")
    host, port = gw_client.server.host, gw_client.server.port
    before = len(services_peer.requests)
    for path in ("/api/v1/contacts/..%2fprocesses", "/api/v1/contacts/..%2fbatches"):
        status, body = await raw_request(host, port, "GET", path, {"Authorization": f"Bearer {token}"})
        assert status == 400, (path, body)
    # The legitimate route stays refused to an agent by its own rule.
    status, _ = await raw_request(host, port, "GET", "/api/v1/processes", {"Authorization": f"Bearer {token}"})
    assert status == 403
    assert len(services_peer.requests) == before


async def test_a_literal_dot_segment_never_reaches_a_service(gw_client, gateway, make_user, services_peer):
    agent = await gateway.users.get(await make_user("agent"))
    token = gateway.tokens.issue(agent.principal, "access")
    host, port = gw_client.server.host, gw_client.server.port
    before = len(services_peer.requests)
    for path in ("/api/v1/contacts/../processes", "/api/v1/contacts/./../batches", "/api/v1/contacts/..\\batches"):
        status, body = await raw_request(host, port, "GET", path, {"Authorization": f"Bearer {token}"})
        assert status in (400, 403, 404), (path, status, body)
    assert len(services_peer.requests) == before


async def test_ids_are_re_encoded_one_segment_each(gw_client, gateway, make_user, services_peer):
    """The service's path is built from the matched route and the decoded id, encoded again."""
    admin = await gateway.users.get(await make_user("admin"))
    token = gateway.tokens.issue(admin.principal, "access")
    host, port = gw_client.server.host, gw_client.server.port
    status, body = await raw_request(host, port, "GET", "/api/v1/contacts/50%25%20off/history",
                                     {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    assert services_peer.requests[-1]["path"] == "/contacts/50% off/history"
    assert body["echo"]["path"] == "/contacts/50% off/history"
