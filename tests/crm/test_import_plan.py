"""The import planner (``crm/domain/imports.plan_import``): a pure function, proved row by row on a table."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.crm.domain.imports import Candidate, lookups_needed, new_account, new_contact, plan_import

# What PostgreSQL holds before the chunk: contacts by identity, and the campaign's accounts by number.
KNOWN = {("document", "111"): ["c-ana"], ("phone", "+5491100000001"): ["c-bob"], ("email", "x@y.co"): ["c-eve"]}
ACCOUNTS = {"ACC-1": ("a-1", "c-ana"), "ACC-2": ("a-2", "c-other")}

DOC_111 = ("document", "111")
NEW_DOC = ("document", "999")

CASES: list[tuple[str, dict[str, Any], list[Candidate], list[tuple[str, str | None, bool]]]] = [
    ("a new contact is written, unknown", {}, [Candidate(2, "999", NEW_DOC)], [("write", None, False)]),
    ("a known identity is that contact, not a duplicate when keyed otherwise", {"dedup_key": "email"},
     [Candidate(2, "new@y.co", DOC_111)], [("write", "c-ana", False)]),
    ("a known key is a duplicate, skipped", {}, [Candidate(2, "111", DOC_111)], [("skipped", "c-ana", True)]),
    ("a known key is replaced when replace_duplicates", {"replace_duplicates": True},
     [Candidate(2, "111", DOC_111)], [("write", "c-ana", True)]),
    ("a dry run says new or duplicate and writes nothing", {"dry_run": True, "replace_duplicates": True},
     [Candidate(2, "999", NEW_DOC), Candidate(3, "111", DOC_111)],
     [("new", None, False), ("duplicate", "c-ana", True)]),
    ("a dry run reports a skipped duplicate as duplicate", {"dry_run": True},
     [Candidate(2, "111", DOC_111)], [("duplicate", "c-ana", True)]),
    ("keyed by phone, the phone finds the duplicate", {"dedup_key": "phone"},
     [Candidate(2, "+5491100000001", ("phone", "+5491100000001"))], [("skipped", "c-bob", True)]),
    ("an account import keyed by number: an existing account is the duplicate",
     {"accounts": True, "dedup_key": "account_number", "replace_duplicates": True},
     [Candidate(2, "ACC-1", DOC_111, "ACC-1"), Candidate(3, "ACC-9", NEW_DOC, "ACC-9")],
     [("write", "c-ana", True), ("write", None, False)]),
    ("an existing account keeps its customer, whoever the row names", {"accounts": True, "dedup_key": "document"},
     [Candidate(2, "999", NEW_DOC, "ACC-2")], [("write", "c-other", False)]),
    ("an account number twice in the chunk: the second is invalid", {"accounts": True, "dedup_key": "account_number"},
     [Candidate(2, "ACC-7", NEW_DOC, "ACC-7"), Candidate(3, "ACC-7", DOC_111, "ACC-7")],
     [("write", None, False), ("invalid", None, False)]),
]


@pytest.mark.parametrize(("why", "options", "rows", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_row_gets_its_verdict(why: str, options: dict[str, Any], rows: list[Candidate],
                                   expected: list[tuple[str, str | None, bool]]) -> None:
    settings = {"dedup_key": "document", "accounts": False, "replace_duplicates": False, "dry_run": False, **options}
    verdicts = plan_import(rows, known=KNOWN, existing_accounts=ACCOUNTS, **settings)
    assert [(v.outcome, v.contact_id, v.duplicate) for v in verdicts] == expected
    assert [v.row for v in verdicts] == [r.row for r in rows] and all(v.reason for v in verdicts
                                                                     if v.outcome in ("invalid", "skipped"))


def test_a_duplicate_account_keeps_the_row_s_customer_when_replacing() -> None:
    # Keyed by document, the row's document finds c-ana: it is her contact that is updated, and the account
    # of the row (ACC-2, filed under another customer) does not decide who she is.
    [verdict] = plan_import([Candidate(2, "111", DOC_111, "ACC-2")], known=KNOWN, existing_accounts=ACCOUNTS,
                            dedup_key="document", accounts=True, replace_duplicates=True, dry_run=False)
    assert (verdict.outcome, verdict.contact_id, verdict.duplicate) == ("write", "c-ana", True)


@pytest.mark.parametrize(("dedup_key", "expected"), [
    ("document", {"document": {"111", "999"}, "phone": {"+1"}}),
    ("account_number", {"document": {"111"}, "phone": {"+1"}}),
])
def test_the_lookups_a_chunk_needs(dedup_key: str, expected: dict[str, set[str]]) -> None:
    rows = [Candidate(2, "111" if dedup_key == "document" else "A", DOC_111), Candidate(3, "999", ("phone", "+1"))]
    if dedup_key != "document":
        rows = [Candidate(2, "A", DOC_111), Candidate(3, "B", ("phone", "+1"))]
    assert lookups_needed(rows, dedup_key) == expected


def test_the_columns_of_a_new_contact_and_account_as_the_copy_takes_them() -> None:
    # Worked out while parsing (off the event loop): JSON text for the jsonb columns, dates as ISO 8601,
    # non-ASCII kept; no custom fields is an empty object, not null.
    assert new_contact({"name": "Núñez", "document": "111", "custom": {"alta": date(2026, 2, 10), "ciudad": "Cádiz"}},
                       ["vip"]) == ("Núñez", "111", None, None, '{"alta": "2026-02-10", "ciudad": "Cádiz"}', ["vip"])
    assert new_contact({}, []) == ("", None, None, None, "{}", [])
    assert new_account("ACC-1", None, {"saldo": 10.5}, "ana") == ("ACC-1", None, '{"saldo": 10.5}', "ana")
