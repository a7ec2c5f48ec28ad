"""The E.164 fast path (``libs/core/phones.py``) skips ``phonenumbers.parse`` for numbers already written as
``+digits`` (or a WhatsApp ``wa_id``): both of its callers must answer exactly what the library answers, valid or
not, for every region's example numbers, the same with a national prefix or a leading zero after the country
code, shortened ones, and 2,000 random ones."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from services.channels.domain.addresses import _e164, possible_e164
from services.crm.domain.contacts import BadAddress, normalize_phone


def samples() -> list[str]:
    rng = random.Random(7)
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            cc, national = str(example.country_code), str(example.national_number)
            out += [f"+{cc}{national}", f"+{cc}0{national}", f"+{cc}15{national}", f"+{cc}{national[:-1]}"]
            out += [f"+{cc}{national[:-2]}{rng.randrange(100):02d}" for _ in range(3)]
    return out + ["+" + str(rng.randrange(10**6, 10**15)) for _ in range(2000)]


SAMPLES = samples()


def test_the_crm_s_valid_numbers_are_the_library_s():
    def library(text: str, region: str) -> str | None:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return None
        valid = phonenumbers.is_valid_number(number)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if valid else None

    def ours(text: str, region: str) -> str | None:
        try:
            return normalize_phone(text, region)
        except BadAddress:
            return None

    wrong = [(s, r) for s in SAMPLES for r in ("AR", "US") if ours(s, r) != library(s, r)]
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("written", ["+{}", "{}"])  # as +digits, and as a wa_id (digits, no +)
def test_the_channels_addresses_are_the_library_s(written: str):
    def library(raw: str) -> str:  # what channels answered before the fast path: parse, possible or as given
        return possible_e164("+" + raw.lstrip("+"))

    raws = [written.format(s[1:]) for s in SAMPLES]
    changed = [r for r in raws if library(r) != "+" + r.lstrip("+")]
    assert changed, "the samples hold numbers whose digits parsing changes (the slow path is exercised)"
    wrong = [(r, _e164.__wrapped__(r, True), library(r)) for r in raws if _e164.__wrapped__(r, True) != library(r)]
    assert not wrong, wrong[:10]
