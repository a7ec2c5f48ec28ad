"""Base of every contract: a versioned pydantic model that knows its subject and its dedup id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """A message on a NATS subject.

    ``schema_version`` is bumped on a breaking change; consumers reject versions they do not know.
    ``type`` names the event on the wire (``conversation.assigned``) and selects the model on decode.
    """

    model_config = ConfigDict(extra="ignore", frozen=False)

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    schema_version: int = 1
    type: str = ""
    id: str = Field(default_factory=new_id)
    occurred_at: datetime = Field(default_factory=utcnow)

    def model_post_init(self, __context: Any) -> None:
        if not self.type:
            self.type = self.TYPE
        if "schema_version" not in self.model_fields_set:  # new messages carry the model's version
            self.schema_version = self.VERSION

    def subject(self) -> str:
        raise NotImplementedError

    def msg_id(self) -> str:
        """The ``Nats-Msg-Id`` that makes a re-publish of the same fact a no-op."""
        return self.id


_REGISTRY: dict[str, type[Contract]] = {}


def register(cls: type[Contract]) -> type[Contract]:
    """Register a contract class so ``decode`` can pick it by its ``type``."""
    _REGISTRY[cls.TYPE] = cls
    return cls


def decode(data: bytes | str) -> Contract:
    """Decode any registered contract from JSON by its ``type`` field.

    Raises:
        ValueError: unknown type, unsupported version, or invalid payload.
    """
    import json

    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise ValueError("contract payload must be a JSON object")
    cls = _REGISTRY.get(raw.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown contract type {raw.get('type')!r}")
    version = raw.get("schema_version", 1)
    if version > cls.VERSION:
        raise ValueError(f"{cls.TYPE} schema_version {version} is newer than supported {cls.VERSION}")
    return cls.model_validate(raw)
