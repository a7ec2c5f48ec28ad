"""Contact addresses: phones in E.164 through ``phonenumbers``; other ids kept as given."""

from __future__ import annotations

import phonenumbers


def e164(raw: str, *, assume_international: bool = True) -> str:
    """Normalize a phone number to E.164.

    Provider ids such as WhatsApp's ``wa_id`` are digits with the country code and no ``+``. A value that is
    not a possible number (a short code, an extension) is kept as given, digits prefixed with ``+`` only
    when ``assume_international``, so a message is never dropped for its address.
    """
    value = raw.strip()
    for prefix in ("whatsapp:", "tel:", "sip:"):
        if value.lower().startswith(prefix):
            value = value[len(prefix):]
    digits = "".join(c for c in value if c.isdigit())
    if not digits:
        return value or raw
    candidate = value if value.startswith("+") else ("+" + digits if assume_international else value)
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return candidate
    if phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return candidate
