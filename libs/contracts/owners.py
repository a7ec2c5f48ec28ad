"""The owner index: who a customer's conversations go to (seed 002 "Asignación de cuentas"), in the ``owners`` KV
bucket.

The CRM writes it from the assigned user of every account (per campaign) and of the contact (any campaign), one
key per contact address; the router reads the key of a new conversation's address. Keys are a digest of the
address as both sides normalize it (E.164 phones, lower-case e-mail addresses, a network's handle), so any
address fits NATS's key alphabet and none is readable from the bucket's key list.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

OWNERS_BUCKET = "owners"
ANY_CAMPAIGN = "*"

# The kind of CRM address (and its network) each channel's contact address is.
CHANNEL_ADDRESS_KIND: dict[str, tuple[str, str]] = {
    "whatsapp": ("phone", ""), "sms": ("phone", ""), "voice": ("phone", ""), "email": ("email", ""),
    "instagram": ("handle", "instagram"),
}


def address_key(kind: str, network: str, value: str) -> str:
    """The KV key of one address (``phone``/``email``/``handle``, its network, its normalized value)."""
    digest = hashlib.sha256(f"{kind}\x00{network}\x00{value.strip().lower()}".encode()).hexdigest()
    return f"a.{digest[:40]}"


def channel_key(channel_type: str, contact_address: str) -> str | None:
    """The KV key of a conversation's contact address, or None for a channel type without owners."""
    kind = CHANNEL_ADDRESS_KIND.get(channel_type)
    return address_key(kind[0], kind[1], contact_address) if kind else None


class OwnerEntry(BaseModel):
    """The assigned users of one address: campaign id (or ``*``, the contact's own assigned user) -> user id."""

    owners: dict[str, str] = Field(default_factory=dict)

    def owner_for(self, campaign_id: str) -> str | None:
        """The campaign's account owner, else the contact's assigned user."""
        return self.owners.get(campaign_id) or self.owners.get(ANY_CAMPAIGN)
