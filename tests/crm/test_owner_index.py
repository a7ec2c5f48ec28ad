"""The owner index the CRM publishes for the router (seed 002 "Asignación de cuentas"): every address of a contact
whose account (per campaign) or whose contact record (any campaign) has an assigned user, kept in the ``owners``
KV bucket through imports, edits and deletions."""

from __future__ import annotations

from typing import Any

from libs.contracts import CampaignSnapshot
from libs.contracts.owners import OWNERS_BUCKET, OwnerEntry, address_key, channel_key

from ..conftest import as_user
from .test_imports import HEADER, csv_bytes


def admin() -> dict[str, str]:
    return as_user("crm", "admin", "admin", None)


async def _entry(js: Any, key: str) -> dict[str, str] | None:
    kv = await js.key_value(OWNERS_BUCKET)
    try:
        got = await kv.get(key)
    except Exception:
        return None
    return OwnerEntry.model_validate_json(got.value).owners if got.value else None


async def _becomes(h: Any, js: Any, key: str, expected: dict[str, str] | None) -> None:
    async def check() -> bool:
        return await _entry(js, key) == expected

    await h.eventually(check)


async def test_accounts_and_contacts_publish_their_owners_by_address(client, h, js, unique):
    camp = await h.put_campaign(CampaignSnapshot(id=f"own-{unique}", name="Own"))
    other = await h.put_campaign(CampaignSnapshot(id=f"own2-{unique}", name="Own 2"))
    phone, mail = f"+54911{int(unique[:6], 16) % 10**8:08d}", f"cliente-{unique}@example.com"
    resp = await client.post("/contacts", json={"name": "Cliente", "phones": [phone], "emails": [mail]},
                             headers=admin())
    assert resp.status == 201, await resp.text()
    contact = await resp.json()
    phone_key, mail_key = channel_key("whatsapp", phone), channel_key("email", mail.upper())
    assert phone_key == address_key("phone", "", phone)

    # An account assigned to ana in one campaign: both addresses carry her for that campaign.
    resp = await client.post("/accounts", json={"contact_id": contact["id"], "campaign_id": camp.id,
                                                "number": f"N1-{unique}", "assigned_user": "ana"}, headers=admin())
    assert resp.status == 201, await resp.text()
    account = await resp.json()
    await _becomes(h, js, phone_key, {camp.id: "ana"})
    await _becomes(h, js, mail_key, {camp.id: "ana"})
    # Another campaign's account, and the contact's own assigned user (any campaign).
    await client.post("/accounts", json={"contact_id": contact["id"], "campaign_id": other.id,
                                         "number": f"N2-{unique}", "assigned_user": "bruno"}, headers=admin())
    await client.patch(f"/contacts/{contact['id']}", json={"assigned_user": "carla"}, headers=admin())
    await _becomes(h, js, phone_key, {camp.id: "ana", other.id: "bruno", "*": "carla"})
    entry = OwnerEntry(owners=await _entry(js, phone_key) or {})
    assert entry.owner_for(camp.id) == "ana" and entry.owner_for("elsewhere") == "carla"
    # Reassigned by hand, then unassigned.
    await client.patch(f"/accounts/{account['id']}", json={"assigned_user": "dario"}, headers=admin())
    await _becomes(h, js, phone_key, {camp.id: "dario", other.id: "bruno", "*": "carla"})
    # A removed address loses its entry; the others keep theirs.
    resp = await client.patch(f"/contacts/{contact['id']}", json={"emails": []}, headers=admin())
    assert resp.status == 200, await resp.text()
    await _becomes(h, js, mail_key, None)
    assert await _entry(js, phone_key) == {camp.id: "dario", other.id: "bruno", "*": "carla"}
    # The contact deleted: nobody owns its number any more.
    resp = await client.delete(f"/contacts/{contact['id']}", headers=admin())
    assert resp.status in (200, 204), await resp.text()
    await _becomes(h, js, phone_key, None)


async def test_an_import_with_account_assignment_publishes_the_owners(client, h, js, jobs, unique):
    camp = await h.put_campaign(CampaignSnapshot(id=f"own-imp-{unique}", name="Own imp", agents=[f"ana-{unique}"]))
    phone = f"+54911{int(unique[:6], 16) % 10**8:08d}"
    rows = [HEADER, [f"I1-{unique}", f"DI-{unique}", "Importado", phone, "", "", "", "", "", f"ana-{unique}", ""]]
    up = await jobs.uploaded("cuentas.csv", csv_bytes(rows))
    done = await jobs.run("import_accounts", {"campaign_id": camp.id, "assign_users": True}, up["id"])
    assert done["status"] == "succeeded", done
    await _becomes(h, js, channel_key("sms", phone), {camp.id: f"ana-{unique}", "*": f"ana-{unique}"})

    # Without "Asignación de cuentas" the assigned users are not kept, and nothing is published.
    other = f"+54911{(int(unique[:6], 16) + 1) % 10**8:08d}"
    rows = [HEADER, [f"I2-{unique}", f"DJ-{unique}", "Sin dueño", other, "", "", "", "", "", f"ana-{unique}", ""]]
    up = await jobs.uploaded("cuentas2.csv", csv_bytes(rows))
    done = await jobs.run("import_accounts", {"campaign_id": camp.id, "assign_users": False}, up["id"])
    assert done["status"] == "succeeded", done
    assert await _entry(js, channel_key("sms", other)) is None
