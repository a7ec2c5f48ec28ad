"""The E.164 fast path both the channels and the CRM use: ``phonenumbers.parse`` is most of the cost of
normalizing a number, and a number already written as ``+<country code><national number>`` does not need it
unless parsing would change its digits (a national prefix or a leading zero after the country code).
Pure (phonenumbers' metadata only); each caller's answer is tested against the library's over every region's
example numbers and random ones (``tests/libs/test_phones.py``)."""

from __future__ import annotations

import functools
import re
from typing import Literal

import phonenumbers

# ``+`` and 7 to 18 digits, the first not 0: the shape the fast path takes (anything else is parsed).
E164_SHAPE = re.compile(r"^\+[1-9]\d{6,17}$")


def unchanged_by_parsing(digits: str) -> phonenumbers.PhoneNumber | None:
    """``+digits`` as ``phonenumbers.parse`` would read it, when parsing keeps every digit (so its E.164 is
    ``+digits``); ``None`` when it could change them or the country code is unknown: the caller then parses."""
    for size in (1, 2, 3):
        cc = int(digits[:size])
        if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if not 2 <= len(national) <= 17 or national[0] == "0":
        return None
    prefix = _national_prefix(cc)
    if prefix is False:
        return None
    if prefix is not None and (m := prefix.match(national)) and (m.end() or any(g is not None for g in m.groups())):
        return None
    return phonenumbers.PhoneNumber(country_code=cc, national_number=int(national))


@functools.cache
def _national_prefix(cc: int) -> re.Pattern[str] | Literal[False] | None:
    """The national prefix pattern ``phonenumbers.parse`` strips after a country code (``False``: no metadata)."""
    region = phonenumbers.region_code_for_country_code(cc)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    if metadata is None:
        return False
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else None
