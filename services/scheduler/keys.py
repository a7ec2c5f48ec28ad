"""The scheduler's app keys: what the composition root puts in the app for the entrypoints."""

from __future__ import annotations

from aiohttp import web

from services.scheduler.handlers import Scheduler
from services.scheduler.views import TimerViews

SCHEDULER = web.AppKey("scheduler", Scheduler)
VIEWS = web.AppKey("scheduler_views", TimerViews)
