"""JetStream subscription of the scheduler: timer commands on ``sb.timer.cmd.>``."""

from __future__ import annotations

from aiohttp import web

from libs.messaging import start_consumer
from services.scheduler.routes import SCHEDULER

COMMANDS = "scheduler-commands"


def start_consumers(app: web.Application) -> None:
    start_consumer(app, stream="TIMERS", durable=COMMANDS, filter_subject="sb.timer.cmd.>",
                   handler=app[SCHEDULER].on_command)
