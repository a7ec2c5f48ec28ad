"""Export cells: text for spreadsheets, with formula injection neutralized."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A signed number (an E.164 phone, a negative amount) cannot run anything: it stays as it is.
PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def neutralize(text: str) -> str:
    """A cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab / CR) gets a leading apostrophe,
    so a spreadsheet shows it as text and never runs it as a formula."""
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def cell(value: Any) -> Any:
    """A value as written to CSV or XLSX: numbers stay numbers, everything else is neutralized text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    return neutralize(str(value))
