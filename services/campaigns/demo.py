"""The campaigns part of the demo tenant (``SB_DEMO_SEED=true``), seeded idempotently."""

from __future__ import annotations

from typing import Any

from libs.core import demo
from libs.core.errors import Conflict, NotFound
from libs.core.logging import get_logger
from services.campaigns.domain import Actor
from services.campaigns.handlers import CampaignsService

log = get_logger(__name__)

SYSTEM = Actor(user_id="system:demo-seed", role="admin")
SUPERVISOR_ID = "sup-sofia"
DOCUMENT_FIELD = "document_number"

TYPIFICATIONS: tuple[dict[str, Any], ...] = (
    {"id": "sale", "category": "Venta", "subcategory": "Cerrada", "label": "Venta cerrada"},
    {"id": "no-interest", "category": "No interesado", "label": "No interesado"},
    {"id": "callback", "category": "Seguimiento", "subcategory": "Volver a llamar", "label": "Volver a llamar"},
    {"id": "transfer", "category": "Transferencia", "label": "Transferencia"},
    {"id": "inactive", "category": "Inactividad", "label": "Cerrada por inactividad"},
)


def demo_campaign() -> dict[str, Any]:
    return {
        "id": demo.CAMPAIGN_ID,
        "client_id": demo.CLIENT_ID,
        "project_id": demo.PROJECT_ID,
        "name": "Demo WhatsApp",
        "status": "active",
        "channels": [{"id": demo.WHATSAPP_CHANNEL_ID, "type": "whatsapp"}],
        "schedule_id": None,  # open 24/7
        "out_of_hours": {"action": "queue", "send_message": False},
        "closing_typifications": ["sale", "no-interest", "callback"],
        "inactivity_typification": "inactive",
        "inactivity_timeout_s": 1800,
        "transfer_typification": "transfer",
        "custom_fields": [{"key": DOCUMENT_FIELD, "required": True, "label": "Documento",
                           "integration_key": "customer.document"}],
        "agents": list(demo.AGENT_IDS),
        "supervisors": [SUPERVISOR_ID],
        "script": "Saluda al cliente por su nombre y pide su número de documento antes de cerrar.",
        "permissions": {"media": True, "close_without_reply": False, "transfer_between_agents": True,
                        "transfer_between_campaigns": True, "emojis": True, "show_contact_number": True,
                        "history_hours": 24},
        "routing": {"strategy": "longest_idle", "agent_capacity": 3},
    }


async def _ensure(svc: CampaignsService, kind: str, key: str, body: dict[str, Any]) -> None:
    try:
        await svc.views.get(kind, key)
    except NotFound:
        try:
            await svc.create(kind, body, SYSTEM)
        except Conflict:  # another replica seeded it first
            pass


async def seed_demo(svc: CampaignsService) -> None:
    """Create what is missing; never overwrite what an admin has changed since."""
    await _ensure(svc, "client", demo.CLIENT_ID, {"id": demo.CLIENT_ID, "name": "Demo Client"})
    await _ensure(svc, "project", demo.PROJECT_ID,
                  {"id": demo.PROJECT_ID, "client_id": demo.CLIENT_ID, "name": "Demo Project"})
    for typ in TYPIFICATIONS:
        await _ensure(svc, "typification", typ["id"], typ)
    await _ensure(svc, "field", DOCUMENT_FIELD, {"key": DOCUMENT_FIELD, "label": "Número de documento"})
    try:
        await svc.views.get_campaign(demo.CAMPAIGN_ID)
    except NotFound:
        try:
            await svc.create_campaign(demo_campaign(), SYSTEM)
        except Conflict:
            return
        log.info("demo_campaign_seeded", campaign_id=demo.CAMPAIGN_ID)
