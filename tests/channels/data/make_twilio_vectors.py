"""Regenerate ``twilio_vectors.json`` with twilio-python's own ``RequestValidator`` (a dev-time tool, not a test).

Usage: ``python tests/channels/data/make_twilio_vectors.py /path/to/twilio-python/twilio/request_validator.py``.
The validator file needs only the standard library, so twilio is not a dependency: the vectors it produced are
committed, and ``tests/channels/test_signatures.py`` checks our function against them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import sys
from pathlib import Path

TOKEN = "12345"
URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"), ("To", "+18005551212"),
          ("Caller", "+14158675309")]
DUPLICATES = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
BODY = '{"property": "value", "boolean": true}'
BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


class Pairs:
    """A MultiDict-like view of (name, value) pairs, as Flask hands them to the validator."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter([k for k, _ in self.pairs])

    def __bool__(self):
        return bool(self.pairs)

    def getall(self, name):
        return [v for k, v in self.pairs if k == name]


def naive(url, pairs):
    """What a validator that keeps duplicates and sorts pairs would sign (ours did): must be refused."""
    data = url + "".join(k + v for k, v in sorted(pairs))
    return base64.b64encode(hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


def sign(v, url, pairs):
    return v.compute_signature(url, Pairs(pairs))


def main(path: str) -> None:
    spec = importlib.util.spec_from_file_location("request_validator", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    v = mod.RequestValidator(TOKEN)
    cases = []

    def case(name, url, params, signature, source="computed"):
        body = params if isinstance(params, str) else None
        pairs = None if isinstance(params, str) else [list(p) for p in params]
        try:
            valid = v.validate(url, params if isinstance(params, str) else Pairs(params), signature)
        except Exception:  # the reference raises for a JSON body without bodySHA256: not accepted
            valid = False
        cases.append({"name": name, "url": url, "params": pairs, "body": body, "signature": signature,
                      "valid": valid, "source": source})

    tests = "tests/unit/test_request_validator.py"
    case("test_validation", URI, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", tests)
    case("test_validation_removes_port_on_https", URI.replace(".com", ".com:1234"), PARAMS,
         "RSOYDt4T1cUTdK1PDd93/VVr8B8=", tests)
    case("test_validation_removes_port_on_http", URI.replace(".com", ".com:1234").replace("https", "http"), PARAMS,
         "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", tests)
    case("test_validation_adds_port_on_https", URI, PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=", tests)
    case("test_validation_adds_port_on_http", URI.replace("https", "http"), PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=",
         tests)
    case("test_validation_of_body_succeeds", URI + "&bodySHA256=" + BODY_HASH, BODY, "a9nBmqA0ju/hNViExpshrM61xv4=",
         tests)
    case("test_compute_signature_duplicate_multi_dict", URI, DUPLICATES, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", tests)

    # Beyond the reference's tests, each answer computed by the reference itself.
    case("duplicates signed the naive way (kept, sorted as pairs)", URI, DUPLICATES, naive(URI, DUPLICATES))
    case("wrong token", URI, PARAMS, naive(URI, PARAMS)[:-2] + "A=")
    case("signature over other params", URI, PARAMS[:-1], "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    case("empty signature", URI, PARAMS, "")
    case("signature with a trailing space", URI, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8= ")
    case("no params", URI, [], sign(v, URI, []))
    case("blank values are signed", URI, [("Body", ""), ("From", "+1")], sign(v, URI, [("Body", ""), ("From", "+1")]))
    case("unicode values", URI, [("Body", "¿Qué tal? ✓"), ("From", "+1")],
         sign(v, URI, [("Body", "¿Qué tal? ✓"), ("From", "+1")]))
    case("names sort by code point, values too", URI, [("b", "2"), ("B", "1"), ("a", "z"), ("a", "Z"), ("a", "é")],
         sign(v, URI, [("b", "2"), ("B", "1"), ("a", "z"), ("a", "Z"), ("a", "é")]))
    with_443 = URI.replace(".com", ".com:443")
    case("https URL with :443, signed without port", with_443, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    case("https URL with :443, signed with it", with_443, PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    with_8443 = URI.replace(".com", ".com:8443")
    case("https URL with :8443, signed with :8443", with_8443, PARAMS, sign(v, with_8443, PARAMS))
    case("https URL with :8443, signed with :443 (not its port)", with_8443, PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    case("http URL, signed with :443 (not its default)", URI.replace("https", "http"), PARAMS,
         "kvajT1Ptam85bY51eRf/AJRuM3w=")
    other_path = URI.replace("myapp.php", "other.php")
    case("signature of another path", other_path, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    no_query = "https://mycompany.com/myapp.php"
    case("signature of the URL with its query dropped", no_query, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    wrong = URI + "&bodySHA256=" + "0" * 64
    case("JSON body with a wrong bodySHA256", wrong, BODY, sign(v, wrong, []))
    upper = URI + "&bodySHA256=" + BODY_HASH.upper()
    case("JSON body with an upper-case bodySHA256", upper, BODY, sign(v, upper, []))
    case("JSON body with bodySHA256, port added", URI.replace(".com", ".com:443") + "&bodySHA256=" + BODY_HASH, BODY,
         "a9nBmqA0ju/hNViExpshrM61xv4=")
    case("JSON body without bodySHA256", URI, BODY, sign(v, URI, []))
    case("empty JSON body without bodySHA256, URL signed", URI, "", sign(v, URI, []))
    tampered = BODY.replace("value", "valuf")
    case("JSON body changed after signing", URI + "&bodySHA256=" + BODY_HASH, tampered, "a9nBmqA0ju/hNViExpshrM61xv4=")
    form_hash = URI + "&bodySHA256=" + "0" * 64
    case("form params with a bodySHA256 in the URL: the hash is not checked", form_hash, PARAMS,
         sign(v, form_hash, PARAMS))
    blank_hash = URI + "&bodySHA256="
    case("JSON body with a blank bodySHA256", blank_hash, BODY, sign(v, blank_hash, []))
    out = Path(__file__).with_name("twilio_vectors.json")
    commit = sys.argv[2] if len(sys.argv) > 2 else "unknown"
    out.write_text(json.dumps({
        "token": TOKEN,
        "reference": f"github.com/twilio/twilio-python@{commit}: twilio/request_validator.py; 'source' names the "
                     "test of tests/unit/test_request_validator.py a case is ported from, or 'computed' when the "
                     "reference validator gave the answer",
        "cases": cases}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases, {sum(c['valid'] for c in cases)} valid -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
