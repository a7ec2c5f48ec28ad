"""The one masking rule of a contact's number, applied to whole items (conversations, events) by role."""

from __future__ import annotations

from libs.contracts import CampaignSnapshot
from libs.contracts.campaigns import mask_phone


def _snap(show: bool) -> CampaignSnapshot:
    return CampaignSnapshot(id="c", name="C", permissions={"show_contact_number": show})


def test_masking_is_idempotent_and_leaves_other_addresses():
    once = mask_phone("+54 9 11 1234 3456")
    assert once == "+54 9 11 •••• 3456" and mask_phone(once) == once
    assert mask_phone("ana@example.com") == "ana@example.com" and mask_phone("1784523") == "1784523"


def test_contact_shown_to_masks_every_contact_field_for_agents_only():
    item = {"contact_address": "+34 600 111 222", "contact_name": "+34 600 111 222", "to": "+34600111222",
            "text": "+34 600 111 222 no es un campo de contacto", "campaign_id": "c"}
    hidden = _snap(False).contact_shown_to(item, "agent")
    assert hidden["contact_address"] == "+34 6•• ••1 222" and hidden["to"] == "+346••••1222"
    assert hidden["contact_name"] == hidden["contact_address"] and hidden["text"] == item["text"]
    assert item["contact_address"] == "+34 600 111 222"  # a copy: the original stays whole
    for role in ("supervisor", "admin", "system"):
        assert _snap(False).contact_shown_to(item, role) is item
    assert _snap(True).contact_shown_to(item, "agent") is item
