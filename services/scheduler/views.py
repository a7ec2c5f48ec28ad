"""Read models of the scheduler: a timer as the HTTP API shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from libs.core.errors import NotFound
from services.scheduler.adapters.ports import TimerStore


class TimerViews:
    def __init__(self, store: TimerStore) -> None:
        self.store = store

    async def timer(self, owner: str, timer_id: str) -> dict[str, Any]:
        """One timer with its state (``pending``, ``fired``, ``cancelled``).

        Raises:
            NotFound: no such timer.
        """
        row = await self.store.get(owner, timer_id)
        if row is None:
            raise NotFound(f"timer {owner}/{timer_id} not found", field="timer_id")
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
