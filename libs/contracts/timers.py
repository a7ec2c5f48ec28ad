"""Durable timer commands for the scheduler and the due events it publishes, on ``sb.timer.>``.

A service asks for a timer with ``TimerSet`` (same ``timer_id`` again replaces it), cancels it with
``TimerCancel``, and receives ``TimerDue`` on ``sb.timer.due.<owner>.<purpose>.<timer_id>`` exactly once.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import Field

from libs.contracts.base import Contract, register

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def subject_token(value: str) -> str:
    """A string made safe as one NATS subject token."""
    return _UNSAFE.sub("_", value) or "_"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@register
class TimerSet(Contract):
    TYPE = "timer.set"
    timer_id: str = Field(min_length=1, max_length=300)
    owner: str = Field(min_length=1, max_length=50)
    purpose: str = Field(min_length=1, max_length=50)
    fire_at: datetime
    data: dict[str, object] = Field(default_factory=dict)

    def subject(self) -> str:
        return f"sb.timer.cmd.set.{subject_token(self.owner)}.{subject_token(self.timer_id)}"

    def msg_id(self) -> str:
        return f"tset:{self.owner}:{self.timer_id}:{_ms(self.fire_at)}"


@register
class TimerCancel(Contract):
    TYPE = "timer.cancel"
    timer_id: str = Field(min_length=1, max_length=300)
    owner: str = Field(min_length=1, max_length=50)

    def subject(self) -> str:
        return f"sb.timer.cmd.cancel.{subject_token(self.owner)}.{subject_token(self.timer_id)}"


@register
class TimerDue(Contract):
    TYPE = "timer.due"
    timer_id: str
    owner: str
    purpose: str
    fire_at: datetime
    data: dict[str, object] = Field(default_factory=dict)

    def subject(self) -> str:
        return (f"sb.timer.due.{subject_token(self.owner)}.{subject_token(self.purpose)}."
                f"{subject_token(self.timer_id)}")

    def msg_id(self) -> str:
        return f"tdue:{self.owner}:{self.timer_id}:{_ms(self.fire_at)}"
