"""No option without behaviour (issue 13): every field of the campaign schema has a row in
docs/services/campaigns.md naming where it is enforced and a test that exists; rows name only real fields."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from services.campaigns.domain import CampaignIn

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "services" / "campaigns.md"
HEADING = "## Every option, where it is enforced, and its test"


def _models(annotation: object) -> list[type[BaseModel]]:
    found = []
    for t in (annotation, *typing.get_args(annotation)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            found.append(t)
        found += [a for a in typing.get_args(t) if isinstance(a, type) and issubclass(a, BaseModel)]
    return found


def schema_fields(model: type[BaseModel] = CampaignIn, prefix: str = "") -> set[str]:
    """The leaves of the schema: a nested object by its fields (``permissions.media``), a list of objects by its
    items' fields (``tabs[].url_template``)."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        nested = _models(field.annotation)
        if not nested:
            out.add(prefix + name)
            continue
        is_list = typing.get_origin(field.annotation) is list or any(
            typing.get_origin(a) is list for a in typing.get_args(field.annotation))
        for sub in nested:
            out |= schema_fields(sub, f"{prefix}{name}{'[]' if is_list else ''}.")
    return out


def table() -> dict[str, list[str]]:
    text = DOC.read_text()
    assert HEADING in text, f"{DOC} lost its options table"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([^`]+)` \| (.+?) \| (.+) \|$", line)
        if m:
            assert m.group(1) not in rows, f"two rows for {m.group(1)}"
            rows[m.group(1)] = [t.strip().strip("`") for t in m.group(3).split("<br>")]
    return rows


def test_every_field_of_the_campaign_schema_has_a_row_and_every_row_a_field():
    rows, fields = table(), schema_fields()
    assert len(fields) > 60
    missing = sorted(fields - set(rows))
    assert not missing, f"fields without a row in {DOC.name}: {missing}"
    stale = sorted(set(rows) - fields)
    assert not stale, f"rows naming no field of CampaignIn: {stale}"


def test_every_named_test_exists_and_nothing_is_pending():
    for option, tests in table().items():
        assert tests, option
        for ref in tests:
            assert ref != "pending (routing)", f"{option} has no behaviour yet"
            path, _, name = ref.partition("::")
            source = ROOT / path
            assert source.is_file(), f"{option}: no test file {path}"
            assert re.search(rf"^(async )?def {re.escape(name)}\(", source.read_text(), re.M), \
                f"{option}: {path} has no test {name}"
