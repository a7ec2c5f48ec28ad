"""Calls through Asterisk ARI: ``POST {ari_base_url}/ari/channels`` originates a call (click-to-call rings the
agent's extension, then the dialplan dials the contact), ``/redirect`` connects an inbound call to an agent."""

from __future__ import annotations

import aiohttp

from libs.contracts import OutboundMessage
from libs.core.errors import Invalid
from services.channels.adapters.providers.http import Reply, RetryPolicy, request
from services.channels.domain.channels import Channel
from services.channels.domain.voice import PlaceCall, agent_address


def _ari_error(reply: Reply) -> str:
    body = reply.json()
    return str(body["message"]) if isinstance(body, dict) and body.get("message") else reply.text


class AriOriginator:
    """Asks the phone system to call ``to``; the call enters the Stasis app with the agent and
    conversation as arguments, so the dialplan app can bridge it to the agent's extension."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, policy: RetryPolicy) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.policy = policy

    async def send(self, ch: Channel, msg: OutboundMessage) -> list[str]:
        """Originate; return the new ARI channel id.

        Raises:
            Invalid: no ARI password, or ARI refused (4xx) with its message. Transient: ARI kept failing.
        """
        cfg = ch.voice_config()
        password = ch.secret("auth_token")
        if not password:
            raise Invalid(f"channel {ch.id} has no ARI password (auth_token)", field="auth_token")
        args = ",".join(f"{k}={v}" for k, v in (("conversation_id", msg.conversation_id),
                                                 ("agent_id", msg.agent_id)) if v)
        params = {"endpoint": cfg.endpoint_template.format(to=msg.to), "app": cfg.ari_app,
                  "channelId": f"sb-{msg.id}", "timeout": str(cfg.timeout_s)}
        if args:
            params["appArgs"] = args
        if cfg.caller_id or ch.address:
            params["callerId"] = cfg.caller_id or ch.address
        url = f"{ch.base_url or self.base_url}/ari/channels"
        reply = await request(self.session, "POST", url, self.policy, params=params,
                              headers={"Authorization": aiohttp.encode_basic_auth(cfg.ari_username, password)})
        if reply.status >= 300:
            raise Invalid(f"ARI refused the origination (HTTP {reply.status}): {_ari_error(reply)}")
        body = reply.json()
        return [str(body.get("id") if isinstance(body, dict) and body.get("id") else params["channelId"])]

    def _auth(self, ch: Channel) -> dict[str, str]:
        password = ch.secret("auth_token")
        if not password:
            raise Invalid(f"channel {ch.id} has no ARI password (auth_token)", field="auth_token")
        return {"Authorization": aiohttp.encode_basic_auth(ch.voice_config().ari_username, password)}

    async def dial(self, ch: Channel, call: PlaceCall) -> str:
        """Click-to-call: originate to the agent's extension; when the agent answers, Asterisk runs the dialplan
        at ``extension`` = the contact's number in ``dial_context``, which dials the contact. The ARI channel id
        is ``sb-<call_id>``, so its events name the call record. Returns that channel id.

        Raises:
            Invalid: the agent has no extension, no ARI password, or ARI refused (4xx) with its message.
            Transient: ARI kept failing.
        """
        cfg = ch.voice_config()
        endpoint = cfg.agent_endpoint_template.format(ext=agent_address(cfg, ch.id, call.agent_id))
        params = {"endpoint": endpoint, "extension": call.to, "context": cfg.dial_context, "priority": "1",
                  "channelId": f"sb-{call.call_id}", "timeout": str(cfg.timeout_s)}
        if cfg.caller_id or ch.address:
            params["callerId"] = cfg.caller_id or ch.address
        body = {"variables": {"SB_CALL_ID": call.call_id, "SB_AGENT_ID": call.agent_id}}
        reply = await request(self.session, "POST", f"{ch.base_url or self.base_url}/ari/channels", self.policy,
                              params=params, json=body, headers=self._auth(ch))
        if reply.status >= 300:
            raise Invalid(f"ARI refused the origination (HTTP {reply.status}): {_ari_error(reply)}")
        answer = reply.json()
        return str(answer.get("id") if isinstance(answer, dict) and answer.get("id") else params["channelId"])

    async def connect_to_agent(self, ch: Channel, call_id: str, agent_id: str) -> str:
        """Redirect a call in progress to the agent's extension (``POST /ari/channels/{id}/redirect``).

        Raises:
            Invalid: the agent has no extension on this channel, or ARI refused. Transient: ARI kept failing.
        """
        cfg = ch.voice_config()
        ext = cfg.agent_extensions.get(agent_id)
        if not ext:
            raise Invalid(f"agent {agent_id} has no extension on channel {ch.id}",
                          field="config.agent_extensions")
        headers = self._auth(ch)
        endpoint = cfg.agent_endpoint_template.format(ext=ext)
        url = f"{ch.base_url or self.base_url}/ari/channels/{call_id}/redirect"
        reply = await request(self.session, "POST", url, self.policy, params={"endpoint": endpoint},
                              headers=headers)
        if reply.status >= 300:
            raise Invalid(f"ARI refused the redirect (HTTP {reply.status}): {_ari_error(reply)}")
        return endpoint
