"""The catalogs admins keep for the CRM (seed 001): each campaign's dispositions with their follow-up rule
(1.3.1: schedule a callback or create a ticket action), ticket forms as typed fields (1.3.3.1) and the action
types they attach to. Reads are for everyone who works; writes for admins. Nothing in use is deleted: a 409
names what depends on it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from libs.contracts import new_id
from libs.core.errors import Conflict, Forbidden, Invalid, NotFound
from libs.core.validation import Strict, blame, parse_body
from services.crm.adapters.ports import CatalogRepository, UnitOfWork
from services.crm.domain.forms import TicketFormIn, form_problems
from services.crm.handlers import Actor, Crm

ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Kind = Literal["disposition", "ticket_form", "action_type"]


class FollowUpIn(Strict):
    """What classifying a call with the disposition sets off: nothing, a callback for the call's agent, or a
    ticket with one pending action of ``action_type_id``, due ``after_minutes`` later."""

    kind: Literal["none", "callback", "ticket_action"] = "none"
    after_minutes: int = Field(60, ge=0, le=60 * 24 * 90)
    action_type_id: str | None = Field(None, min_length=1, max_length=64)
    note: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _type(self) -> FollowUpIn:
        if self.kind == "ticket_action" and not self.action_type_id:
            raise blame("action_type_id", "a ticket action follow-up needs its action type")
        if self.kind != "ticket_action" and self.action_type_id:
            raise blame("action_type_id", "only a ticket_action follow-up takes an action type")
        return self


class DispositionIn(Strict):
    id: str | None = Field(None, pattern=ID)
    name: str = Field(min_length=1, max_length=200)
    position: int = Field(0, ge=0, le=10_000)
    follow_up: FollowUpIn = Field(default_factory=FollowUpIn)


class ActionTypeIn(Strict):
    id: str | None = Field(None, pattern=ID)
    name: str = Field(min_length=1, max_length=200)
    position: int = Field(0, ge=0, le=10_000)
    form_id: str | None = Field(None, min_length=1, max_length=64)


MODELS: dict[str, type[BaseModel]] = {"disposition": DispositionIn, "ticket_form": TicketFormIn,
                                      "action_type": ActionTypeIn}
PREFIX = {"disposition": "dsp", "ticket_form": "frm", "action_type": "act"}


def present(row: dict[str, Any]) -> dict[str, Any]:
    """The API's item: its id, name, position and data fields (``follow_up``, ``fields``, ``form_id``)."""
    out = {"id": row["id"], "name": row["name"], "position": row["position"], **row["data"],
           "created_at": row["created_at"], "updated_at": row["updated_at"]}
    if row["kind"] == "disposition":
        out["campaign_id"] = row["scope"]
    return out


def _require_admin(actor: Actor) -> None:
    if actor.role not in ("admin", "system"):
        raise Forbidden(f"only an admin changes the catalogs, not a {actor.role}", field="role")


def _scope(crm: Crm, kind: str, scope: str) -> str:
    """A disposition belongs to a campaign the CRM knows; the other catalogs are global ('')."""
    if kind != "disposition":
        return ""
    if crm.campaigns.get(scope) is None:
        raise NotFound(f"campaign {scope!r} not found", field="campaign_id")
    return scope


async def _check_refs(uow: UnitOfWork, kind: str, data: dict[str, Any]) -> None:
    if kind == "action_type" and data.get("form_id") and await uow.catalogs.get("ticket_form", data["form_id"]) is None:
        raise Invalid(f"form_id: ticket form {data['form_id']!r} does not exist", field="form_id")
    follow = data.get("follow_up") or {}
    if kind == "disposition" and follow.get("action_type_id") and \
            await uow.catalogs.get("action_type", follow["action_type_id"]) is None:
        raise Invalid(f"follow_up.action_type_id: action type {follow['action_type_id']!r} does not exist",
                      field="follow_up.action_type_id")


def _may_read(crm: Crm, actor: Actor | None, kind: str, scope: str) -> None:
    """A campaign's dispositions are for those who work in it (and admins); the global catalogs for everyone."""
    if kind != "disposition" or actor is None or actor.role in ("admin", "system"):
        return
    snapshot = crm.campaigns.get(scope)
    if snapshot is not None and actor.id not in snapshot.agents and actor.id not in snapshot.supervisors:
        raise Forbidden(f"campaign {scope!r} is not one you work in", field="campaign_id")


async def list_items(crm: Crm, kind: str, scope: str = "", actor: Actor | None = None) -> list[dict[str, Any]]:
    _may_read(crm, actor, kind, scope)
    async with crm.uow(readonly=True) as uow:
        return [present(r) for r in await uow.catalogs.items(kind, _scope(crm, kind, scope))]


async def get_item(crm: Crm, kind: str, key: str, scope: str = "", actor: Actor | None = None) -> dict[str, Any]:
    _may_read(crm, actor, kind, scope)
    async with crm.uow(readonly=True) as uow:
        row = await uow.catalogs.get(kind, key, _scope(crm, kind, scope))
    if row is None:
        raise NotFound(f"{kind.replace('_', ' ')} {key!r} not found", field="id")
    return present(row)


async def create(crm: Crm, kind: str, body: Any, actor: Actor, scope: str = "") -> dict[str, Any]:
    _require_admin(actor)
    scope = _scope(crm, kind, scope)
    item = parse_body(MODELS[kind], body)
    data = item.model_dump(mode="json")
    key, name, position = data.pop("id") or f"{PREFIX[kind]}-{new_id()[:10]}", data.pop("name"), data.pop("position")
    async with crm.uow() as uow:
        await _check_refs(uow, kind, data)
        row = await uow.catalogs.insert(kind, scope, key, name, position, data, actor.id)
        await uow.audit.audit(kind, f"{scope}/{key}" if scope else key, "created", actor.id, {"name": [None, name]})
    return present(row)


async def update(crm: Crm, kind: str, key: str, body: Any, actor: Actor, scope: str = "") -> dict[str, Any]:
    """PATCH: the given top-level fields replace the stored ones, then the whole item is validated again."""
    _require_admin(actor)
    scope = _scope(crm, kind, scope)
    if not isinstance(body, dict):
        raise Invalid("a JSON object is expected", field="body")
    if "id" in body and body["id"] != key:
        raise Invalid("id: cannot change", field="id")
    async with crm.uow() as uow:
        row = await uow.catalogs.get(kind, key, scope, for_update=True)
        if row is None:
            raise NotFound(f"{kind.replace('_', ' ')} {key!r} not found", field="id")
        current = {"id": key, "name": row["name"], "position": row["position"], **row["data"]}
        data = parse_body(MODELS[kind], {**current, **body}).model_dump(mode="json")
        data.pop("id")
        name, position = data.pop("name"), data.pop("position")
        await _check_refs(uow, kind, data)
        row = await uow.catalogs.update(kind, scope, key, name, position, data, actor.id)
        await uow.audit.audit(kind, f"{scope}/{key}" if scope else key, "updated", actor.id,
                              {"fields": [None, sorted(body)]})
    return present(row)


async def delete(crm: Crm, kind: str, key: str, actor: Actor, scope: str = "") -> None:
    """Refused (409, naming them) while something uses it: a form by action types, an action type by
    dispositions or pending ticket actions."""
    _require_admin(actor)
    scope = _scope(crm, kind, scope)
    async with crm.uow() as uow:
        if await uow.catalogs.get(kind, key, scope, for_update=True) is None:
            raise NotFound(f"{kind.replace('_', ' ')} {key!r} not found", field="id")
        if users := await uow.catalogs.referrers(kind, key):
            named = "; ".join(f"{what}: {', '.join(ids)}" for what, ids in users.items())
            raise Conflict(f"{kind.replace('_', ' ')} {key!r} is in use ({named})", field="id", details=users)
        await uow.catalogs.delete(kind, key, scope)
        await uow.audit.audit(kind, f"{scope}/{key}" if scope else key, "deleted", actor.id, {})


async def action_form_problems(uow: UnitOfWork, kind: str, forms: Any, prefix: str) -> list[tuple[str, str]]:
    """An action's ``kind`` must be an action type of the catalog, and its ``forms`` the values of that type's
    form (typed, required fields filled); field names under ``prefix`` (``actions[0]``, or ``''``)."""
    at = f"{prefix}." if prefix else ""
    action_type = await uow.catalogs.get("action_type", kind)
    if action_type is None:
        return [(f"{at}kind", f"{kind!r} is not an action type of the catalog (see /action-types)")]
    form_id = action_type["data"].get("form_id")
    if not form_id:
        if forms:
            return [(f"{at}forms", f"action type {kind!r} has no form, so it takes no form values")]
        return []
    form = await uow.catalogs.get("ticket_form", form_id)
    return form_problems(form["data"]["fields"] if form else [], forms or {}, f"{at}forms")


async def ticket_form_problems(uow: UnitOfWork, forms: Any, prefix: str = "forms") -> list[tuple[str, str]]:
    """A ticket's ``forms``: ``{form_id: {field: value}}``, each form of the catalog, each value of its type."""
    if not isinstance(forms, dict):
        return [(prefix, "forms are an object {form_id: {field: value}}")]
    problems: list[tuple[str, str]] = []
    for form_id, values in forms.items():
        form = await uow.catalogs.get("ticket_form", form_id)
        if form is None:
            problems.append((f"{prefix}.{form_id}", f"{form_id!r} is not a ticket form of the catalog"))
            continue
        problems += form_problems(form["data"]["fields"], values, f"{prefix}.{form_id}")
    return problems


async def disposition(repo: CatalogRepository, campaign_id: str | None, value: str) -> dict[str, Any] | None:
    """The campaign's disposition ``value`` (its follow-up rule), None when the campaign keeps no catalog.

    Raises:
        Invalid: the campaign keeps a catalog and ``value`` is not in it (field ``disposition``).
    """
    if not campaign_id:
        return None
    catalog = await repo.items("disposition", campaign_id)
    if not catalog:
        return None
    found = next((present(r) for r in catalog if r["id"] == value), None)
    if found is None:
        raise Invalid(f"{value!r} is not a disposition of campaign {campaign_id!r} "
                      f"({', '.join(r['id'] for r in catalog)})", field="disposition")
    return found
