"""The CRM's unit of work: one connection, one transaction, and the repositories bound to it.

The repository modules keep their SQL as functions of a connection; here each module is bound to the unit
of work's connection, so a use case calls ``uow.tickets.get_ticket(ticket_id)`` and never sees a pool.
"""

from __future__ import annotations

import functools
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any, cast

import asyncpg

from libs.storage.uow import PgUnitOfWork as BaseUnitOfWork
from services.crm.adapters.ports import (
    AccountRepository,
    AttachmentList,
    AuditLog,
    CallbackRepository,
    CallRepository,
    CaseRepository,
    CatalogRepository,
    ContactLookup,
    ConversationRepository,
    DialerRepository,
    FollowUpLog,
    ImportRepository,
    JobRepository,
    ListProcessRepository,
    ReportRepository,
    ResourceRepository,
    TicketRepository,
    WebhookRepository,
)
from services.crm.adapters.postgres import (
    accounts,
    base,
    callbacks,
    calls,
    cases,
    catalogs,
    contacts,
    conversations,
    dialer,
    followups,
    imports,
    jobs,
    processes,
    reports,
    resources,
    tickets,
    webhooks,
)


class Bound:
    """A repository module whose functions take the connection first, bound to one connection."""

    def __init__(self, module: ModuleType, conn: asyncpg.Connection) -> None:
        self._module = module
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return functools.partial(getattr(self._module, name), self._conn)


# The attribute of the unit of work -> the module of SQL functions (connection first) it binds.
REPOSITORIES: dict[str, ModuleType] = {
    "tickets": tickets, "audit": base, "contacts": contacts, "attachments": cases, "catalogs": catalogs,
    "accounts": accounts, "resources": resources, "reports": reports, "cases": cases,
    "conversations": conversations, "calls": calls, "dialer": dialer, "callbacks": callbacks,
    "followups": followups, "webhooks": webhooks, "jobs": jobs, "processes": processes, "imports": imports,
}


class PgUnitOfWork(BaseUnitOfWork):
    """Every repository of the CRM, bound to the unit of work's connection (``REPOSITORIES``)."""

    tickets: TicketRepository
    audit: AuditLog
    contacts: ContactLookup
    attachments: AttachmentList
    catalogs: CatalogRepository
    accounts: AccountRepository
    resources: ResourceRepository
    reports: ReportRepository
    cases: CaseRepository
    conversations: ConversationRepository
    calls: CallRepository
    dialer: DialerRepository
    callbacks: CallbackRepository
    followups: FollowUpLog
    webhooks: WebhookRepository
    jobs: JobRepository
    processes: ListProcessRepository
    imports: ImportRepository

    def bind(self, conn: asyncpg.Connection) -> None:
        for name, module in REPOSITORIES.items():
            setattr(self, name, Bound(module, conn))

    def savepoint(self) -> AbstractAsyncContextManager[Any]:
        """A savepoint of the unit of work's transaction."""
        return cast(AbstractAsyncContextManager[Any], self._conn.transaction())


def unit_of_work(pool: asyncpg.Pool) -> Any:
    """The ``UnitOfWorkFactory`` over a pool."""

    def open_uow(*, readonly: bool = False) -> PgUnitOfWork:
        return PgUnitOfWork(pool, readonly=readonly)

    return open_uow
