"""Request bodies of the public API (pydantic), and their validation into the one error shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from libs.contracts import Presence
from libs.core.validation import Strict


class Body(Strict):
    """A request body of the public API."""


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
    # A link the provider fetches, or our own file: ``blob:<sha256>`` from POST /conversations/{id}/media or the
    # campaign's gallery (channels uploads it or signs a link to it).
    url: str = Field(min_length=1, max_length=2048, pattern=r"^(https?://|blob:[0-9a-f]{64}$)")
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


class TakeIn(Body):
    """Take a conversation waiting in the queue: agents for themselves (no body); supervisors name the agent."""

    agent_id: str | None = Field(None, min_length=1, max_length=128)


class TemplateIn(Body):
    """An approved WhatsApp template of the channel (``GET /channels/{id}/templates``) and its parameters."""

    name: str = Field(min_length=1, max_length=512)
    language: str | None = Field(None, min_length=2, max_length=10)
    parameters: list[str] = Field(default_factory=list, max_length=20)


class StartIn(Body):
    """``POST /api/v1/conversations``: an agent starts a conversation with a contact (WhatsApp, SMS or e-mail)."""

    campaign_id: str = Field(min_length=1, max_length=128)
    channel_id: str | None = Field(None, min_length=1, max_length=64)
    to: str = Field(min_length=1, max_length=320)
    # The contact a masked number (an agent of a campaign that hides numbers) belongs to.
    contact_id: str | None = Field(None, min_length=1, max_length=64)
    text: str | None = Field(None, max_length=4096)
    subject: str | None = Field(None, max_length=998)
    template: TemplateIn | None = None


class RejectIn(Body):
    reason: str | None = Field(None, max_length=500)


class EmptyIn(Body):
    pass


# An e-mail address: something@domain.tld, no spaces (the mail server has the last word).
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$"


class UserIn(Body):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    display_name: str = Field("", max_length=200)
    role: Literal["admin", "supervisor", "agent"]
    password: str = Field(min_length=8, max_length=256)
    email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN)


class UserPatch(Body):
    display_name: str | None = Field(None, max_length=200)
    role: Literal["admin", "supervisor", "agent"] | None = None
    password: str | None = Field(None, min_length=8, max_length=256)
    active: bool | None = None
    email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN)


class DeadLetterReplayIn(Body):
    """Dead letters to replay, by their DEADLETTER sequence (at most 100 at once)."""

    sequences: list[int] = Field(min_length=1, max_length=100)
