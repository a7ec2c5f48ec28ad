"""What the campaigns use cases need from the outside world, as interfaces, and the tables they name.

Nothing here imports a driver: handlers and views depend on these, ``app.py`` wires the PostgreSQL and KV
adapters, and ``tests/campaigns/fakes.py`` implements the same interfaces in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from libs.contracts.campaigns import CampaignSnapshot
from libs.core.errors import Conflict
from services.campaigns.domain import CampaignQuery

Order = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    """A catalog table: its key column, data columns, and the sort of its list as (SQL expression, type)."""

    name: str
    entity: str
    key: str
    columns: tuple[str, ...]
    json_columns: frozenset[str] = frozenset()
    date_columns: frozenset[str] = frozenset()
    order: Order = (("created_at", "timestamptz"), ("{key}", "text"))
    # The unique index on something else than the key, and the field it names in a conflict.
    unique_field: str = "name"

    @property
    def qualified(self) -> str:
        return f"campaigns.{self.name}"


CLIENTS = Table("clients", "client", "id", ("name", "status"))
PROJECTS = Table("projects", "project", "id", ("client_id", "name", "status"))
SCHEDULES = Table("schedules", "schedule", "id", ("name", "timezone", "always_open", "weekly", "exceptions",
                                                 "valid_from", "valid_until"), frozenset({"weekly", "exceptions"}),
                  frozenset({"valid_from", "valid_until"}))
TYPIFICATIONS = Table("typifications", "typification", "id", ("category", "subcategory", "label"),
                      order=(("lower(category)", "text"), ("lower(coalesce(subcategory, ''))", "text"),
                             ("id", "text")), unique_field="subcategory")
FIELDS = Table("fields", "field", "key", ("label", "type", "options"), frozenset({"options"}),
               order=(("key", "text"),))
# The campaign row's own columns (the rest of a campaign lives in child tables), and its jsonb ones.
CAMPAIGN_COLUMNS = ("client_id", "project_id", "name", "status", "schedule_id", "out_of_hours",
                    "inactivity_typification", "inactivity_timeout_s", "transfer_typification",
                    "ignore_comment_typification", "permissions", "routing", "case_options", "script",
                    "call_charges", "external_view")
CAMPAIGN_JSON = frozenset({"out_of_hours", "permissions", "routing", "case_options", "call_charges",
                           "external_view"})
CAMPAIGN_ORDER: Order = (("c.created_at", "timestamptz"), ("c.id", "text"))
HISTORY_ORDER: Order = (("-seq", "bigint"),)


class ChannelTaken(Conflict):
    """Another active campaign took a channel first (a concurrent write won the unique index)."""

    def __init__(self, channel_id: str) -> None:
        super().__init__(f"channel {channel_id!r} already serves another active campaign", field="channels")
        self.channel_id = channel_id


class CampaignRepository(Protocol):
    """Every read and write of the campaigns service's tables, inside one unit of work.

    Writes turn the store's own errors into ``Conflict`` (a duplicate key or name, a row still referenced,
    ``ChannelTaken``); a missing row is ``None``.
    """

    # catalog entities
    async def insert(self, t: Table, key: str, data: dict[str, Any], actor: str | None) -> dict[str, Any]: ...
    async def get(self, t: Table, key: str, *, for_update: bool = False) -> dict[str, Any] | None: ...
    async def rows(self, t: Table, filters: dict[str, Any], limit: int, after: tuple[str, ...] | None
                   ) -> list[dict[str, Any]]: ...
    async def update(self, t: Table, key: str, data: dict[str, Any], actor: str | None) -> dict[str, Any]: ...
    async def delete(self, t: Table, key: str) -> bool: ...
    async def record_change(self, entity: str, entity_id: str, version: int, action: str, actor: str | None,
                            changes: dict[str, Any]) -> None: ...
    async def history(self, entity: str, entity_id: str, limit: int, after: tuple[str, ...] | None
                      ) -> list[dict[str, Any]]: ...
    async def existing(self, t: Table, keys: list[str]) -> set[str]: ...
    async def typifications(self, ids: list[str]) -> list[dict[str, Any]]: ...
    async def fields(self, keys: list[str]) -> list[dict[str, Any]]: ...
    async def campaigns_using(self, column: str, value: str) -> list[str]: ...
    # campaigns
    async def get_campaign(self, campaign_id: str, *, for_update: bool = False) -> dict[str, Any] | None: ...
    async def campaign_children(self, campaign_id: str) -> dict[str, Any]: ...
    async def insert_campaign(self, campaign_id: str, data: dict[str, Any], actor: str | None) -> None: ...
    async def update_campaign(self, campaign_id: str, data: dict[str, Any], actor: str | None) -> int: ...
    async def replace_children(self, campaign_id: str, data: dict[str, Any], active: bool) -> None: ...
    async def set_status(self, campaign_id: str, status: str, actor: str | None) -> int: ...
    async def bump(self, campaign_ids: list[str], actor: str | None) -> dict[str, int]: ...
    async def unlink_everywhere(self, campaign_id: str) -> list[str]: ...
    async def channel_owners(self, channel_ids: list[str], campaign_id: str) -> dict[str, str]: ...
    async def campaign_statuses(self, ids: list[str]) -> dict[str, str]: ...
    async def list_campaigns(self, q: CampaignQuery) -> list[dict[str, Any]]: ...
    async def unpublished(self) -> list[str]: ...
    async def all_campaign_ids(self) -> list[str]: ...
    async def mark_published(self, campaign_id: str, version: int) -> None: ...
    # conversations
    async def open_conversations(self, campaign_id: str) -> int: ...
    async def open_conversations_of(self, campaign_id: str, agents: list[str]) -> dict[str, list[str]]: ...
    async def track_conversation(self, conversation_id: str, campaign_id: str | None, seq: int,
                                 closed: bool, agent_id: str | None = None) -> None: ...


class UnitOfWork(Protocol):
    """One transaction: committed when the block ends normally, rolled back when it raises."""

    @property
    def repo(self) -> CampaignRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work; ``readonly`` reads one consistent snapshot of the tables."""

    def __call__(self, *, readonly: bool = False) -> UnitOfWork: ...


class SnapshotSink(Protocol):
    """The ``campaigns`` KV bucket (``adapters.kv.SnapshotStore``)."""

    async def put(self, snap: CampaignSnapshot) -> bool: ...

    async def delete(self, campaign_id: str) -> None: ...


class ChannelTypes(Protocol):
    """The ``channels`` KV bucket: a registered channel's type (``adapters.kv.ChannelDirectory``)."""

    async def type_of(self, channel_id: str) -> str | None: ...
