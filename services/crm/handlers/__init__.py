"""CRM use cases. ``Crm`` is what every handler needs: the unit of work, settings, snapshots, publisher, blobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from libs.messaging.snapshots import SnapshotDirectory
from libs.storage.blobs import BlobStore
from services.crm.adapters.ports import CallPlacer, EventPublisher, ExportSource, UnitOfWorkFactory, WebhookPoster
from services.crm.settings import CrmSettings


@dataclass
class Crm:
    """The CRM's ports, built once in ``app.create_app``."""

    settings: CrmSettings
    campaigns: SnapshotDirectory
    publisher: EventPublisher
    blobs: BlobStore
    exports: ExportSource
    uow: UnitOfWorkFactory  # PostgreSQL: every use case opens a unit of work; none sees a pool
    # The gateway's user directory (KV ``users``): id -> {display_name, email, role, active}.
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Outbound webhooks to external CRMs (None where nothing is sent, e.g. the handler tests' fakes).
    webhooks: WebhookPoster | None = None
    # Click-to-call through the channels service (None where no call is placed: the handler tests' fakes).
    voice: CallPlacer | None = None


@dataclass(frozen=True)
class Actor:
    """Who is calling, from the verified internal token: a user with their role and campaign scope
    (``None``: every campaign), or ``system`` (a service identity: the CLI, jobs, consumers)."""

    id: str = "system"
    role: str = "system"
    campaigns: frozenset[str] | None = None

    @property
    def privileged(self) -> bool:
        return self.role in ("admin", "supervisor", "system")
