"""The REST facade over campaigns, CRM, channels and router: which role may do what, and what is scoped."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, unquote, unquote_to_bytes

from libs.core.errors import Invalid
from libs.messaging.snapshots import SnapshotDirectory
from services.gateway.domain import Principal, Role, can_view_conversation, visible_campaigns

# campaign_query: every campaign named in ``?campaign_id=a,b`` must be one the caller may see.
Scope = Literal["none", "campaign", "queue", "agent", "case", "owned", "campaign_query"]
ALL: frozenset[Role] = frozenset({"admin", "supervisor", "agent"})
STAFF: frozenset[Role] = frozenset({"admin", "supervisor"})
ADMIN: frozenset[Role] = frozenset({"admin"})
NOBODY: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class Endpoint:
    """One forwarded route: ``method /api/v1/<rule.public>[/<path>]`` for ``roles``.

    ``path`` is a template of segments below the collection (``""``, ``"match"``, ``"{id}"``,
    ``"{id}/members/{contact_id}"``); a literal first segment is a view of the collection (a list), a
    ``{placeholder}`` an item. ``target`` replaces the upstream path (``/<rule.target>[/<path>]``) when the
    service names it otherwise.
    """

    method: str
    path: str
    roles: frozenset[Role]
    target: str | None = None
    summary: str = ""
    files: bool = False  # the body may be a file (multipart form or raw bytes), streamed through
    # Placeholders with a fixed form, checked before anything is forwarded: (name, regular expression).
    formats: tuple[tuple[str, str], ...] = ()
    download: bool = False  # answers a file (any type), not JSON

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in self.path.split("/") if p)

    @property
    def is_view(self) -> bool:
        """A list of the collection or a view of it (``/calls/pending``), not one item."""
        return not self.parts or not self.parts[0].startswith("{")


@dataclass(frozen=True)
class Rule:
    """A collection ``/api/v1/<public>`` of the ``upstream`` service at ``/<target>``, and its endpoints.

    Only the declared endpoints are served and forwarded, each for its own roles; ``scope`` narrows what
    a supervisor or agent sees inside what their role may do.
    """

    public: str
    upstream: Literal["router", "campaigns", "crm", "channels"]
    target: str
    endpoints: tuple[Endpoint, ...]
    scope: Scope = "none"
    summary: str = ""
    # "owned" items: the field naming their owner, and the query parameter that narrows a list to one.
    owner_field: str = "agent_id"
    owner_param: str = "agent_id"
    # Actions on an item (its second path segment) an agent may take only on their own items, even on
    # items they may see (nobody's of their campaign, the whole campaign's when it allows viewing all).
    own_only: frozenset[str] = frozenset()
    # Where an item is fetched for the scope check: ``/<target>/<id><item_suffix>`` (an attachment's
    # ``/meta``, since the item itself is the file).
    item_suffix: str = ""

    def upstream_template(self, endpoint: Endpoint) -> str:
        """``/contacts/{id}/history``: the service's path of ``endpoint``, with its placeholders."""
        if endpoint.target is not None:
            return f"/{endpoint.target}"
        return "/" + "/".join(filter(None, (self.target, endpoint.path)))

    def upstream_path(self, endpoint: Endpoint, values: Mapping[str, str]) -> str:
        """The service's path for ``endpoint``: every placeholder replaced by its value, percent-encoded
        as one segment. Built from the declared templates only, never from the request's raw path."""
        out = []
        for part in self.upstream_template(endpoint).split("/"):
            if part.startswith("{") and part.endswith("}"):
                out.append(quote(check_segment(values[part[1:-1]]), safe=""))
            else:
                out.append(part)
        return "/".join(out)


def ep(method: str, path: str, roles: frozenset[Role], target: str | None = None, summary: str = "",
       files: bool = False, formats: tuple[tuple[str, str], ...] = (), download: bool = False) -> Endpoint:
    return Endpoint(method, path, roles, target, summary, files, formats, download)


def check_formats(endpoint: Endpoint, values: Mapping[str, str]) -> None:
    """Raises: Invalid (naming the placeholder) for a value not of its declared form."""
    for name, pattern in endpoint.formats:
        if not re.fullmatch(pattern, values.get(name, "")):
            raise Invalid(f"{name} must match {pattern}", field=name)


SHA256 = "[0-9a-f]{64}"


def catalog(read: frozenset[Role], extra: tuple[Endpoint, ...] = ()) -> tuple[Endpoint, ...]:
    """The endpoints of a campaigns-service catalog (clients, projects, schedules, typifications, fields):
    list, create, one, patch, replace, delete, history; writes are admin only."""
    return (
        ep("GET", "", read, summary="list"), ep("POST", "", ADMIN, summary="create"),
        *extra,
        ep("GET", "{id}", read, summary="one"), ep("PATCH", "{id}", ADMIN, summary="change some fields"),
        ep("PUT", "{id}", ADMIN, summary="replace"), ep("DELETE", "{id}", ADMIN, summary="delete"),
        ep("GET", "{id}/history", STAFF, summary="who changed what"),
    )


def crm_catalog() -> tuple[Endpoint, ...]:
    """A CRM catalog (ticket forms, action types): everyone reads, admins write."""
    return (ep("GET", "", ALL, summary="list"), ep("POST", "", ADMIN, summary="create"),
            ep("GET", "{id}", ALL, summary="one"), ep("PATCH", "{id}", ADMIN, summary="change some fields"),
            ep("DELETE", "{id}", ADMIN, summary="delete (409 while in use)"))


RULES: tuple[Rule, ...] = (
    Rule(
        "campaigns", "campaigns", "campaigns",
        (
            ep("GET", "", ALL, summary="list"), ep("POST", "", ADMIN, summary="create"),
            ep("GET", "{id}", ALL, summary="one"), ep("PATCH", "{id}", ADMIN, summary="change some fields"),
            ep("PUT", "{id}", ADMIN, summary="replace"), ep("DELETE", "{id}", ADMIN, summary="archive"),
            ep("POST", "{id}/activate", ADMIN, summary="activate"),
            ep("POST", "{id}/deactivate", ADMIN, summary="pause"),
            ep("GET", "{id}/snapshot", ALL, summary="the compiled snapshot the router uses"),
            ep("GET", "{id}/history", STAFF, summary="who changed what"),
        ),
        "campaign",
        "Campaigns (supervisors: those they supervise; agents: those they work in)",
    ),
    Rule("clients", "campaigns", "clients", catalog(STAFF), summary="Clients"),
    Rule("projects", "campaigns", "projects", catalog(STAFF), summary="Projects"),
    Rule("schedules", "campaigns", "schedules",
         (*catalog(STAFF), ep("GET", "{id}/status", STAFF, summary="open now? next opening")),
         summary="Business-hours schedules"),
    Rule("typifications", "campaigns", "typifications",
         catalog(ALL, (ep("GET", "tree", ALL, summary="categories and their subcategories"),)),
         summary="Typification catalog"),
    Rule("fields", "campaigns", "fields", catalog(ALL), summary="Custom-field catalog"),
    Rule(
        "channels", "channels", "channels",
        (
            ep("GET", "", STAFF, summary="list"), ep("POST", "", ADMIN, summary="create"),
            ep("GET", "{id}", STAFF, summary="one (secrets masked)"), ep("PUT", "{id}", ADMIN, summary="change"),
            ep("DELETE", "{id}", ADMIN, summary="delete"),
            ep("GET", "{id}/templates", ALL, summary="a WhatsApp number's message templates (name, language, body, "
               "status, parameters): what an agent starts a conversation with outside the 24-hour window"),
        ),
        summary="Channels and their credentials",
    ),
    Rule(
        "contacts", "crm", "contacts",
        (
            ep("GET", "", ALL, summary="search"), ep("POST", "", ALL, summary="create"),
            ep("GET", "match", ALL, summary="contacts matching a phone, e-mail or handle"),
            # Agents download what they may search (seed 001, Contactos: "Descargar"), same filters.
            ep("GET", "export", ALL, summary="export (CSV/XLSX) with the search's filters"),
            ep("GET", "{id}", ALL, summary="one"), ep("PATCH", "{id}", ALL, summary="edit"),
            ep("DELETE", "{id}", ADMIN, summary="delete (a contact is every campaign's: admins only)"),
            ep("POST", "{id}/addresses", ALL, summary="add a phone, e-mail or handle"),
            ep("GET", "{id}/history", ALL, summary="conversations, cases and closures"),
        ),
        summary="Contacts: search, match, edit, history",
    ),
    Rule(
        "accounts", "crm", "accounts",
        (
            ep("GET", "", ALL, summary="list"), ep("POST", "", ALL, summary="create"),
            ep("GET", "{id}", ALL, summary="one"), ep("PATCH", "{id}", ALL, summary="edit"),
            ep("DELETE", "{id}", STAFF, summary="delete"),
        ),
        summary="Accounts",
    ),
    Rule(
        "lists", "crm", "lists",
        (
            ep("GET", "", STAFF, summary="list"), ep("POST", "", STAFF, summary="create"),
            ep("POST", "from-search", STAFF, summary="a call list of every contact a search finds "
               "(`{name, campaign_id, filters}`)"),
            ep("GET", "{id}", STAFF, summary="one"),
            ep("GET", "{id}/members", STAFF, summary="members"),
            ep("POST", "{id}/members", STAFF, summary="add members"),
            ep("DELETE", "{id}/members/{contact_id}", STAFF, summary="remove a member"),
        ),
        summary="Contact lists",
    ),
    Rule(
        "cases", "crm", "conversations",
        (
            ep("GET", "", ALL, summary="list"), ep("GET", "{id}", ALL, summary="one"),
            ep("GET", "{id}/matches", ALL, summary="contacts matching its address"),
            ep("PUT", "{id}/contact", ALL, summary="link a contact"),
            ep("POST", "{id}/close", ALL, summary="record the closure"),
            ep("GET", "{id}/workspace", ALL, summary="the campaign's script and tabs filled from its contact"),
        ),
        "case",
        "Cases (CRM conversations): agents see their own unless the campaign allows viewing all",
    ),
    Rule(
        "conversations", "crm", "conversations",
        (ep("GET", "{id}/media/{sha}", ALL, formats=(("sha", SHA256),), download=True,
            summary="download a file its messages carry (`blob:<sha>`: an e-mail attachment or body, an agent's "
            "upload, a gallery file), with its type, as an attachment, sandboxed; a hash no message of it "
            "carries is 404"),),
        "case",
        "Files of a conversation (whoever may read it: its agent, supervisors of its campaign, admins)",
    ),
    Rule(
        "tickets", "crm", "tickets",
        (
            ep("GET", "", ALL, summary="search"), ep("POST", "", ALL, summary="create"),
            ep("GET", "export", ALL, summary="export (CSV/XLSX)"),
            ep("GET", "{id}", ALL, summary="one"), ep("PATCH", "{id}", ALL, summary="edit"),
            ep("POST", "{id}/actions", ALL, summary="add an action"),
            ep("POST", "{id}/attachments", ALL, summary="attach a file", files=True),
        ),
        "owned",
        "Tickets and their actions",
    ),
    Rule(
        "actions", "crm", "actions",
        (
            ep("GET", "", ALL, summary="search (`?status=pending|done|cancelled|all&from=&to=&contact_id=&agent_id="
               "&priority=&company=`)"),
            ep("GET", "{id}", ALL, summary="one, with its ticket's subject and its change log"),
            ep("PATCH", "{id}", ALL, summary="edit (status, subject, priority, agent, due date; a comment goes to the "
               "change log)"),
        ),
        "owned",
        "Ticket actions across tickets (agents: their own, and nobody's)",
    ),
    Rule(
        "dispositions", "crm", "dispositions",
        (
            ep("GET", "{campaign_id}", ALL, summary="the campaign's dispositions, with their follow-up rule"),
            ep("POST", "{campaign_id}", ADMIN, summary="add a disposition"),
            ep("GET", "{campaign_id}/{id}", ALL, summary="one"),
            ep("PATCH", "{campaign_id}/{id}", ADMIN, summary="change"),
            ep("DELETE", "{campaign_id}/{id}", ADMIN, summary="delete"),
        ),
        "campaign",
        "Dispositions of a campaign's calls, each with an optional follow-up (a callback or a ticket action)",
    ),
    Rule("ticket-forms", "crm", "ticket-forms", crm_catalog(),
         summary="Ticket forms: typed fields with required flags (seed 001 1.3.3.1)"),
    Rule("action-types", "crm", "action-types", crm_catalog(),
         summary="Ticket action types, each with an optional form"),
    Rule("search", "crm", "search",
         (ep("GET", "", ALL, summary="the whole base (`?q=`, 2+ characters): contacts and the open cases the caller "
             "may see"),),
         summary="Global search (seed 003: the search at the top of the console)"),
    Rule(
        "comments", "crm", "comments",
        (ep("GET", "", ALL, summary="comments on cases, newest first (`?contact_id=&agent_id=&campaign_id=&company="
            "&from=&to=`)"),),
        "owned",
        "Comments on work items as their own kind of history (agents: on their own items)",
        owner_field="assigned_user",
        owner_param="assigned_user",
    ),
    Rule(
        "resources", "crm", "resources",
        (
            ep("GET", "", ALL, summary="a campaign's gallery (`?campaign_id=&kind=file|quick_reply`)"),
            ep("POST", "", ADMIN, summary="add a quick reply `{campaign_id, name, text}`"),
            ep("POST", "file", ADMIN, summary="add a file (`?campaign_id=&name=`; multipart `file` or raw body with "
               "`?filename=`)", files=True),
            ep("GET", "{id}", ALL, summary="one"), ep("PATCH", "{id}", ADMIN, summary="rename, change a text"),
            ep("DELETE", "{id}", ADMIN, summary="delete"),
            ep("GET", "{id}/file", ALL, summary="download a file"),
        ),
        "campaign_query",
        "Resource gallery of a campaign: files and quick replies agents insert in replies (seed 004)",
    ),
    Rule(
        "dialer", "crm", "dialer",
        (
            ep("GET", "", ALL, summary="the campaign's lists with what is left to call (`?campaign_id=`)"),
            ep("POST", "{list_id}/next", ALL, summary="the list's next contact to call, held for the caller, with "
               "its work item"),
        ),
        "campaign_query",
        "Preview dialer: recycled and reprocessed list members become work",
    ),
    Rule(
        "webhooks", "crm", "webhooks",
        (
            ep("GET", "", ADMIN, summary="a campaign's signed webhooks to an external CRM (`?campaign_id=`)"),
            ep("POST", "", ADMIN, summary="add one (its signing secret is answered once)"),
            ep("GET", "{id}", ADMIN, summary="one"), ep("PATCH", "{id}", ADMIN, summary="change (url, events, active, "
                                                        "rotate_secret)"),
            ep("DELETE", "{id}", ADMIN, summary="delete"),
            ep("GET", "{id}/deliveries", ADMIN, summary="its deliveries (`?status=dead`: the dead-letter list)"),
        ),
        summary="Outbound webhooks (HMAC-SHA256 signed, retried with backoff, dead-letter list)",
    ),
    Rule("webhook-deliveries", "crm", "webhook-deliveries",
         (ep("POST", "{id}/retry", ADMIN, summary="send a dead delivery again"),),
         summary="Webhook deliveries"),
    Rule(
        "attachments", "crm", "attachments",
        (ep("GET", "{id}", ALL, summary="download the file"),),
        "owned",
        "Attachments of work items, tickets and calls (checked against the item they belong to)",
        item_suffix="/meta",
    ),
    Rule(
        "calls", "crm", "calls",
        (
            ep("GET", "", ALL, summary="history"), ep("POST", "", ALL, summary="register a call"),
            ep("POST", "dial", ALL, summary="click-to-call `{phone, campaign_id, contact_id?, list_id?, channel_id?}`: "
               "the campaign's voice channel rings the caller's extension, then the number; the call's events "
               "(`call.progress` on the WebSocket) keep its `status`"),
            ep("GET", "pending", ALL, summary="calls still to classify"),
            ep("GET", "export", ALL, summary="export (CSV/XLSX)"),
            ep("GET", "{id}", ALL, summary="one"),
            ep("PUT", "{id}/classification", ALL, summary="classify"),
            ep("POST", "{id}/attachments", ALL, summary="attach a file", files=True),
        ),
        "owned",
        "Call history, click-to-call and classification (agents: their own calls only)",
        own_only=frozenset({"classification"}),
    ),
    Rule(
        "callbacks", "crm", "callbacks",
        (
            ep("GET", "", ALL, summary="list"), ep("POST", "", ALL, summary="schedule"),
            ep("GET", "calendar", ALL, summary="calendar (`?users=&view=&date=&tz=`)"),
            ep("GET", "{id}", ALL, summary="one"), ep("PATCH", "{id}", ALL, summary="change"),
        ),
        "owned",
        "Scheduled callbacks and their calendar (`/callbacks/calendar?users=&view=&date=&tz=`)",
        owner_field="owner_id",
        owner_param="users",
    ),
    Rule(
        "work-items", "crm", "cases",
        (
            ep("GET", "", ALL, target="panel", summary="the operator panel of a campaign (`?campaign_id=`)"),
            ep("POST", "", ALL, summary="create"),
            ep("GET", "{id}", ALL, summary="one, with history, contact and account"),
            ep("PATCH", "{id}", ALL, summary="edit"),
            ep("POST", "{id}/comments", ALL, summary="comment"), ep("POST", "{id}/actions", ALL, summary="action"),
            ep("POST", "{id}/attachments", ALL, summary="attach a file", files=True),
            ep("POST", "{id}/attend", ALL, summary="Atender"),
            ep("POST", "{id}/save", ALL, summary="Guardar (y siguiente)"),
            ep("GET", "{id}/workspace", ALL, summary="the campaign's script and tabs filled from its contact and case"),
            ep("POST", "{id}/external-link", ALL, summary="a signed, expiring, read-only link to show it outside "
               "(when the campaign has external_view.enabled)"),
            ep("POST", "{id}/combine", ALL, summary="merge another case of the contact into this one (seed 002)"),
            ep("POST", "close", ALL, summary="close several with one result (agents: their own, when the campaign "
               "allows mass close)"),
        ),
        "owned",
        "Operator panel: work items (CRM cases) of a campaign (`?campaign_id=`), attend, save",
        owner_field="assigned_user",
    ),
    Rule(
        "imports", "crm", "imports",
        (
            ep("POST", "", STAFF, summary="upload a CSV/XLSX file (`?filename=` with raw bytes, or a multipart "
               "`file`)", files=True),
            ep("GET", "template", STAFF, summary="the XLSX template (`?kind=&campaign_id=`); `kind=import_updates` "
               "builds it from a contact search (its filters) with `keys` and `fields` columns"),
            ep("GET", "{id}", STAFF, summary="an upload: format, columns, sample rows"),
        ),
        summary="Imports",
    ),
    Rule("batches", "crm", "batches", (ep("GET", "", STAFF, summary="list (lotes: seed 000's processes choose one)"),),
         summary="Import batches (lotes)"),
    Rule("import-mappings", "crm", "import-mappings",
         (ep("GET", "", STAFF, summary="saved column mappings (`?kind=`)"),
          ep("POST", "", STAFF, summary="save a mapping `{name, kind, mapping: {field: column}}`")),
         summary="Saved column mappings of the imports"),
    Rule("exports", "crm", "exports", (ep("GET", "{kind}", STAFF, summary="contacts, calls or tickets"),),
         summary="Exports"),
    Rule(
        "processes", "crm", "processes",
        (
            ep("GET", "", STAFF, summary="list"), ep("POST", "", STAFF, summary="start"),
            ep("GET", "recycle-count", STAFF, summary="how many contacts a recycle would take"),
            ep("GET", "{id}", STAFF, summary="progress"), ep("POST", "{id}/cancel", STAFF, summary="cancel"),
            ep("GET", "{id}/outcome", STAFF, summary="per-row outcome (CSV/XLSX)"),
        ),
        summary="Bulk processes",
    ),
    Rule("queues", "router", "queues",
         (ep("GET", "{id}", STAFF, summary="one campaign's queue"),
          ep("GET", "{id}/waiting", ALL, summary="the conversations waiting, for its agents to take "
             "(`POST /conversations/{id}/take`; seed 002 `queue_assignment` off)")), "queue",
         "Live queue of a campaign: waiting, longest wait, agents by state (agents: the waiting list of their "
         "campaigns)"),
    Rule("agents", "router", "agents", (ep("GET", "{id}", ALL, summary="one agent"),), "agent",
         "An agent's live status and load"),
    Rule(
        "reports", "crm", "reports",
        (
            ep("GET", "kpis", STAFF, summary="KPIs by interval (`?from=&to=&interval=15|30|60|day&group=total|"
               "campaign|agent|channel&campaign_id=a,b&tz=&format=json|csv|xlsx`)"),
            ep("GET", "dashboard", STAFF, summary="today so far (`?campaign_id=&tz=&date=`): totals, per campaign and "
               "agent, 15-minute series"),
            ep("GET", "forecast", STAFF, summary="staffing by Erlang C and A per interval (`?campaign_id=&date="
               "&interval=&tz=`)"),
        ),
        "campaign_query",
        "Reports from the durable record (supervisors: their campaigns)",
    ),
)


# --- segments of a request path --------------------------------------------------------------------

# Characters no decoded path segment may hold: separators and parameters of some server or another,
# NUL and the other C0 controls, DEL.
_FORBIDDEN = frozenset("/\\;") | frozenset(chr(c) for c in (*range(0x20), 0x7F))
MAX_DECODINGS = 4


class BadSegment(Invalid):
    """A path segment that could mean something else to the service behind (traversal and its friends)."""


def check_segment(value: str) -> str:
    """``value`` if it is a plain segment: not ``.``/``..``/empty, no separator, no control character, and
    not one of those under Unicode compatibility normalization (``．．``, ``／``).

    Raises:
        BadSegment: 400, naming the path.
    """
    for form in (value, unicodedata.normalize("NFKC", value)):
        if form in ("", ".", "..") or any(c in _FORBIDDEN for c in form):
            raise BadSegment(f"path segment {value!r} is not allowed (empty, dot segment or separator)",
                             field="path")
    return value


def decode_segment(raw: str) -> str:
    """The value of one raw (percent-encoded) path segment, refused if any decoding of it is unsafe.

    The value is decoded once, as the service behind will; it must be strict UTF-8 (overlong forms such
    as ``%c0%ae`` are not). Every further decoding (double, triple encoding) must be safe as well, since
    some proxy or service might decode again.

    Raises:
        BadSegment: 400.
    """
    check_segment(raw)
    value: str | None = None
    layer = raw
    for _ in range(MAX_DECODINGS):
        if "%" not in layer:
            break
        try:
            decoded = unquote_to_bytes(layer).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadSegment(f"path segment {raw!r} is not valid UTF-8 once decoded", field="path") from exc
        if decoded == layer:
            break
        check_segment(decoded)
        value = decoded if value is None else value
        layer = decoded
    else:
        if "%" in layer and unquote(layer) != layer:
            raise BadSegment(f"path segment {raw!r} is encoded too many times", field="path")
    return raw if value is None else value


def decode_path(raw_path: str) -> list[str]:
    """The decoded segments of a raw request path (``/api/v1/contacts/x`` -> ``["api", "v1", "contacts",
    "x"]``), each checked by :func:`decode_segment`."""
    if not raw_path.startswith("/"):
        raise BadSegment("the path must start with /", field="path")
    return [decode_segment(s) for s in raw_path[1:].split("/")]


def may_see_campaign(p: Principal, campaign_id: str, directory: SnapshotDirectory) -> bool:
    visible = visible_campaigns(p, directory)
    return visible is None or campaign_id in visible


def may_see_agent(p: Principal, agent_id: str, directory: SnapshotDirectory) -> bool:
    if p.is_admin or agent_id == p.user_id:
        return True
    return p.role == "supervisor" and agent_id in directory.agents_of(directory.supervised_by(p.user_id))


def owner_of(rule: Rule, item: Mapping[str, Any]) -> str | None:
    owner = item.get(rule.owner_field)
    return str(owner) if owner else None


def may_see_item(p: Principal, rule: Rule, item: Mapping[str, Any], directory: SnapshotDirectory) -> bool:
    """Whether one item of a scoped list (or a fetched item) is visible to the caller."""
    if p.is_admin:
        return True
    if rule.scope == "campaign":
        return may_see_campaign(p, str(item.get("id", "")), directory)
    if rule.scope == "case":
        if p.role == "supervisor" and item.get("agent_id") in directory.agents_of(directory.supervised_by(p.user_id)):
            return True
        return can_view_conversation(p, item, directory)
    if rule.scope == "owned":
        return _may_see_owned(p, owner_of(rule, item), item.get("campaign_id"), directory)
    return True


def _may_see_owned(p: Principal, owner: str | None, campaign_id: Any, directory: SnapshotDirectory) -> bool:
    """Owned items (tickets, calls, callbacks, work items): the owner; nobody's item of one of the caller's
    campaigns (work waiting to be attended); supervisors: their campaigns' and their agents'; agents: the
    whole campaign when it allows viewing all cases."""
    if owner is None and not campaign_id:
        return True  # not tied to anybody: e.g. a ticket of the contact, visible to who may read tickets
    if owner == p.user_id:
        return True
    if p.role == "supervisor":
        return campaign_id in directory.supervised_by(p.user_id) or (
            owner is not None and owner in directory.agents_of(directory.supervised_by(p.user_id))
        )
    snap = directory.get(campaign_id)
    if snap is None or p.user_id not in snap.agents:
        return False
    return owner is None or snap.permissions.view_all_cases


# Where a request body names the campaign it is for (a work item, a call, a callback, a list, a process).
BODY_CAMPAIGNS = (("campaign_id",), ("params", "campaign_id"))


def foreign_campaign(p: Principal, body: Any, directory: SnapshotDirectory) -> str | None:
    """The field of a write's body that names a campaign outside the caller's scope, if any."""
    if p.is_admin or not isinstance(body, Mapping):
        return None
    for path in BODY_CAMPAIGNS:
        value: Any = body
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value and not may_see_campaign(p, value, directory):
            return ".".join(path)
    return None


def must_own(p: Principal, rule: Rule, endpoint: Endpoint, item: Mapping[str, Any]) -> bool:
    """Whether an agent is refused an own-only action (``PUT /calls/{id}/classification``) on this item."""
    parts = endpoint.parts
    return p.role == "agent" and len(parts) > 1 and parts[1] in rule.own_only and owner_of(rule, item) != p.user_id


def agent_filter(p: Principal, rule: Rule, query: Mapping[str, str], directory: SnapshotDirectory) -> dict[str, str]:
    """Query parameters to add so an agent's list is narrowed at the source (their own items)."""
    if p.role != "agent" or rule.scope not in ("case", "owned"):
        return {}
    campaign = query.get("campaign_id")
    snap = directory.get(campaign)
    if snap is not None and p.user_id in snap.agents and snap.permissions.view_all_cases:
        return {}
    return {rule.owner_param if rule.scope == "owned" else "agent_id": p.user_id}


def foreign_owners(p: Principal, rule: Rule, query: Mapping[str, str], directory: SnapshotDirectory) -> list[str]:
    """The owners a supervisor names in a list query (``agent_id=``, ``users=a,b``) who are neither
    themself nor an agent of a campaign they supervise."""
    if p.role != "supervisor" or rule.scope != "owned" or not query.get(rule.owner_param):
        return []
    mine = directory.agents_of(directory.supervised_by(p.user_id)) | {p.user_id}
    named = [x.strip() for x in query[rule.owner_param].split(",") if x.strip()]
    return [x for x in named if x not in mine]
