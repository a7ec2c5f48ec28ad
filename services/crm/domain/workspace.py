"""The campaign's script and tabs as an agent sees them beside a conversation or a work item (seed 002 "Guion",
"Pestañas"), and the script objects the field-usage finder searches (seed 000)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from libs.contracts.campaigns import CampaignSnapshot, mask_phone


def tab_values(*, contact: Mapping[str, Any] | None, case: Mapping[str, Any] | None = None,
               account: Mapping[str, Any] | None = None, conversation: Mapping[str, Any] | None = None,
               campaign_id: str, agent_id: str, hide_numbers: bool = False) -> dict[str, Any]:
    """The values a tab URL template may use (``TAB_PLACEHOLDERS`` and the ``contact.custom.``, ``case.fields.``,
    ``account.`` prefixes). Numbers are masked when the agent may not see them: a URL is an answer too."""
    c = contact or {}
    phone = next((p["number"] for p in c.get("phones", [])), None)
    address = (conversation or {}).get("contact_address") or phone
    if hide_numbers:
        phone = mask_phone(phone) if phone else phone
        address = mask_phone(address) if address else address
    values: dict[str, Any] = {
        "contact_id": c.get("id"), "contact_name": c.get("name"), "contact_document": c.get("document"),
        "contact_company": c.get("company"), "contact_phone": phone, "contact_address": address,
        "contact_email": next((e["address"] for e in c.get("emails", [])), None),
        "campaign_id": campaign_id, "agent_id": agent_id,
        "conversation_id": (conversation or {}).get("id") or (case or {}).get("conversation_id"),
        "channel_id": (conversation or {}).get("channel_id"), "channel_type": (conversation or {}).get("channel_type"),
        "case_id": (case or {}).get("id"), "case_title": (case or {}).get("title"),
        "account_number": (account or {}).get("number"),
    }
    for key, value in (c.get("custom") or {}).items():
        values[f"contact.custom.{key}"] = value
    for key, value in ((case or {}).get("fields") or {}).items():
        values[f"case.fields.{key}"] = value
    for key, value in ((account or {}).get("fields") or {}).items():
        values[f"account.{key}"] = value
    if account:
        values["account.number"] = account.get("number")
    return values


def workspace(snapshot: CampaignSnapshot, values: Mapping[str, Any]) -> dict[str, Any]:
    """``{campaign_id, script, tabs: [{name, url, url_template}]}``."""
    return {"campaign_id": snapshot.id, "script": snapshot.script or "", "tabs": snapshot.tabs_for(values)}


@dataclass(frozen=True)
class ScriptObject:
    """A text the finder searches: a campaign's script, one of its tabs, a ticket form."""

    kind: str
    name: str
    screen: str
    body: str
    ref: str


def script_objects(snapshots: Iterable[CampaignSnapshot], campaign_id: str | None = None) -> list[ScriptObject]:
    """Every campaign's script and tabs (only ``campaign_id``'s when given), in campaign order."""
    out: list[ScriptObject] = []
    for s in sorted(snapshots, key=lambda x: x.id):
        if campaign_id and s.id != campaign_id:
            continue
        if s.script:
            out.append(ScriptObject("script", s.name, s.id, s.script, s.id))
        for tab in s.tabs:
            out.append(ScriptObject("tab", tab.name, s.id, tab.url_template, s.id))
    return out
