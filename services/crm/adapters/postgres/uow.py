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


class PgUnitOfWork(BaseUnitOfWork):
    tickets: TicketRepository
    audit: AuditLog
    contacts: ContactLookup
    attachments: AttachmentList
    catalogs: CatalogRepository

    # The repositories of the account, case, contact, callback and resource gallery use cases.
    accounts: AccountRepository
    resources: ResourceRepository

    def _bind_records(self, conn: asyncpg.Connection) -> None:
        self.accounts = cast(AccountRepository, Bound(accounts, conn))
        self.resources = cast(ResourceRepository, Bound(resources, conn))

    def bind(self, conn: asyncpg.Connection) -> None:
        self._bind_records(conn)
        self.tickets = cast(TicketRepository, Bound(tickets, conn))
        self.audit = cast(AuditLog, Bound(base, conn))
        self.contacts = cast(ContactLookup, Bound(contacts, conn))
        self.attachments = cast(AttachmentList, Bound(cases, conn))
        self.catalogs = cast(CatalogRepository, Bound(catalogs, conn))
        self._bind_activity(conn)

    # The repositories of the report, history, workspace, dialer, call, conversation and webhook use cases.
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

    def _bind_activity(self, conn: asyncpg.Connection) -> None:
        self.reports = cast(ReportRepository, Bound(reports, conn))
        self.cases = cast(CaseRepository, Bound(cases, conn))
        self.conversations = cast(ConversationRepository, Bound(conversations, conn))
        self.calls = cast(CallRepository, Bound(calls, conn))
        self.dialer = cast(DialerRepository, Bound(dialer, conn))
        self.callbacks = cast(CallbackRepository, Bound(callbacks, conn))
        self.followups = cast(FollowUpLog, Bound(followups, conn))
        self.webhooks = cast(WebhookRepository, Bound(webhooks, conn))
        self.jobs = cast(JobRepository, Bound(jobs, conn))
        self.processes = cast(ListProcessRepository, Bound(processes, conn))
        self.imports = cast(ImportRepository, Bound(imports, conn))

    def savepoint(self) -> AbstractAsyncContextManager[Any]:
        """A savepoint of the unit of work's transaction."""
        return cast(AbstractAsyncContextManager[Any], self._conn.transaction())


def unit_of_work(pool: asyncpg.Pool) -> Any:
    """The ``UnitOfWorkFactory`` over a pool."""

    def open_uow(*, readonly: bool = False) -> PgUnitOfWork:
        return PgUnitOfWork(pool, readonly=readonly)

    return open_uow
