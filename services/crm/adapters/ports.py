"""What the CRM's use cases need from the outside world, as interfaces (no driver imported here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from libs.contracts import Contract
from services.crm.domain.contacts import ContactFilter

# The column names of an export and its rows in batches, while a read-only transaction stays open.
RowStream = AbstractAsyncContextManager[tuple[list[str], AsyncIterator[list[tuple[Any, ...]]]]]


class ExportSource(Protocol):
    """The rows of each export, streamed by the repository (``adapters.postgres.exports.ExportRows``)."""

    def contacts(self, f: ContactFilter) -> RowStream: ...

    def calls(self, f: dict[str, Any]) -> RowStream: ...

    def tickets(self, *, status: str | None, **f: Any) -> RowStream: ...

    def outcome(self, job_id: str) -> RowStream: ...

    def update_template(self, f: ContactFilter, columns: list[str]) -> RowStream: ...


class EventPublisher(Protocol):
    """JetStream commands (acknowledged) and job progress notices (best effort) (``adapters.publisher``)."""

    async def publish(self, msg: Contract) -> None: ...

    async def progress(self, job_id: str, body: dict[str, Any]) -> None: ...
