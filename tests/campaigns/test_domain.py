"""Pure rules of the campaigns service: patch merging, diffs, error paths, tab templates, the compiler."""

from __future__ import annotations

import pytest

from libs.contracts import Schedule, Typification
from libs.core.errors import Forbidden, Invalid, Unauthorized
from libs.core.validation import field_path, parse_body
from services.campaigns.domain import (
    Actor,
    CampaignIn,
    FieldDef,
    check_url_template,
    compile_snapshot,
    diff,
    merge_patch,
)

BASE = {"id": "c1", "client_id": "cl", "project_id": "pr", "name": "Ventas"}


def test_field_paths() -> None:
    assert field_path(("tabs", 0, "url_template")) == "tabs[0].url_template"
    assert field_path(("", "weekly", "1", 0, "start")) == "weekly.1[0].start"


def test_merge_patch_refuses_unknown_and_immutable_fields() -> None:
    assert merge_patch(BASE, {"name": "x"}, CampaignIn)["name"] == "x"
    with pytest.raises(Invalid) as unknown:
        merge_patch(BASE, {"nmae": "x"}, CampaignIn)
    assert unknown.value.field == "nmae"
    with pytest.raises(Invalid) as immutable:
        merge_patch(BASE, {"id": "c2"}, CampaignIn)
    assert immutable.value.field == "id"
    with pytest.raises(Invalid):
        merge_patch(BASE, ["name"], CampaignIn)


def test_diff_lists_only_changed_fields() -> None:
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {"b": {"from": 2, "to": 3},
                                                               "c": {"from": None, "to": 4}}


def test_all_errors_are_reported_in_details() -> None:
    with pytest.raises(Invalid) as err:
        parse_body(CampaignIn, {**BASE, "name": "", "routing": {"strategy": "x"}})
    fields = [d["field"] for d in err.value.details]
    assert fields == ["name", "routing.strategy"] and err.value.field == "name"


@pytest.mark.parametrize(("template", "ok"), [
    ("https://crm.example/c/{contact_id}?a={agent_id}", True),
    ("http://intranet/x", True),
    ("javascript:alert(1)", False),
    ("https://x/{contact_id!r}", False),
    ("https://x/{contact_id:>10}", False),
    ("https://x/{", False),
    ("https://x/{secret}", False),
])
def test_tab_url_templates(template: str, ok: bool) -> None:
    if ok:
        check_url_template(template)
    else:
        with pytest.raises(ValueError):
            check_url_template(template)


def test_roles() -> None:
    Actor("u", "admin").require_admin()
    with pytest.raises(Unauthorized):
        Actor(None, None).require_admin()
    with pytest.raises(Forbidden):
        Actor("u", "supervisor").require_admin()


def test_compiler_denormalizes_the_catalogs() -> None:
    spec = parse_body(CampaignIn, {
        **BASE, "channels": [{"id": "ig", "type": "instagram"}], "closing_typifications": ["sale"],
        "transfer_typification": "xfer", "ignore_comment_typification": "ign",
        "custom_fields": [{"key": "doc", "required": True}, {"key": "kind", "label": "Clase"}],
    })
    typs = {t: Typification(id=t, category=t.upper()) for t in ("sale", "xfer", "ign")}
    catalog = {"doc": FieldDef(key="doc", label="Documento"),
               "kind": FieldDef(key="kind", label="Tipo", type="select", options=["a"])}
    snap = compile_snapshot(spec, campaign_id="c1", status="active", version=7, schedule=Schedule(timezone="UTC"),
                            typifications=typs, catalog=catalog, channel_types={})
    assert snap.version == 7 and [t.id for t in snap.typifications] == ["sale", "xfer", "ign"]
    assert [(f.key, f.label, f.type, f.required) for f in snap.custom_fields] == [
        ("doc", "Documento", "text", True), ("kind", "Clase", "select", False)]
    assert snap.closure_problems("xfer", {"doc": "1"})[0][0] == "typification_id"
