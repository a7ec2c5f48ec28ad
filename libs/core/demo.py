"""The demo tenant seeded by ``switchboard up``: fixed ids and known secrets, documented in the README."""

from __future__ import annotations

CLIENT_ID = "demo-client"
PROJECT_ID = "demo-project"
CAMPAIGN_ID = "demo-campaign"
WHATSAPP_CHANNEL_ID = "demo-whatsapp"
WHATSAPP_APP_SECRET = "demo-app-secret"
WHATSAPP_VERIFY_TOKEN = "demo-verify-token"
WHATSAPP_PHONE_NUMBER_ID = "100000000000001"
WHATSAPP_ACCESS_TOKEN = "demo-access-token"

# (user id, username, password, role)
USERS: tuple[tuple[str, str, str, str], ...] = (
    ("agent-ana", "ana", "ana-demo-pass", "agent"),
    ("agent-bruno", "bruno", "bruno-demo-pass", "agent"),
    ("agent-carla", "carla", "carla-demo-pass", "agent"),
    ("sup-sofia", "sofia", "sofia-demo-pass", "supervisor"),
    ("admin", "admin", "admin-demo-pass", "admin"),
)
AGENT_IDS: tuple[str, ...] = tuple(u[0] for u in USERS if u[3] == "agent")

# The closing typification the demo uses, and the custom field it requires.
SALE_TYPIFICATION_ID = "sale"
REQUIRED_FIELD_KEY = "document_number"
