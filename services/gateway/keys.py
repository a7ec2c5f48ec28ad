"""The gateway's app keys: what the composition root puts in the app for the routes and the WebSocket."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from nats.js import JetStreamContext

from libs.core import tracing
from services.gateway.adapters.events import Feed
from services.gateway.fanout import Hub
from services.gateway.handlers import Gateway
from services.gateway.settings import GatewaySettings

GATEWAY = web.AppKey("gateway", Gateway)
# The trace context of each conversation's last pushed event: an agent's action continues that trace.
TRACES = web.AppKey("traces", tracing.ContextMemory)
HUB = web.AppKey("hub", Hub)
GW_SETTINGS = web.AppKey("gateway_settings", GatewaySettings)
FEEDS = web.AppKey("feeds", dict[str, Feed])
EVENTS_JS = web.AppKey("events_js", JetStreamContext)
HTTP = web.AppKey("http", aiohttp.ClientSession)
