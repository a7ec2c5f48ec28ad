"""What the CRM's use cases need from the outside world, as interfaces (no driver imported here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol, Self

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


# --- the unit of work and its repositories (``adapters.postgres.uow``) ------------------------------------

class TicketRepository(Protocol):
    """Tickets and their actions (``adapters.postgres.tickets``)."""

    async def insert_ticket(self, ticket_id: str, d: dict[str, Any]) -> None: ...
    async def insert_action(self, action_id: str, ticket_id: str, d: dict[str, Any]) -> None: ...
    async def get_ticket(self, ticket_id: str, *, for_update: bool = False) -> dict[str, Any] | None: ...
    async def get_action(self, action_id: str, *, for_update: bool = False) -> dict[str, Any] | None: ...
    async def actions_of(self, ticket_id: str) -> list[dict[str, Any]]: ...
    async def update_ticket(self, ticket_id: str, fields: dict[str, Any]) -> None: ...
    async def update_action(self, action_id: str, fields: dict[str, Any]) -> None: ...
    async def search_tickets(self, *, status: str | None, pending: bool | None, limit: int,
                             after: tuple[Any, ...] | None, **common: Any) -> list[dict[str, Any]]: ...
    async def search_actions(self, *, status: str | None, limit: int, after: tuple[Any, ...] | None,
                             **common: Any) -> list[dict[str, Any]]: ...


class AuditLog(Protocol):
    """Who changed what (``adapters.postgres.base``)."""

    async def audit(self, entity: str, entity_id: str, action: str, actor: str,
                    changes: Mapping[str, Any] | None = None) -> None: ...
    async def audit_entries(self, entity: str, entity_id: str) -> list[dict[str, Any]]: ...


class ContactLookup(Protocol):
    """One contact by id (``adapters.postgres.contacts``)."""

    async def get(self, contact_id: str, *, for_update: bool = False) -> dict[str, Any] | None: ...


class AttachmentList(Protocol):
    """The files attached to a case, ticket or call (``adapters.postgres.cases``)."""

    async def attachments(self, owner_kind: str, owner_id: str) -> list[dict[str, Any]]: ...


class WebhookPoster(Protocol):
    """Posts a signed webhook (``adapters.webhooks.HttpPoster``): the status answered, or the error when none."""

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
                   ) -> tuple[int | None, str | None]: ...


class CatalogRepository(Protocol):
    """Dispositions, ticket forms and action types (``adapters.postgres.catalogs``); a taken id or name is
    ``Conflict``."""

    async def items(self, kind: str, scope: str = "") -> list[dict[str, Any]]: ...
    async def get(self, kind: str, key: str, scope: str = "", *, for_update: bool = False
                  ) -> dict[str, Any] | None: ...
    async def insert(self, kind: str, scope: str, key: str, name: str, position: int, data: dict[str, Any],
                     actor: str) -> dict[str, Any]: ...
    async def update(self, kind: str, scope: str, key: str, name: str, position: int, data: dict[str, Any],
                     actor: str) -> dict[str, Any]: ...
    async def delete(self, kind: str, key: str, scope: str = "") -> bool: ...
    async def referrers(self, kind: str, key: str) -> dict[str, list[str]]: ...


class UnitOfWork(Protocol):
    """One transaction exposing the repositories: committed when the block ends, rolled back when it raises."""

    @property
    def tickets(self) -> TicketRepository: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def contacts(self) -> ContactLookup: ...
    @property
    def attachments(self) -> AttachmentList: ...
    @property
    def catalogs(self) -> CatalogRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work; ``readonly`` reads one consistent snapshot."""

    def __call__(self, *, readonly: bool = False) -> UnitOfWork: ...


class CallPlacer(Protocol):
    """Click-to-call through the voice channel (``adapters.voice.ChannelsVoice``)."""

    async def place(self, channel_id: str, call_id: str, to: str, agent_id: str) -> dict[str, Any]: ...
