"""Twilio's REST API with basic auth: ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` (SMS) and
``.../Calls.json`` (click-to-call)."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

import aiohttp

from libs.contracts import OutboundMessage
from libs.core.errors import Invalid
from services.channels.adapters.blobs import MediaLinks
from services.channels.adapters.providers.http import Reply, RetryPolicy, request
from services.channels.domain.channels import Channel
from services.channels.domain.outbound import IDEMPOTENCY_HEADER, idempotency_key
from services.channels.domain.voice import PlaceCall, agent_address


def twilio_error(reply: Reply) -> str:
    body = reply.json()
    if isinstance(body, dict) and body.get("message"):
        return f"({body.get('code', '?')}) {body['message']}"
    return reply.text


class TwilioApi:
    """Twilio's REST API at ``base_url`` (a channel's ``base_url`` overrides it); ``public_base_url`` is where its
    status callbacks reach this service."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, policy: RetryPolicy,
                 public_base_url: str = "") -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.public_base_url = public_base_url.rstrip("/")


class TwilioSender(TwilioApi):
    """Sends SMS/MMS; status callbacks come back to ``/webhooks/sms/{channel_id}/status`` when the service
    knows its public URL. Twilio fetches each ``MediaUrl``: our own ``blob:`` media goes as a signed link."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, policy: RetryPolicy, links: MediaLinks,
                 public_base_url: str = "") -> None:
        super().__init__(session, base_url, policy, public_base_url)
        self.links = links

    async def send(self, ch: Channel, msg: OutboundMessage) -> list[str]:
        """Create the message; return its ``sid``.

        Raises:
            Invalid: missing credentials or sender, or Twilio refused (4xx) with its code and message.
            Transient: Twilio kept failing.
        """
        sid, token = _credentials(ch)
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
        form += [("MediaUrl", self.links.url(m)) for m in msg.media if m.url]
        if self.public_base_url:
            form.append(("StatusCallback", f"{self.public_base_url}/webhooks/sms/{ch.id}/status"))
        url = f"{ch.base_url or self.base_url}/2010-04-01/Accounts/{sid}/Messages.json"
        return [await create(self.session, self.policy, url, form, (sid, token), msg.id, "message")]


async def create(session: aiohttp.ClientSession, policy: RetryPolicy, url: str, form: list[tuple[str, str]],
                 credentials: tuple[str, str], key: str, what: str) -> str:
    """POST a Twilio resource (a form, basic auth, an idempotency token); return its ``sid``.

    Raises:
        Invalid: Twilio refused (4xx) with its code and message, or answered without a sid. Transient: it kept
        failing.
    """
    reply = await request(session, "POST", url, policy, data=form,
                          headers={"Authorization": aiohttp.encode_basic_auth(*credentials),
                                   IDEMPOTENCY_HEADER: idempotency_key(key)})
    if reply.status >= 300:
        raise Invalid(f"twilio refused the {what} (HTTP {reply.status}): {twilio_error(reply)}")
    body = reply.json()
    if not isinstance(body, dict) or not body.get("sid"):
        raise Invalid(f"twilio answered without a sid: {reply.text}")
    return str(body["sid"])


def _credentials(ch: Channel) -> tuple[str, str]:
    sid, token = ch.account_sid, ch.secret("auth_token")
    if not sid or not token:
        raise Invalid(f"channel {ch.id} has no Twilio credentials", field="auth_token")
    return sid, token


class TwilioVoice(TwilioApi):
    """Click-to-call through Twilio's Calls API: Twilio calls the agent (their entry in ``agent_extensions``: a
    number or ``client:<name>``) and, once answered, the TwiML ``<Dial>`` connects the contact. Status callbacks
    of the call come back to ``/webhooks/voice/{channel_id}`` when the service knows its public URL."""

    EVENTS = ("initiated", "ringing", "answered", "completed")

    async def dial(self, ch: Channel, call: PlaceCall) -> str:
        """Create the call; return its ``sid`` (``CA...``).

        Raises:
            Invalid: no credentials or caller id, the agent has no number, or Twilio refused (4xx).
            Transient: Twilio kept failing.
        """
        sid, token = _credentials(ch)
        cfg = ch.voice_config()
        agent = agent_address(cfg, ch.id, call.agent_id)
        caller = cfg.caller_id or ch.address
        if not caller:
            raise Invalid(f"channel {ch.id} has no caller id (address or config.caller_id)", field="address")
        twiml = (f"<Response><Dial callerId={quoteattr(caller)} timeout=\"{cfg.timeout_s}\">"
                 f"<Number>{call.to}</Number></Dial></Response>")
        form: list[tuple[str, str]] = [("To", agent), ("From", caller), ("Twiml", twiml),
                                       ("Timeout", str(cfg.timeout_s))]
        if self.public_base_url:
            form += [("StatusCallback", f"{self.public_base_url}/webhooks/voice/{ch.id}"),
                     ("StatusCallbackMethod", "POST")] + [("StatusCallbackEvent", e) for e in self.EVENTS]
        url = f"{ch.base_url or self.base_url}/2010-04-01/Accounts/{sid}/Calls.json"
        return await create(self.session, self.policy, url, form, (sid, token), call.call_id, "call")
