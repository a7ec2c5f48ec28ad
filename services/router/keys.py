"""The router's app keys: what the composition root puts in the app for the entrypoints."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.router.adapters.rebuild import Rebuilder
from services.router.handlers import Router

ROUTER = web.AppKey("router", Router)
# Set once the snapshots are loaded, the live state is intact (or rebuilt) and the consumers run.
ROUTER_READY = web.AppKey("router_ready", asyncio.Event)
# Rebuilds the live state from the streams (and the CRM) when Redis has lost it.
REBUILDER = web.AppKey("router_rebuilder", Rebuilder)
