"""The OpenAPI 3.1 document of the public API, built from the request models and a table of operations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from services.gateway import schemas
from services.gateway.facade import RULES, SHA256

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
# Every list answers one shape: a page of items and the cursor of the next page (null on the last one).
ITEMS: dict[str, Any] = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": ANY_OBJECT}, "next_cursor": {"type": ["string", "null"]}},
}

STATIC_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "details": {},
                },
            }
        },
    },
    "User": {
        "type": "object",
        "required": ["id", "username", "role"],
        "properties": {
            "id": {"type": "string"},
            "username": {"type": "string"},
            "display_name": {"type": "string"},
            "role": {"type": "string", "enum": ["admin", "supervisor", "agent"]},
            "active": {"type": "boolean"},
        },
    },
    "TokenPair": {
        "type": "object",
        "required": ["access_token", "refresh_token", "token_type", "expires_in", "user"],
        "properties": {
            "access_token": {"type": "string"},
            "refresh_token": {"type": "string"},
            "token_type": {"type": "string", "const": "bearer"},
            "expires_in": {"type": "integer", "description": "access token lifetime, seconds"},
            "user": _ref("User"),
        },
    },
    "Me": {
        "allOf": [
            _ref("User"),
            {"type": "object", "properties": {"campaigns": {"type": "array", "items": {"type": "string"}}}},
        ]
    },
    "Conversation": {
        "type": "object",
        "additionalProperties": True,
        "description": "as kept by the router",
        "properties": {
            "id": {"type": "string"},
            "campaign_id": {"type": ["string", "null"]},
            "agent_id": {"type": ["string", "null"]},
            "state": {"type": "string"},
        },
    },
}


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: dict[str, Any] = field(default_factory=lambda: ANY_OBJECT)
    status: int = 200
    public: bool = False
    params: tuple[tuple[str, str, str], ...] = ()  # (name, in, description)
    description: str = ""
    files: bool = False  # the body may also be a file: a multipart form with `file`, or the raw bytes
    patterns: tuple[tuple[str, str], ...] = ()  # (path parameter, the regular expression its value matches)
    binary: bool = False  # answers a file of any type (an attachment), not JSON


_ID = (("id", "path", "conversation id"),)

OPERATIONS: tuple[Op, ...] = (
    Op(
        "post",
        "/auth/login",
        "Log in with username and password",
        "auth",
        schemas.LoginIn,
        _ref("TokenPair"),
        public=True,
        description="Bounded before any hashing: attempts per client IP per minute, failures per username and "
        "client IP, and logins waiting for a hashing slot each answer 429 past their limit; failures on one "
        "account from every address slow its next attempts down without locking it.",
    ),
    Op(
        "post",
        "/auth/refresh",
        "Exchange a refresh token (usable once; a second use closes its whole session) for a new token pair",
        "auth",
        schemas.RefreshIn,
        _ref("TokenPair"),
        public=True,
    ),
    Op("post", "/auth/logout", "End the caller's session: its access and refresh tokens stop working", "auth",
       status=204),
    Op("get", "/openapi.json", "This OpenAPI document", "meta", public=True),
    Op("get", "/me", "The caller and the campaigns they may see", "me", response=_ref("Me")),
    Op("put", "/me/status", "Set the caller's presence (forwarded to the router)", "me", schemas.StatusIn),
    Op(
        "get",
        "/events",
        "WebSocket of the caller's live events",
        "events",
        status=101,
        params=(
            ("token", "query", "access token, when no Authorization header can be sent"),
            ("since", "query", "resume after this CONVERSATIONS stream sequence (the last `seq` received)"),
            ("since_agent", "query", "resume agent events after this AGENTS stream sequence (`agent_seq`)"),
        ),
        description="Upgrade to a WebSocket. Messages are JSON objects with `type` and `seq`; see the "
        "gateway documentation for the event format.",
    ),
    Op(
        "get",
        "/conversations",
        "Conversations the caller may see",
        "conversations",
        response=ITEMS,
        params=(
            ("scope", "query", "`all`: an agent also lists the cases of campaigns that allow viewing all"),
            ("campaign_id", "query", "only this campaign"),
            ("agent_id", "query", "only this agent's (supervisors and admins)"),
            ("status", "query", "only conversations in this state"),
        ),
    ),
    Op(
        "post",
        "/conversations",
        "Start a conversation with a contact (agents: WhatsApp, SMS or e-mail)",
        "conversations",
        schemas.StartIn,
        status=201,
        description="Opens assigned to the calling agent, with their message sent. On WhatsApp, outside the "
        "24-hour customer service window (the contact's last message), only an approved template of the number "
        "(`GET /channels/{id}/templates`) with every body parameter: 409 `template`, 400 `template.name`, "
        "`template.parameters[i]`. 409 `to` when the contact's conversation on that channel is open.",
    ),
    Op(
        "get",
        "/conversations/{id}",
        "One conversation",
        "conversations",
        response=_ref("Conversation"),
        params=_ID,
    ),
    Op(
        "post",
        "/conversations/{id}/accept",
        "Accept an offered conversation",
        "conversations",
        schemas.EmptyIn,
        params=_ID,
    ),
    Op(
        "post",
        "/conversations/{id}/reject",
        "Reject an offered conversation",
        "conversations",
        schemas.RejectIn,
        params=_ID,
    ),
    Op(
        "post",
        "/conversations/{id}/messages",
        "Reply to the customer",
        "conversations",
        schemas.MessageIn,
        status=201,
        params=_ID,
    ),
    Op(
        "post",
        "/conversations/{id}/media",
        "Upload a file for a reply (multipart `file`); answers its media reference",
        "conversations",
        status=201,
        params=_ID,
        files=True,
        response={"type": "object", "properties": {
            "kind": {"type": "string"}, "url": {"type": "string", "pattern": "^blob:[0-9a-f]{64}$"},
            "mime_type": {"type": "string"}, "filename": {"type": "string"}, "size": {"type": "integer"}}},
        description="Who may: the agent who holds the conversation, a supervisor of its campaign, an admin "
        "(checked by the gateway and again by the CRM, which keeps the file); only when the campaign allows "
        "media (403 `media`). At most 16 MB (413 `file`); images (JPEG, PNG, WebP, GIF), audio (MPEG, OGG, AAC, "
        "MP4, AMR), video (MP4, 3GPP), PDF, text and Office documents (415 `file` otherwise). Send the answer "
        "as one of the reply's `media` (`POST /conversations/{id}/messages`); channels uploads it to WhatsApp "
        "or gives Twilio and Instagram a signed link.",
    ),
    Op(
        "post",
        "/conversations/{id}/take",
        "Take a conversation waiting in the queue (agents: for themselves; supervisors name `agent_id`)",
        "conversations",
        schemas.TakeIn,
        params=_ID,
        description="For campaigns with `routing.queue_assignment` off, whose conversations wait for an agent "
        "to take them (`GET /queues/{id}/waiting`). Atomic: of two agents taking one conversation, one wins "
        "(409 for the other); the taker must be available with room (409 `agent_id`).",
    ),
    Op(
        "post",
        "/conversations/{id}/transfer",
        "Transfer to an agent or a campaign",
        "conversations",
        schemas.TransferIn,
        params=_ID,
    ),
    Op(
        "post",
        "/conversations/{id}/close",
        "Close with a typification and custom fields",
        "conversations",
        schemas.CloseIn,
        params=_ID,
    ),
)

_USER_ID = (("id", "path", "user id"),)
OPERATIONS += (
    Op(
        "get",
        "/conversations/{id}/decisions",
        "Why the router routed it so (supervisors, admins)",
        "supervision",
        params=_ID,
    ),
    Op(
        "put",
        "/agents/{id}/status",
        "Set an agent's state (supervisors: the agents of their campaigns; admins: anybody)",
        "supervision",
        schemas.StatusIn,
        params=(("id", "path", "agent (user) id"),),
    ),
    Op(
        "get",
        "/dashboard",
        "The supervisor's dashboard: waiting now, longest wait, agents by name with state, time in state, load and "
        "conversations (live), with today's KPIs and 15-minute series from the durable record",
        "supervision",
        params=(("campaign_id", "query", "campaign ids, comma-separated (default: all of yours)"),
                ("tz", "query", "time zone of the day (Area/City)"), ("date", "query", "the day (YYYY-MM-DD)")),
    ),
    Op(
        "get",
        "/users",
        "Users (supervisors, admins)",
        "users",
        response=ITEMS,
        params=(("role", "query", "only this role"), ("limit", "query", "page size (default and most: 500)"),
                ("cursor", "query", "the `next_cursor` of the previous page")),
    ),
    Op("post", "/users", "Create a user (admins)", "users", schemas.UserIn, _ref("User"), status=201),
    Op("get", "/users/{id}", "One user (agents: only themselves)", "users", response=_ref("User"), params=_USER_ID),
    Op(
        "patch",
        "/users/{id}",
        "Change a user's name, role, password or active flag (admins)",
        "users",
        schemas.UserPatch,
        _ref("User"),
        params=_USER_ID,
    ),
)

_DLQ_FILTERS = (("stream", "query", "only this stream (INBOUND, OUTBOUND, ...)"),
                ("consumer", "query", "only this durable consumer"),
                ("reason", "query", "reason contains this text (any case)"),
                ("limit", "query", "page size (default 50, at most 500)"),
                ("cursor", "query", "the `next_cursor` of the previous page"))
OPERATIONS += (
    Op("get", "/external/cases/{token}", "A case as its signed, expiring, read-only link shows it to someone outside "
       "the platform: only the fields its campaign chooses (no login: the token is the credential; 404 forged or "
       "altered, 410 expired)", "external", public=True, params=(("token", "path", "the link's signed token"),)),
)
OPERATIONS += (
    Op("get", "/dead-letters", "Dead letters of every service, newest first, with how often each was replayed "
       "(admins)", "operations", response=ITEMS, params=_DLQ_FILTERS),
    Op("get", "/dead-letters/replays", "Who replayed which dead letter, newest first (admins)", "operations",
       response=ITEMS, params=(("sequence", "query", "only this dead letter"), ("actor", "query", "only this user"),
                               ("limit", "query", "at most this many (default 100, at most 500)"))),
    Op("post", "/dead-letters/replay", "Replay dead letters for their consumer only; each one audited (admins). "
       "207 when some failed: each result says why", "operations", schemas.DeadLetterReplayIn),
    Op("get", "/dead-letters/{id}", "One dead letter with its payload and its replays (admins)", "operations",
       params=(("id", "path", "sequence in the DEADLETTER stream"),)),
)


# A file answered as an attachment, of the type it was kept with.
BINARY_CONTENT: dict[str, Any] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}

FILE_CONTENT: dict[str, Any] = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
    },
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}
def _facade_ops() -> tuple[Op, ...]:
    """One operation per declared facade endpoint, with its roles."""
    ops: list[Op] = []
    for rule in RULES:
        for endpoint in rule.endpoints:
            path = "/".join(filter(None, (f"/{rule.public}", endpoint.path)))
            target = rule.upstream_template(endpoint)
            roles = ", ".join(sorted(endpoint.roles))
            doc = f"Forwarded to the {rule.upstream} service (`{endpoint.method} {target}`). Roles: {roles}."
            forms = dict(endpoint.formats)
            params = tuple((p[1:-1], "path", "the file's SHA-256" if forms.get(p[1:-1]) == SHA256 else "id")
                           for p in endpoint.parts if p.startswith("{"))
            if endpoint.is_view and endpoint.method == "GET":
                params += (("q", "query", "filters are passed to the service"),)
            if endpoint.files:
                params += (("filename", "query", "the uploaded file's name (raw bytes)"),)
            writes = endpoint.method in ("POST", "PUT", "PATCH")
            ops.append(
                Op(
                    endpoint.method.lower(),
                    path,
                    f"{rule.summary}: {endpoint.summary}",
                    rule.public,
                    GenericBody if writes else None,
                    status=201 if endpoint.method == "POST" and not endpoint.parts else 200,
                    description=doc,
                    files=endpoint.files,
                    params=params,
                    patterns=endpoint.formats,
                    binary=endpoint.download,
                )
            )
    return tuple(ops)


class GenericBody(BaseModel):
    """A JSON object, validated by the service behind the gateway."""

    model_config = {"extra": "allow"}


_ERRORS = {
    "400": "invalid input",
    "401": "missing, invalid or expired token",
    "403": "not allowed",
    "404": "not found",
    "409": "conflict with the current state",
    "429": "rate limited",
    "503": "a service behind the gateway is unavailable",
}


def _operation(op: Op) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": op.method + "_" + re.sub(r"[^a-z0-9]+", "_", op.path).strip("_"),
        "responses": {
            str(op.status): {
                "description": "success",
                **({"content": BINARY_CONTENT if op.binary else {"application/json": {"schema": op.response}}}
                   if op.status != 101 else {}),
            }
        },
    }
    if op.description:
        out["description"] = op.description
    if op.public:
        out["security"] = []
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body not in (schemas.EmptyIn, schemas.RejectIn),
            "content": {"application/json": {"schema": _ref(op.body.__name__)}},
        }
        if op.files:
            out["requestBody"]["content"].update(FILE_CONTENT)
    elif op.files:  # a file only: a multipart form with `file`
        out["requestBody"] = {"required": True, "content": {"multipart/form-data": FILE_CONTENT["multipart/form-data"]}}
    if op.params:
        out["parameters"] = [
            {
                "name": n,
                "in": where,
                "required": where == "path",
                "description": d,
                "schema": {"type": "string", **({"pattern": f"^{dict(op.patterns)[n]}$"} if n in dict(op.patterns)
                                                 else {})},
            }
            for n, where, d in op.params
        ]
    for code, text in _ERRORS.items():
        if code == "401" and op.public and op.path != "/auth/login":
            continue
        out["responses"][code] = {
            "description": text,
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return out


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    components: dict[str, Any] = dict(STATIC_SCHEMAS)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS + _facade_ops():
        if op.body is not None:
            schema = op.body.model_json_schema(ref_template=REF)
            components.update(schema.pop("$defs", {}))
            components[op.body.__name__] = schema
        paths.setdefault(f"/api/v1{op.path}", {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard API",
            "version": "1.0.0",
            "description": "The public API of Switchboard: authentication, agents' work, supervision, "
            'configuration and CRM. Errors are always `{"error": {"code", "message", '
            '"field"?}}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
