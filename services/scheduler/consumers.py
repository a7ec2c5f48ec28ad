"""JetStream subscription of the scheduler: timer commands on ``sb.timer.cmd.>``, dispatched by ``HANDLERS``."""

from __future__ import annotations

from aiohttp import web

from libs.messaging import dispatch, start_consumer
from services.scheduler.handlers import HANDLERS
from services.scheduler.keys import SCHEDULER

COMMANDS = "scheduler-commands"


def start_consumers(app: web.Application) -> None:
    start_consumer(app, stream="TIMERS", durable=COMMANDS, filter_subject="sb.timer.cmd.>",
                   handler=dispatch(app[SCHEDULER], HANDLERS))
