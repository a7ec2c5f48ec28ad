"""The CRM part of the demo tenant (``SB_DEMO_SEED=true``): a few customers with accounts and work items in
the demo campaign, seeded idempotently (fixed ids; an existing one is left alone)."""

from __future__ import annotations

from libs.core import demo
from libs.core.logging import get_logger
from services.crm.domain.contacts import Address
from services.crm.handlers import Crm

log = get_logger(__name__)

CUSTOMERS = (
    ("demo-contact-1", "Lucía Fernández", "20111222", "+5491155550001", "lucia@example.com", "Plan 60 cuotas"),
    ("demo-contact-2", "Martín Gómez", "20333444", "+5491155550002", "martin@example.com", "Plan 84 cuotas"),
    ("demo-contact-3", "Sofía Ruiz", "20555666", "+5491155550003", None, "Plan 120 cuotas"),
)


async def seed(crm: Crm) -> None:
    async with crm.uow() as uow:
        for i, (contact_id, name, document, phone, email, plan) in enumerate(CUSTOMERS):
            if await uow.contacts.get(contact_id) is not None:
                continue
            await uow.contacts.insert(contact_id, {"name": name, "document": document, "company": "Demo",
                                                   "tags": ["demo"]})
            addresses = [Address("phone", phone, phone)] + ([Address("email", email, email)] if email else [])
            await uow.contacts.add_addresses(contact_id, addresses)
            account = await uow.accounts.insert_account(f"demo-account-{i + 1}", {
                "contact_id": contact_id, "campaign_id": demo.CAMPAIGN_ID, "number": f"DEMO-{i + 1:04d}",
                "product": plan, "fields": {"cuotas_vencidas": i + 1}})
            await uow.cases.insert(f"demo-case-{i + 1}", {
                "campaign_id": demo.CAMPAIGN_ID, "contact_id": contact_id,
                "account_id": account["id"] if account else None, "priority": 2 - i,
                "assigned_user": demo.AGENT_IDS[0] if i == 0 else None, "title": f"Cobranza {plan}"})
            log.info("demo_contact_seeded", contact_id=contact_id)
