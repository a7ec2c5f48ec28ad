"""Provider signatures exactly as the providers verify them.

Twilio: ``data/twilio_vectors.json`` holds the cases of twilio-python's ``tests/unit/test_request_validator.py``
(ported: same token, URL, parameters and expected signatures) and further cases whose answers twilio-python's
``RequestValidator.validate`` itself gave (``data/make_twilio_vectors.py`` regenerates them from that file). Our
check must agree with the reference on every one: accept what it accepts, refuse what it refuses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest

from libs.core.secretbox import new_key_spec
from services.channels.domain.signatures import (
    meta_signature,
    meta_signature_ok,
    twilio_body_hash,
    twilio_signature,
    twilio_signature_ok,
)
from services.channels.settings import ChannelsSettings

VECTORS = json.loads((Path(__file__).parent / "data" / "twilio_vectors.json").read_text())
CASES = VECTORS["cases"]


def test_the_vectors_cover_what_the_issue_names():
    names = {c["name"] for c in CASES}
    assert {"test_validation_removes_port_on_https", "test_validation_adds_port_on_http",
            "test_compute_signature_duplicate_multi_dict", "test_validation_of_body_succeeds"} <= names
    assert sum(c["valid"] for c in CASES) >= 10 and sum(not c["valid"] for c in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_twilio_check_agrees_with_twilio_python(case):
    params = case["body"] if case["body"] is not None else [tuple(p) for p in case["params"]]
    assert twilio_signature_ok(VECTORS["token"], case["url"], params, case["signature"]) is case["valid"]


def test_twilio_reference_signatures_and_body_hash():
    # test_compute_signature, test_compute_hash_unicode and test_compute_signature_duplicate_* of the reference.
    uri = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
              ("To", "+18005551212"), ("Caller", "+14158675309")]
    assert twilio_signature("12345", uri, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_body_hash('{"property": "value", "boolean": true}') == (
        "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620")
    dup = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert twilio_signature("12345", uri, dup) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_twilio_without_a_token_or_header_refuses():
    case = CASES[0]
    params = [tuple(p) for p in case["params"]]
    assert not twilio_signature_ok(None, case["url"], params, case["signature"])
    assert not twilio_signature_ok("", case["url"], params, case["signature"])
    assert not twilio_signature_ok(VECTORS["token"], case["url"], params, None)
    assert not twilio_signature_ok(VECTORS["token"], "https://x.com:notaport/a", params, case["signature"])


def test_meta_signature_is_exactly_sha256_of_the_raw_body():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert meta_signature("s3cret", body) == good
    assert meta_signature_ok("s3cret", body, good)
    refused = [
        good.upper(), "SHA256=" + good[7:], good[7:], "sha1=" + hmac.new(b"s3cret", body, hashlib.sha1).hexdigest(),
        good[:-1], good + "0", "", " " + good,
        meta_signature("s3cret", json.dumps(json.loads(body)).encode()),  # the same JSON, re-serialized
        meta_signature("other", body),
    ]
    for header in refused:
        assert not meta_signature_ok("s3cret", body, header), header
    assert not meta_signature_ok(None, body, good) and not meta_signature_ok("", body, good)
    assert not meta_signature_ok("s3cret", body, None)


def test_production_needs_the_public_base_url():
    keys = new_key_spec("k1")
    with pytest.raises(ValueError, match="SB_CHANNELS_PUBLIC_BASE_URL"):
        ChannelsSettings(env="production", secret_keys=keys)
    assert ChannelsSettings(env="production", public_base_url="https://hooks.example.com",
                            secret_keys=keys).public_base_url
    assert ChannelsSettings(env="development").public_base_url == ""


async def test_a_json_twilio_webhook_signed_through_body_sha256(channels, streams):
    cid = f"voice-{uuid.uuid4().hex[:8]}"
    resp = await channels.post("/channels", json={"id": cid, "type": "voice", "auth_token": "tok",
                                                  "app_secret": "s"})
    assert resp.status == 201, await resp.text()
    body = json.dumps({"CallSid": "CA" + cid, "CallStatus": "ringing", "From": "+14155550100",
                       "To": "+14155550111", "Direction": "inbound"})
    path = f"/webhooks/voice/{cid}?bodySHA256={twilio_body_hash(body)}"
    url = str(channels.make_url(path))
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": twilio_signature("tok", url, [])}
    resp = await channels.post(path, data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    # The same signature over a changed body: the hash no longer matches.
    resp = await channels.post(path, data=body.replace("ringing", "in-progress"), headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["field"] == "X-Twilio-Signature"
    # Without bodySHA256 in the URL a JSON body cannot be signed.
    plain = f"/webhooks/voice/{cid}"
    resp = await channels.post(plain, data=body, headers={
        "Content-Type": "application/json",
        "X-Twilio-Signature": twilio_signature("tok", str(channels.make_url(plain)), [])})
    assert resp.status == 401
