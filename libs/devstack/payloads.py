"""Provider payloads in their documented wire format, signed, for the demo and the end-to-end tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any


def meta_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header Meta sends: HMAC-SHA256 of the raw body with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_text(phone_number_id: str, wa_from: str, wamid: str, text: str, name: str = "Cliente",
                  display_phone: str = "15550001111", timestamp: int | None = None) -> bytes:
    """A WhatsApp Cloud API ``messages`` webhook with one text message, as Meta documents it."""
    payload: dict[str, Any] = {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": display_phone, "phone_number_id": phone_number_id},
                    "contacts": [{"profile": {"name": name}, "wa_id": wa_from}],
                    "messages": [{
                        "from": wa_from,
                        "id": wamid,
                        "timestamp": str(timestamp or int(time.time())),
                        "text": {"body": text},
                        "type": "text",
                    }],
                },
            }],
        }],
    }
    return json.dumps(payload).encode()
