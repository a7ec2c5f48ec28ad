"""Meta Graph API messages endpoint: WhatsApp Cloud API and Instagram messaging sends."""

from __future__ import annotations

from typing import Any

import aiohttp

from libs.contracts import MediaRef, OutboundMessage
from libs.core.errors import Invalid
from services.channels.adapters.providers.http import Reply, RetryPolicy, request
from services.channels.domain.channels import Channel
from services.channels.domain.common import meta_error_text
from services.channels.domain.outbound import IDEMPOTENCY_HEADER, idempotency_key

WA_MEDIA = ("image", "audio", "video", "document", "sticker")


def graph_error(reply: Reply) -> str:
    """The provider's own error text from a Graph error body."""
    body = reply.json()
    err = body.get("error") if isinstance(body, dict) else None
    return meta_error_text(err) if isinstance(err, dict) else reply.text


def whatsapp_bodies(msg: OutboundMessage) -> list[dict[str, Any]]:
    """The documented JSON bodies for one outbound command: one message per medium, text last if alone."""
    to = msg.to.lstrip("+")
    base: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    if msg.reply_to:
        base["context"] = {"message_id": msg.reply_to}
    if msg.template is not None:
        # A template message (outside the 24-hour window): the approved template, its language, and the body's
        # parameters in order. The text, if any, is only how the template reads once filled (for the record).
        template: dict[str, Any] = {"name": msg.template.name, "language": {"code": msg.template.language}}
        if msg.template.parameters:
            template["components"] = [{"type": "body", "parameters": [
                {"type": "text", "text": p} for p in msg.template.parameters]}]
        return [{**base, "type": "template", "template": template}]
    bodies: list[dict[str, Any]] = []
    for i, media in enumerate(msg.media):
        kind = media.kind if media.kind in WA_MEDIA else "document"
        obj = _media_object(media)
        if i == 0 and msg.text and kind in ("image", "video", "document"):
            obj["caption"] = msg.text
        bodies.append({**base, "type": kind, kind: obj})
    captioned = any("caption" in b.get(b["type"], {}) for b in bodies)
    if msg.text and not captioned:
        bodies.append({**base, "type": "text", "text": {"preview_url": False, "body": msg.text}})
    return bodies


def instagram_bodies(msg: OutboundMessage) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for media in msg.media:
        kind = media.kind if media.kind in ("image", "audio", "video") else "file"
        bodies.append({"recipient": {"id": msg.to},
                       "message": {"attachment": {"type": kind, "payload": {"url": media.url}}}})
    if msg.text:
        bodies.append({"recipient": {"id": msg.to}, "message": {"text": msg.text}})
    return bodies


def _media_object(media: MediaRef) -> dict[str, Any]:
    if media.provider_id:
        obj: dict[str, Any] = {"id": media.provider_id}
    elif media.url:
        obj = {"link": media.url}
    else:
        raise Invalid("a media reference needs a url or a provider_id", field="media")
    if media.filename and media.kind == "document":
        obj["filename"] = media.filename
    return obj


class GraphSender:
    """Delivers WhatsApp and Instagram commands through ``POST {base}/{version}/{id}/messages``."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, version: str,
                 policy: RetryPolicy) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.policy = policy

    async def send(self, ch: Channel, msg: OutboundMessage) -> list[str]:
        """Send and return the provider message ids, in order.

        Raises:
            Invalid: the channel lacks credentials, or the provider refused the message (4xx), with its text.
            Transient: the provider kept failing.
        """
        token = ch.secret("access_token")
        if not token:
            raise Invalid(f"channel {ch.id} has no access_token", field="access_token")
        if ch.type == "whatsapp":
            if not ch.phone_number_id:
                raise Invalid(f"channel {ch.id} has no phone_number_id", field="phone_number_id")
            node, bodies = ch.phone_number_id, whatsapp_bodies(msg)
        else:
            node, bodies = (ch.address or "me"), instagram_bodies(msg)
        url = f"{ch.base_url or self.base_url}/{self.version}/{node}/messages"
        ids: list[str] = []
        for part, body in enumerate(bodies):
            headers = {"Authorization": f"Bearer {token}", IDEMPOTENCY_HEADER: idempotency_key(msg.id, part)}
            reply = await request(self.session, "POST", url, self.policy, json=body, headers=headers)
            if reply.status >= 300:
                raise Invalid(f"graph API refused the message (HTTP {reply.status}): {graph_error(reply)}")
            ids.append(_message_id(reply))
        return ids


def _message_id(reply: Reply) -> str:
    body = reply.json()
    if isinstance(body, dict):
        msgs = body.get("messages")
        if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) and msgs[0].get("id"):
            return str(msgs[0]["id"])
        if body.get("message_id"):
            return str(body["message_id"])
    raise Invalid(f"graph API answered without a message id: {reply.text}")
