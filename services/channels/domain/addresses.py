"""Contact addresses: phones in E.164 through ``phonenumbers``; other ids kept as given."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from libs.core.phones import E164_SHAPE, unchanged_by_parsing

# Customers write many messages from one number: each distinct (address, flag) is parsed once. phonenumbers'
# parse is about a third of the CPU a WhatsApp webhook costs; an entry is about 200 bytes, so at most ~13 MB.
CACHED_ADDRESSES = 65_536


def e164(raw: str, *, assume_international: bool = True) -> str:
    """Normalize a phone number to E.164.

    Provider ids such as WhatsApp's ``wa_id`` are digits with the country code and no ``+``. A value that is
    not a possible number (a short code, an extension) is kept as given, digits prefixed with ``+`` only
    when ``assume_international``, so a message is never dropped for its address.
    """
    return _e164(raw, assume_international)


@lru_cache(maxsize=CACHED_ADDRESSES)
def _e164(raw: str, assume_international: bool) -> str:
    value = raw.strip()
    for prefix in ("whatsapp:", "tel:", "sip:"):
        if value.lower().startswith(prefix):
            value = value[len(prefix):]
    digits = "".join(c for c in value if c.isdigit())
    if not digits:
        return value or raw
    candidate = value if value.startswith("+") else ("+" + digits if assume_international else value)
    # A number written as digits (a wa_id) or +digits is its own E.164 unless parsing would change its digits:
    # possible or not, the answer is then ``+digits`` without ``phonenumbers.parse``.
    if candidate == "+" + digits and E164_SHAPE.match(candidate) and unchanged_by_parsing(digits) is not None:
        return candidate
    return possible_e164(candidate)


def possible_e164(candidate: str) -> str:
    """``phonenumbers``' own answer, without the fast path: the E.164 of ``candidate`` when it is a possible
    number, else ``candidate`` as given (the benchmark and the tests compare the fast path with it)."""
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return candidate
    if phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return candidate
