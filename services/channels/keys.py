"""The channels service's app keys and the names its entrypoints share (durable consumers)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from services.channels.adapters.blobs import MediaBlobs, MediaLinks
from services.channels.handlers import CallEvents, CallPlacer, ChannelRegistry, Deliverer, EmailIngest, Publisher

REGISTRY = web.AppKey("registry", ChannelRegistry)
BLOBS = web.AppKey("blobs", MediaBlobs)
MEDIA_LINKS = web.AppKey("media_links", MediaLinks)
CALLS = web.AppKey("calls", CallEvents)
PLACER = web.AppKey("placer", CallPlacer)
PUBLISHER = web.AppKey("publisher", Publisher)
HTTP = web.AppKey("http", aiohttp.ClientSession)
DELIVERER = web.AppKey("deliverer", Deliverer)
EMAIL_INGEST = web.AppKey("email_ingest", EmailIngest)

OUTBOUND_DURABLE = "channels-outbound"
VOICE_DURABLE = "channels-voice-assigned"
# Each durable consumer of this service and its stream (the dead letters are read by consumer).
DURABLES = {OUTBOUND_DURABLE: "OUTBOUND", VOICE_DURABLE: "CONVERSATIONS"}
