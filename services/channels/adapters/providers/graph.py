"""Meta Graph API messages endpoint: WhatsApp Cloud API and Instagram messaging sends."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import aiohttp

from libs.contracts import MediaRef, OutboundMessage
from libs.core.errors import Invalid
from services.channels.adapters.blobs import MediaLinks, is_blob
from services.channels.adapters.providers.http import Reply, RetryPolicy, request
from services.channels.domain.channels import Channel
from services.channels.domain.common import meta_error_text
from services.channels.domain.media_links import MIME
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


def instagram_bodies(msg: OutboundMessage, url_of: Callable[[MediaRef], str] | None = None) -> list[dict[str, Any]]:
    """``url_of(media)``: the URL Instagram fetches (a signed link for our own ``blob:`` media)."""
    bodies: list[dict[str, Any]] = []
    for media in msg.media:
        kind = media.kind if media.kind in ("image", "audio", "video") else "file"
        url = url_of(media) if url_of else media.url
        bodies.append({"recipient": {"id": msg.to},
                       "message": {"attachment": {"type": kind, "payload": {"url": url}}}})
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
                 policy: RetryPolicy, links: MediaLinks) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.policy = policy
        self.links = links

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
            msg = await self._uploaded(ch, token, msg)
            node, bodies = ch.phone_number_id, whatsapp_bodies(msg)
        else:
            node, bodies = (ch.address or "me"), instagram_bodies(msg, self.links.url)
        url = f"{ch.base_url or self.base_url}/{self.version}/{node}/messages"
        ids: list[str] = []
        for part, body in enumerate(bodies):
            headers = {"Authorization": f"Bearer {token}", IDEMPOTENCY_HEADER: idempotency_key(msg.id, part)}
            reply = await request(self.session, "POST", url, self.policy, json=body, headers=headers)
            if reply.status >= 300:
                raise Invalid(f"graph API refused the message (HTTP {reply.status}): {graph_error(reply)}")
            ids.append(_message_id(reply))
        return ids

    async def _uploaded(self, ch: Channel, token: str, msg: OutboundMessage) -> OutboundMessage:
        """The command with each of our own ``blob:`` media uploaded to the number's media store
        (``POST /{phone_number_id}/media``, multipart, ``messaging_product=whatsapp``) and named by the id
        WhatsApp answers: the Cloud API cannot fetch our store."""
        if not any(is_blob(m) for m in msg.media):
            return msg
        url = f"{ch.base_url or self.base_url}/{self.version}/{ch.phone_number_id}/media"
        media: list[MediaRef] = []
        for m in msg.media:
            if not is_blob(m):
                media.append(m)
                continue
            mime = (m.mime_type or "").lower()
            mime = mime if MIME.match(mime) else "application/octet-stream"
            body, ctype = multipart({"messaging_product": "whatsapp", "type": mime},
                                    m.filename or (m.url or "").removeprefix("blob:")[:16], mime,
                                    await self.links.data(m))
            reply = await request(self.session, "POST", url, self.policy, data=body,
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
            found = reply.json()
            if reply.status >= 300 or not isinstance(found, dict) or not found.get("id"):
                raise Invalid(f"graph API refused the media upload (HTTP {reply.status}): {graph_error(reply)}",
                              field="media")
            media.append(m.model_copy(update={"provider_id": str(found["id"]), "url": None}))
        return msg.model_copy(update={"media": media})


def multipart(fields: dict[str, str], filename: str, mime_type: str, data: bytes) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of ``fields`` and one ``file``, as bytes (sent again as it is on a retry)."""
    boundary = secrets.token_hex(16)
    safe = "".join(c for c in filename if c not in '"\\\r\n') or "file"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
                 f"Content-Type: {mime_type}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _message_id(reply: Reply) -> str:
    body = reply.json()
    if isinstance(body, dict):
        msgs = body.get("messages")
        if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) and msgs[0].get("id"):
            return str(msgs[0]["id"])
        if body.get("message_id"):
            return str(body["message_id"])
    raise Invalid(f"graph API answered without a message id: {reply.text}")
