"""Contact use cases: create, read, edit (audited), delete, search, match and attach an address."""

from __future__ import annotations

from typing import Any

from libs.contracts import new_id
from libs.core.errors import Invalid, NotFound
from libs.core.validation import parse_body, problems_error
from services.crm.domain.common import diff
from services.crm.domain.contacts import (
    EDITABLE,
    Address,
    BadAddress,
    ContactFilter,
    ContactIn,
    ContactPatch,
    HandleIn,
    addresses_of,
    match_result,
    normalize_email,
    normalize_handle,
    normalize_phone,
    replaced_kinds,
)
from services.crm.handlers import Actor, Crm

ADDRESS_FIELDS = {"phone": "phones", "email": "emails", "handle": "handles"}


def _address_values(contact: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "phones": [p["number"] for p in contact.get("phones", [])],
        "emails": [e["address"] for e in contact.get("emails", [])],
        "handles": [f"{h['network']}:{h['handle']}" for h in contact.get("handles", [])],
    }


def _view(contact: dict[str, Any], fields: dict[str, Any], kinds: list[str]) -> dict[str, Any]:
    values = _address_values(contact)
    return {**{k: contact[k] for k in fields}, **{k: values[k] for k in kinds}}


def _validated(crm: Crm, patch: ContactPatch) -> list[Address] | None:
    addresses, problems = addresses_of(patch, crm.settings.default_region)
    if problems:
        raise problems_error(problems)
    return addresses


async def create_contact(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(ContactIn, body)
    addresses = _validated(crm, data) or []
    if not (data.name or "").strip() and not addresses:
        raise Invalid("a contact needs a name or at least one phone, e-mail or handle", field="name")
    fields = data.model_dump(exclude={"phones", "emails", "handles"}, exclude_none=True)
    contact_id = new_id()
    async with crm.uow() as uow:
        await uow.contacts.insert(contact_id, fields)
        await uow.contacts.add_addresses(contact_id, addresses)
        created = await uow.contacts.get(contact_id)
        assert created is not None
        await uow.audit.audit("contact", contact_id, "created", actor.id,
                              {k: [None, v] for k, v in {**fields, **_address_values(created)}.items() if v})
    return created


async def get_contact(crm: Crm, contact_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        contact = await uow.contacts.get(contact_id)
        if contact is None:
            raise NotFound(f"contact {contact_id} not found", field="contact_id")
        contact.update(await uow.contacts.memberships(contact_id))
    return contact


async def update_contact(crm: Crm, contact_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    patch = parse_body(ContactPatch, body)
    if not patch.model_fields_set:
        raise Invalid("nothing to change: send at least one field", field="body")
    addresses = _validated(crm, patch)
    async with crm.uow() as uow:
        before = await uow.contacts.get(contact_id, for_update=True)
        if before is None:
            raise NotFound(f"contact {contact_id} not found", field="contact_id")
        fields = {k: getattr(patch, k) for k in patch.model_fields_set if k in EDITABLE}
        if "custom" in fields:
            merged = {**before["custom"], **(fields["custom"] or {})}
            fields["custom"] = {k: v for k, v in merged.items() if v is not None}
        if "tags" in fields and fields["tags"] is None:
            fields["tags"] = []
        name_after = fields.get("name", before["name"]) or ""
        await uow.contacts.update(contact_id, fields)
        if addresses is not None:
            await uow.contacts.replace_addresses(contact_id, replaced_kinds(patch), addresses)
        after = await uow.contacts.get(contact_id)
        assert after is not None
        if not name_after.strip() and not any(after[k] for k in ("phones", "emails", "handles")):
            raise Invalid("a contact needs a name or at least one phone, e-mail or handle", field="name")
        kinds = [ADDRESS_FIELDS[k] for k in replaced_kinds(patch)]
        changes = diff(_view(before, fields, kinds), _view(after, fields, kinds))
        if changes:
            await uow.audit.audit("contact", contact_id, "updated", actor.id, changes)
    return after


async def delete_contact(crm: Crm, contact_id: str, actor: Actor) -> None:
    async with crm.uow() as uow:
        if not await uow.contacts.delete(contact_id):
            raise NotFound(f"contact {contact_id} not found", field="contact_id")
        await uow.audit.audit("contact", contact_id, "deleted", actor.id)


async def search_contacts(crm: Crm, f: ContactFilter, limit: int, after: tuple[Any, str] | None
                          ) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        return await uow.contacts.search(f, limit, after)


def normalize_filter_addresses(crm: Crm, f: ContactFilter) -> ContactFilter:
    """Normalize the phone / e-mail / handle of a filter the way they are stored; bad ones name the field."""
    try:
        if f.phone:
            f.phone = normalize_phone(f.phone, crm.settings.default_region)
    except BadAddress as exc:
        raise Invalid(str(exc), field="phone") from None
    try:
        if f.email:
            f.email = normalize_email(f.email)
    except BadAddress as exc:
        raise Invalid(str(exc), field="email") from None
    try:
        if f.handle:
            f.network, f.handle = normalize_handle(f.network or "any", f.handle)
            f.network = None if f.network == "any" else f.network
    except BadAddress as exc:
        raise Invalid(str(exc), field="handle") from None
    return f


async def match(crm: Crm, f: ContactFilter) -> dict[str, Any]:
    """Contacts holding a phone, e-mail or handle: ``one`` / ``several`` / ``none``."""
    f = normalize_filter_addresses(crm, f)
    network: str | None
    if f.phone:
        kind, value, network = "phone", f.phone, ""
    elif f.email:
        kind, value, network = "email", f.email, ""
    elif f.handle:
        kind, value, network = "handle", f.handle, f.network
    else:
        raise Invalid("give a phone, an email or a handle to match", field="phone")
    async with crm.uow(readonly=True) as uow:
        if kind == "handle" and network is None:
            ids = await uow.contacts.find_by_handle(value)
        else:
            ids = await uow.contacts.find_by_address(kind, value, network or "")
        found = await uow.contacts.get_many(ids)
    return {"result": match_result(len(found)), "contacts": found}


async def add_address(crm: Crm, contact_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    """Attach a phone, e-mail or handle to an existing contact (an unmatched caller's number, say)."""
    if not isinstance(body, dict):
        raise Invalid("a JSON object is expected", field="body")
    kind = body.get("kind")
    if kind not in ADDRESS_FIELDS:
        raise Invalid("kind must be phone, email or handle", field="kind")
    if kind == "handle":
        h = parse_body(HandleIn, {"network": body.get("network"), "handle": body.get("value")})
        patch = ContactPatch(handles=[h])
    else:
        patch = parse_body(ContactPatch, {ADDRESS_FIELDS[kind]: [body.get("value")]})
    addresses, problems = addresses_of(patch, crm.settings.default_region)
    if problems:
        raise Invalid(problems[0][1], field="value")
    async with crm.uow() as uow:
        before = await uow.contacts.get(contact_id, for_update=True)
        if before is None:
            raise NotFound(f"contact {contact_id} not found", field="contact_id")
        await uow.contacts.add_addresses(contact_id, addresses or [])
        after = await uow.contacts.get(contact_id)
        assert after is not None
        changes = diff(_address_values(before), _address_values(after))
        if changes:
            await uow.audit.audit("contact", contact_id, "updated", actor.id, changes)
    return after



