"""The console's locales: both have the same keys, and the Spanish one says nothing in English.

The locales are ES modules (``services/gateway/console/locales/*.js``); node (installed by
``scripts/install-node-tools.sh``) loads them and prints them as JSON.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

LOCALES = Path(__file__).resolve().parents[2] / "services" / "gateway" / "console" / "locales"
# English words for states, statuses and errors that must never reach the Spanish screen.
ENGLISH_WORDS = (
    "assigned", "queued", "offered", "closed", "open", "pending", "done", "cancelled", "canceled", "failed",
    "delivered", "sent", "available", "offline", "break", "in_progress", "unclassified", "inbound", "outbound",
    "not found", "forbidden", "unauthorized", "invalid", "expired", "required", "unknown", "succeeded",
    "running", "save", "cancel", "close", "search", "download", "please", "wrong", "the", "and", "your",
)
ENGLISH = re.compile(r"\b(" + "|".join(re.escape(w) for w in ENGLISH_WORDS) + r")\b", re.IGNORECASE)
# A time on a 12-hour clock, as an English browser writes it: "4:35:35 PM", "9am", "12 p.m.".
ENGLISH_CLOCK = re.compile(r"\b\d{1,2}(?::\d{2}){0,2}\s?[ap]\.?\s?m\b\.?", re.IGNORECASE)


def english_words(text: str) -> list[str]:
    """The English status or error words, and 12-hour times, in a text (for the browser tests too)."""
    return [m.group(0) for m in ENGLISH.finditer(text)] + [m.group(0) for m in ENGLISH_CLOCK.finditer(text)]


def load(lang: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: run scripts/install-node-tools.sh")
    script = "import(process.argv[1]).then((m) => console.log(JSON.stringify(m.default)))"
    out = subprocess.run([node, "--input-type=module", "-e", script, str(LOCALES / f"{lang}.js")],
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def locales() -> dict[str, dict[str, Any]]:
    return {lang: load(lang) for lang in ("es", "en")}


def test_both_locales_have_the_same_keys(locales):
    es, en = locales["es"], locales["en"]
    assert sorted(es) == sorted(en) == ["errors", "fields", "texts"]
    for part in es:
        assert sorted(set(es[part]) - set(en[part])) == [], f"{part}: only in Spanish"
        assert sorted(set(en[part]) - set(es[part])) == [], f"{part}: only in English"
        assert all(isinstance(v, str) and v.strip() for v in [*es[part].values(), *en[part].values()]), part


def test_spanish_shows_no_english_status_or_error_word(locales):
    leaks = {f"{part}.{key}": english_words(value) for part, table in locales["es"].items()
             for key, value in table.items() if english_words(value)}
    assert leaks == {}


def test_the_check_finds_english_words(locales):
    assert english_words("Conversation closed; the call is pending") == ["closed", "the", "pending"]
    assert english_words("Conversación cerrada") == []
    # Run on the English locale, the same check finds plenty (else it could never fail).
    assert len([v for v in locales["en"]["texts"].values() if english_words(v)]) > 30
