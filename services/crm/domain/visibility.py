"""What an agent may see of the CRM: the history window and other campaigns (seed 004, seed 002), and
contact numbers masked where the campaign hides them (seed 004 "Mostrar número de contacto").

Pure: the rules come from the campaign snapshots (``CampaignSnapshot.history_since``,
``history_campaigns``, ``hides_numbers_from``); the routes and handlers apply them to what they answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from libs.contracts.campaigns import CampaignSnapshot, mask_phone


@dataclass(frozen=True)
class Window:
    """A part of a contact's history: some campaigns (None: every one) since some instant (None: always)."""

    campaigns: frozenset[str] | None
    since: datetime | None

    def admits(self, campaign_id: str | None, at: datetime | None) -> bool:
        # Items of no campaign (the contact's own changes) belong to no other campaign: only time bounds them.
        if self.campaigns is not None and campaign_id is not None and campaign_id not in self.campaigns:
            return False
        return self.since is None or (at is not None and at >= self.since)


EVERYTHING = (Window(None, None),)


def windows_for(agent_id: str, snapshots: Iterable[CampaignSnapshot], now: datetime,
                campaign_id: str | None = None) -> tuple[Window, ...]:
    """The windows of a contact's history an agent sees: for each campaign they work in (only the one in view
    when ``campaign_id`` names one of theirs), its own and linked campaigns (every campaign with
    ``show_other_campaigns_info``) within its ``history_hours``. An agent of no campaign sees none."""
    mine = [s for s in snapshots if agent_id in s.agents]
    if campaign_id is not None and any(s.id == campaign_id for s in mine):
        mine = [s for s in mine if s.id == campaign_id]
    out = []
    for s in mine:
        campaigns = s.history_campaigns()
        out.append(Window(None if campaigns is None else frozenset(campaigns), s.history_since(now)))
    return tuple(out)


def visible(windows: Iterable[Window], campaign_id: str | None, at: datetime | None) -> bool:
    return any(w.admits(campaign_id, at) for w in windows)


def widest(windows: Iterable[Window]) -> Window | None:
    """One window holding all of them (for a query's bounds): the union of campaigns, the oldest start; None
    when there are no windows (nothing is visible)."""
    ws = list(windows)
    if not ws:
        return None
    campaigns: frozenset[str] | None = frozenset()
    for w in ws:
        campaigns = None if campaigns is None or w.campaigns is None else campaigns | w.campaigns
    starts = [w.since for w in ws]
    return Window(campaigns, None if any(s is None for s in starts) else min(s for s in starts if s is not None))


# ------------------------------------------------------------------------------------------- numbers

# Keys whose string value is a contact's number wherever it appears (a WhatsApp contact's name is often the number:
# names are masked only when they are phone numbers, ``mask_phone`` leaves other text alone).
_NUMBER_KEYS = frozenset({"phone", "phone_raw", "contact_address", "contact_name", "name"})
# Inside a phone entry (``phones[i]``, a match's ``address``): its number and the text it was typed as.
_ENTRY_KEYS = frozenset({"number", "raw"})


class NumberMask:
    """Masks contact numbers in what an agent receives. ``hides(campaign_id)`` says whether numbers of an
    item of that campaign are hidden (``None``: an item of no campaign, such as a contact)."""

    def __init__(self, hides: Callable[[str | None], bool]) -> None:
        self.hides = hides

    @classmethod
    def for_agent(cls, agent_id: str, snapshots: Iterable[CampaignSnapshot], campaign_id: str | None = None
                  ) -> NumberMask | None:
        """The mask of an agent's answer, or None when nothing they may see is masked. An item of a known
        campaign follows that campaign; an item of none (a contact) the campaign in view (``campaign_id``),
        else every campaign the agent works in: masked if any of them hides numbers."""
        by_id = {s.id: s for s in snapshots}
        if not any(s.hides_numbers_from("agent") for s in by_id.values()):
            return None
        in_view = by_id.get(campaign_id) if campaign_id else None
        if in_view is not None:
            default = in_view.hides_numbers_from("agent")
        else:
            default = any(s.hides_numbers_from("agent") for s in by_id.values() if agent_id in s.agents)

        def hides(cid: str | None) -> bool:
            snap = by_id.get(cid) if cid else None
            return snap.hides_numbers_from("agent") if snap is not None else default

        return cls(hides)

    def redact(self, data: Any, campaign_id: str | None = None) -> Any:
        """``data`` with every contact number masked where its campaign hides it; the structure is kept."""
        if isinstance(data, list):
            return [self.redact(x, campaign_id) for x in data]
        if not isinstance(data, dict):
            return data
        cid = data.get("campaign_id") if isinstance(data.get("campaign_id"), str) else campaign_id
        hide = self.hides(cid)
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in _NUMBER_KEYS and isinstance(value, str):
                out[key] = mask_phone(value) if hide else value
            elif key == "phones":
                out[key] = [self._entry(x, hide) for x in value] if isinstance(value, list) else (
                    " ".join(mask_phone(p) for p in value.split(" ")) if hide and isinstance(value, str) else value)
            elif key == "address" and isinstance(value, dict) and "number" in value:
                out[key] = self._entry(value, hide)
            else:
                out[key] = self.redact(value, cid)
        return out

    def _entry(self, entry: Any, hide: bool) -> Any:
        if not hide:
            return entry
        if isinstance(entry, str):
            return mask_phone(entry)
        if isinstance(entry, dict):
            return {k: (mask_phone(v) if k in _ENTRY_KEYS and isinstance(v, str) else v) for k, v in entry.items()}
        return entry

    def row(self, header: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
        """One export row with its number columns masked (a row's ``campaign_id`` column picks the rule)."""
        cid = row[header.index("campaign_id")] if "campaign_id" in header else None
        if not self.hides(cid):
            return row
        out = list(row)
        for i, name in enumerate(header):
            if isinstance(out[i], str) and (name in _NUMBER_KEYS or name == "phones"):
                out[i] = " ".join(mask_phone(p) for p in out[i].split(" "))
        return tuple(out)


def matches_mask(masked: str, number: str) -> bool:
    """Whether ``masked`` (as an agent saw it) is ``number`` masked: how the CRM finds the number an agent
    clicked without ever giving it to them."""
    return "•" in masked and mask_phone(number) == masked
