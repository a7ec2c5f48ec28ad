"""Click-to-call through Asterisk ARI: ``POST {ari_base_url}/ari/channels`` originates a call."""

from __future__ import annotations

import aiohttp

from libs.contracts import OutboundMessage
from libs.core.errors import Invalid
from services.channels.adapters.providers.http import RetryPolicy, request
from services.channels.domain.channels import Channel


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
            body = reply.json()
            text = body.get("message") if isinstance(body, dict) and body.get("message") else reply.text
            raise Invalid(f"ARI refused the origination (HTTP {reply.status}): {text}")
        body = reply.json()
        return [str(body.get("id") if isinstance(body, dict) and body.get("id") else params["channelId"])]
