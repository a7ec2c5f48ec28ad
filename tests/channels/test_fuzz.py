"""Hypothesis fuzzing of every webhook: random, truncated, mutated and oversized bodies, signed or not.
Never a 5xx, and nothing is published by a request that was refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.channels.domain.signatures import twilio_signature

FIX = Path("/work/shared/fixtures/providers")
SECRET = "fuzz-secret"
SAMPLES = {
    "whatsapp": [p.read_bytes() for p in sorted((FIX / "whatsapp").iterdir())],
    "instagram": [p.read_bytes() for p in sorted((FIX / "instagram").iterdir())],
    "sms": [p.read_bytes().strip() for p in sorted((FIX / "twilio").iterdir())],
    "voice": [p.read_bytes() for p in sorted((FIX / "asterisk").iterdir())],
}
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                    max_leaves=20)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


def _mutations(samples: list[bytes]) -> st.SearchStrategy[bytes]:
    sample = st.sampled_from(samples)
    truncated = st.tuples(sample, st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])])
    flipped = st.tuples(sample, st.integers(0, 10_000), st.integers(0, 255)).map(
        lambda t: t[0][: t[1] % max(1, len(t[0]))] + bytes([t[2]]) + t[0][t[1] % max(1, len(t[0])) + 1:])
    return st.one_of(st.binary(max_size=300), truncated, flipped, JSON.map(lambda v: json.dumps(v).encode()))


def _json_bodies(kind: str) -> st.SearchStrategy[bytes]:
    def with_entry(v: object) -> bytes:
        obj = {"whatsapp": "whatsapp_business_account", "instagram": "instagram", "voice": None}[kind]
        return json.dumps({"object": obj, "entry": v} if obj else v).encode()

    return st.one_of(_mutations(SAMPLES[kind]), JSON.map(with_entry))


def _hub(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def _twilio(url: str, body: bytes) -> dict[str, str]:
    try:
        params = parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        params = []
    sig = twilio_signature(SECRET, url, params)
    return {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
async def fuzz_channels(channels):
    suffix = uuid.uuid4().hex[:8]
    ids = {}
    for kind, extra in (("whatsapp", {}), ("instagram", {}), ("sms", {"account_sid": "AC1", "auth_token": SECRET}),
                        ("voice", {"auth_token": SECRET})):
        cid = f"fuzz-{kind}-{suffix}"
        resp = await channels.post("/channels", json={"id": cid, "type": kind, "app_secret": SECRET, **extra})
        assert resp.status == 201, await resp.text()
        ids[kind] = cid
    return ids


async def _check(channels, streams, kind: str, cid: str, path: str, body: bytes, headers: dict[str, str]):
    subjects = [("INBOUND", f"sb.inbound.{kind}.{cid}"), ("CONVERSATIONS", f"sb.conv.status.{cid}")]
    before = [await streams.count(*s) for s in subjects]
    resp = await channels.post(path, data=body, headers=headers)
    assert resp.status < 500, (body, resp.status, await resp.text())
    after = [await streams.count(*s) for s in subjects]
    if resp.status >= 400:
        assert after == before, (body, resp.status)
        assert "error" in await resp.json()


@pytest.mark.parametrize("kind", ["whatsapp", "instagram", "voice"])
@FUZZ
@given(data=st.data(), signed=st.booleans())
async def test_json_webhooks_never_fail_and_never_publish_refused_input(channels, streams, fuzz_channels, kind,
                                                                        data, signed):
    cid = fuzz_channels[kind]
    body = data.draw(_json_bodies(kind))
    headers = _hub(body) if signed else {"Content-Type": "application/json"}
    await _check(channels, streams, kind, cid, f"/webhooks/{kind}/{cid}", body, headers)


@pytest.mark.parametrize("suffix", ["", "/status"])
@FUZZ
@given(body=_mutations(SAMPLES["sms"]), signed=st.booleans())
async def test_twilio_webhooks_never_fail_and_never_publish_refused_input(channels, streams, fuzz_channels,
                                                                          suffix, body, signed):
    cid = fuzz_channels["sms"]
    path = f"/webhooks/sms/{cid}{suffix}"
    url = str(channels.make_url(path))
    headers = _twilio(url, body) if signed else {"Content-Type": "application/x-www-form-urlencoded"}
    await _check(channels, streams, "sms", cid, path, body, headers)


async def test_oversized_bodies_are_413(channels, fuzz_channels):
    big = b'{"object":"whatsapp_business_account","entry":[' + b" " * (2 * 1024 * 1024) + b"]}"
    for kind, cid in fuzz_channels.items():
        resp = await channels.post(f"/webhooks/{kind}/{cid}", data=big, headers=_hub(big))
        assert resp.status == 413, kind
