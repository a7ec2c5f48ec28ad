"""HTTP: /contacts (CRUD, search, match, addresses, history) and /conversations (a reply's media upload, the
files its messages carry)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from libs.core.http import page_args, query, respond, respond_page
from libs.core.inputs import read_upload
from libs.core.service import read_json
from services.crm.adapters.spreadsheets import MEDIA_TYPES
from services.crm.domain.common import parse_datetime
from services.crm.domain.contacts import ContactFilter
from services.crm.handlers import access, contacts, conversations, exports, history
from services.crm.routes import actor_of, crm_of, send_stream
from services.crm.routes.masking import export_mask


def contact_filter(request: web.Request) -> ContactFilter:
    """The contact filters of a query string (search and export share them)."""
    return ContactFilter(
        q=query(request, "q"), phone=query(request, "phone"), email=query(request, "email"),
        handle=query(request, "handle"),
        network=query(request, "network"), company=query(request, "company"), tag=query(request, "tag"),
        assigned_user=query(request, "assigned_user"), disposition=query(request, "disposition"),
        list_id=query(request, "list_id"), batch_id=query(request, "batch_id"),
        activity_from=parse_datetime(query(request, "activity_from"), "activity_from"),
        activity_to=parse_datetime(query(request, "activity_to"), "activity_to"))


async def export_contacts(request: web.Request) -> web.StreamResponse:
    """The search's contacts as a file. Only admins export the whole contact base: a supervisor's or an
    agent's export holds only the contacts of their campaigns (an account, a case, a conversation or a
    list there), filtered in the query: nothing is filtered afterwards."""
    crm, actor = crm_of(request), actor_of(request)
    fmt = exports.check_format(query(request, "format"))
    f = contacts.normalize_filter_addresses(crm, contact_filter(request))
    if not access.unrestricted(actor):
        f.campaigns = sorted(actor.campaigns or ())
    chunks = exports.export(crm.exports.contacts(f), fmt, "contacts", export_mask(request))
    return await send_stream(request, chunks, MEDIA_TYPES[fmt], f"contacts.{fmt}")


async def create_contact(request: web.Request) -> web.Response:
    body = await read_json(request)
    return respond(await contacts.create_contact(crm_of(request), body, actor_of(request)), 201)


async def list_contacts(request: web.Request) -> web.Response:
    crm = crm_of(request)
    limit, after = page_args(request)
    f = contacts.normalize_filter_addresses(crm, contact_filter(request))
    items = await contacts.search_contacts(crm, f, limit, after)
    return respond_page(items, limit, lambda c: (c["created_at"], c["id"]))


async def match_contacts(request: web.Request) -> web.Response:
    return respond(await contacts.match(crm_of(request), contact_filter(request)))


async def get_contact(request: web.Request) -> web.Response:
    return respond(await contacts.get_contact(crm_of(request), request.match_info["id"]))


async def patch_contact(request: web.Request) -> web.Response:
    body = await read_json(request)
    return respond(await contacts.update_contact(crm_of(request), request.match_info["id"], body,
                                                 actor_of(request)))


async def delete_contact(request: web.Request) -> web.Response:
    # A contact is shared by every campaign: only an admin removes it from all of them.
    access.require_admin(actor_of(request), "delete a contact")
    await contacts.delete_contact(crm_of(request), request.match_info["id"], actor_of(request))
    return web.Response(status=204)


async def add_address(request: web.Request) -> web.Response:
    body = await read_json(request)
    return respond(await contacts.add_address(crm_of(request), request.match_info["id"], body, actor_of(request)))


async def contact_history(request: web.Request) -> web.Response:
    # Bounded to the caller's campaigns by the history windows (naming another campaign does not widen it).
    return respond(await history.contact_history(crm_of(request), request.match_info["id"],
                                                 query(request, "campaign_id"), actor_of(request)))


async def list_conversations(request: web.Request) -> web.Response:
    """Conversations as the CRM keeps them, narrowed at the source: an agent's own unless the campaign
    allows viewing all; a supervisor's campaigns'."""
    limit, after = page_args(request)
    crm, actor = crm_of(request), actor_of(request)
    campaign_id, agent_id, campaigns = query(request, "campaign_id"), query(request, "agent_id"), None
    if not access.unrestricted(actor):
        owner, scope = access.owned_scope(crm, actor, campaign_id)
        agent_id = owner or agent_id
        campaigns = scope[0] if scope is not None and actor.role == "supervisor" else None
    items = await conversations.search(
        crm, contact_id=query(request, "contact_id"), campaign_id=campaign_id, agent_id=agent_id,
        status=query(request, "status"), limit=limit, after=after, campaigns=campaigns)
    return respond_page(items, limit, lambda c: (c["opened_at"], c["id"]))


async def _visible_conversation(request: web.Request) -> dict[str, Any]:
    conv = await conversations.get_conversation(crm_of(request), request.match_info["id"])
    access.check_owned(crm_of(request), actor_of(request), conv, "agent_id", "conversation")
    return conv


async def get_conversation(request: web.Request) -> web.Response:
    return respond(await _visible_conversation(request))


async def conversation_matches(request: web.Request) -> web.Response:
    await _visible_conversation(request)
    return respond(await conversations.matches(crm_of(request), request.match_info["id"]))


async def link_conversation(request: web.Request) -> web.Response:
    await _visible_conversation(request)
    body = await read_json(request)
    return respond(await conversations.link(crm_of(request), request.match_info["id"], body, actor_of(request)))


async def upload_media(request: web.Request) -> web.Response:
    """``POST /conversations/{id}/media`` (multipart ``file``): a file for the caller's reply. The agent who holds
    the conversation, a supervisor of its campaign, an admin (checked here too, not only at the gateway); the
    campaign must allow media; type and size bounded before anything is kept."""
    conv = await _visible_conversation(request)
    access.check_own(actor_of(request), conv, "agent_id", "conversation")
    up = await read_upload(request)
    return respond(await conversations.store_media(crm_of(request), conv, up.filename, up.media_type, up.chunks), 201)


# A file of a conversation may be anything a customer sent (an HTML e-mail body, a page): never rendered
# from this origin, never sniffed into something else.
DOWNLOAD_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


async def conversation_media(request: web.Request) -> web.StreamResponse:
    """``GET /conversations/{id}/media/{sha}``: a file the conversation's messages carry, streamed from the shared
    store. Whoever may read the conversation (its agent, supervisors of its campaign, admins; checked here too,
    not only at the gateway); a hash no message of it carries reads as not found."""
    crm = crm_of(request)
    conversations.check_sha(request.match_info["sha"])
    conv = await _visible_conversation(request)
    found = await conversations.media_file(crm, conv["id"], request.match_info["sha"])
    return await send_stream(request, crm.blobs.open_stream(found["key"]), found["mime_type"], found["filename"],
                             {**DOWNLOAD_HEADERS, "Content-Length": str(found["size"])})


async def close_conversation(request: web.Request) -> web.Response:
    await _visible_conversation(request)
    body = await read_json(request)
    return respond(await conversations.close(crm_of(request), request.match_info["id"], body, actor_of(request)))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/contacts", create_contact)
    r.add_get("/contacts", list_contacts)
    r.add_get("/contacts/match", match_contacts)
    r.add_get("/contacts/export", export_contacts)
    r.add_get("/contacts/{id}", get_contact)
    r.add_patch("/contacts/{id}", patch_contact)
    r.add_delete("/contacts/{id}", delete_contact)
    r.add_post("/contacts/{id}/addresses", add_address)
    r.add_get("/contacts/{id}/history", contact_history)
    r.add_get("/conversations", list_conversations)
    r.add_get("/conversations/{id}", get_conversation)
    r.add_get("/conversations/{id}/matches", conversation_matches)
    r.add_put("/conversations/{id}/contact", link_conversation)
    r.add_post("/conversations/{id}/close", close_conversation)
    r.add_post("/conversations/{id}/media", upload_media)
    r.add_get("/conversations/{id}/media/{sha}", conversation_media)
