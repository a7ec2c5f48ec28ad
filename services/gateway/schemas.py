"""Request bodies of the public API (pydantic), and their validation into the one error shape."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from libs.contracts import Presence
from libs.core.errors import Invalid

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # The field named by an error of a whole-body rule (a model validator).
    BODY_FIELD: ClassVar[str | None] = None

    @field_validator("*")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no name, reason or message needs one.
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v


class LoginIn(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(Body):
    refresh_token: str = Field(min_length=1, max_length=4096)


class StatusIn(Body):
    status: Presence
    reason: str | None = Field(None, max_length=200)


class MediaIn(Body):
    kind: Literal["image", "audio", "video", "document", "sticker", "file"] = "file"
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    mime_type: str | None = Field(None, max_length=200)
    filename: str | None = Field(None, max_length=255)
    caption: str | None = Field(None, max_length=1024)


class MessageIn(Body):
    BODY_FIELD = "text"
    text: str | None = Field(None, min_length=1, max_length=4096)
    media: list[MediaIn] = Field(default_factory=list, max_length=10)
    # The client's own id of this reply: a retry with the same id (after a timeout) sends nothing new.
    client_message_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,128}$")

    @model_validator(mode="after")
    def _something(self) -> MessageIn:
        if not self.text and not self.media:
            raise ValueError("a reply needs text or media")
        return self


class CloseIn(Body):
    typification_id: str = Field(min_length=1, max_length=128)
    fields: dict[str, Any] = Field(default_factory=dict)


class TransferIn(Body):
    BODY_FIELD = "agent_id"
    agent_id: str | None = Field(None, min_length=1, max_length=128)
    campaign_id: str | None = Field(None, min_length=1, max_length=128)
    reason: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _one_target(self) -> TransferIn:
        if (self.agent_id is None) == (self.campaign_id is None):
            raise ValueError("give exactly one of agent_id or campaign_id")
        return self


class RejectIn(Body):
    reason: str | None = Field(None, max_length=500)


class EmptyIn(Body):
    pass


class UserIn(Body):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    display_name: str = Field("", max_length=200)
    role: Literal["admin", "supervisor", "agent"]
    password: str = Field(min_length=8, max_length=256)


class UserPatch(Body):
    display_name: str | None = Field(None, max_length=200)
    role: Literal["admin", "supervisor", "agent"] | None = None
    password: str | None = Field(None, min_length=8, max_length=256)
    active: bool | None = None


def parse(model: type[M], data: Any) -> M:
    """Validate a JSON body; the first problem becomes an ``Invalid`` naming its field."""
    if not isinstance(data, dict):
        raise Invalid("a JSON object is expected", field="body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        field = ".".join(str(x) for x in first["loc"]) or getattr(model, "BODY_FIELD", None)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        details = [{"field": ".".join(str(x) for x in e["loc"]), "message": e["msg"]} for e in errors]
        raise Invalid(f"{field}: {message}" if field else message, field=field, details=details) from exc
