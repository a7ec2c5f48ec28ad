"""Twilio's REST API: ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` with basic auth."""

from __future__ import annotations

import aiohttp

from libs.contracts import OutboundMessage
from libs.core.errors import Invalid
from services.channels.adapters.providers.http import Reply, RetryPolicy, request
from services.channels.domain.channels import Channel
from services.channels.domain.outbound import IDEMPOTENCY_HEADER, idempotency_key


def twilio_error(reply: Reply) -> str:
    body = reply.json()
    if isinstance(body, dict) and body.get("message"):
        return f"({body.get('code', '?')}) {body['message']}"
    return reply.text


class TwilioSender:
    """Sends SMS/MMS; status callbacks come back to ``/webhooks/sms/{channel_id}/status`` when the service
    knows its public URL."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, policy: RetryPolicy,
                 public_base_url: str = "") -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.public_base_url = public_base_url.rstrip("/")

    async def send(self, ch: Channel, msg: OutboundMessage) -> list[str]:
        """Create the message; return its ``sid``.

        Raises:
            Invalid: missing credentials or sender, or Twilio refused (4xx) with its code and message.
            Transient: Twilio kept failing.
        """
        sid, token = ch.account_sid, ch.secret("auth_token")
        if not sid or not token:
            raise Invalid(f"channel {ch.id} has no Twilio credentials", field="auth_token")
        form: list[tuple[str, str]] = [("To", msg.to)]
        service = ch.config.get("messaging_service_sid")
        if service:
            form.append(("MessagingServiceSid", str(service)))
        elif ch.address:
            form.append(("From", ch.address))
        else:
            raise Invalid(f"channel {ch.id} has no sender address or messaging_service_sid", field="address")
        if msg.text:
            form.append(("Body", msg.text))
        form += [("MediaUrl", m.url) for m in msg.media if m.url]
        if self.public_base_url:
            form.append(("StatusCallback", f"{self.public_base_url}/webhooks/sms/{ch.id}/status"))
        url = f"{ch.base_url or self.base_url}/2010-04-01/Accounts/{sid}/Messages.json"
        reply = await request(self.session, "POST", url, self.policy, data=form,
                              headers={"Authorization": aiohttp.encode_basic_auth(sid, token),
                                       IDEMPOTENCY_HEADER: idempotency_key(msg.id)})
        if reply.status >= 300:
            raise Invalid(f"twilio refused the message (HTTP {reply.status}): {twilio_error(reply)}")
        body = reply.json()
        if not isinstance(body, dict) or not body.get("sid"):
            raise Invalid(f"twilio answered without a sid: {reply.text}")
        return [str(body["sid"])]
