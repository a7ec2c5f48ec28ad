"""Who may see and do what in the CRM: the second line behind the gateway, from the internal token.

The actor (``Actor``) comes from the verified token: a user with a role and a campaign scope (the
campaigns they supervise or work in), or ``system`` (a service identity). Admins and ``system`` see and
do everything. The rules are the gateway's (``services/gateway/facade.py``), checked again here:

- Staff work (imports, processes, lists, exports, deleting) is for supervisors and admins, supervisors
  only within the campaigns they supervise.
- Owned items (cases/work items: ``assigned_user``; calls, tickets: ``agent_id``; callbacks: ``owner_id``)
  are visible to their owner; an item of nobody in a campaign to that campaign's agents; supervisors see
  their campaigns' items and their agents' items; agents see a whole campaign that allows viewing all cases.
- Lists are narrowed at the source (an agent's own items; a supervisor's campaigns and agents), and so are
  exports, which stream: nothing is filtered after the query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from libs.core.errors import Forbidden, NotFound
from services.crm.handlers import Actor, Crm

STAFF = ("admin", "supervisor")


def unrestricted(actor: Actor) -> bool:
    return actor.role in ("admin", "system")


def require_staff(actor: Actor, what: str) -> None:
    """Raises: Forbidden (field ``role``) for an agent."""
    if actor.role not in (*STAFF, "system"):
        raise Forbidden(f"a {actor.role} may not {what}", field="role")


def require_admin(actor: Actor, what: str) -> None:
    """Raises: Forbidden (field ``role``) for anyone but an admin or a service identity."""
    if not unrestricted(actor):
        raise Forbidden(f"a {actor.role} may not {what}", field="role")


def in_scope(actor: Actor, campaign_id: Any) -> bool:
    return actor.campaigns is None or (isinstance(campaign_id, str) and campaign_id in actor.campaigns)


def require_campaign(actor: Actor, campaign_id: Any, field: str = "campaign_id") -> None:
    """The campaign must be in the actor's scope; a campaign-less item needs an unrestricted actor.

    Raises:
        Forbidden: naming ``field``.
    """
    if not in_scope(actor, campaign_id):
        what = f"campaign {campaign_id!r} is" if campaign_id else "an item of no campaign is"
        raise Forbidden(f"{what} not in your scope", field=field)


def team(crm: Crm, actor: Actor) -> set[str]:
    """The agents of the campaigns in the actor's scope (a supervisor's agents)."""
    out: set[str] = set()
    for cid in actor.campaigns or ():
        snap = crm.campaigns.get(cid)
        if snap is not None:
            out.update(snap.agents)
    return out


def sees_all_of(crm: Crm, actor: Actor, campaign_id: Any) -> bool:
    """An agent of a campaign that allows viewing all cases (and the campaign is in their scope)."""
    snap = crm.campaigns.get(campaign_id) if isinstance(campaign_id, str) else None
    return bool(snap and in_scope(actor, campaign_id) and actor.id in snap.agents
                and snap.permissions.view_all_cases)


def sees_owned(crm: Crm, actor: Actor, owner: Any, campaign_id: Any) -> bool:
    """Whether an owned item (owner, campaign) is visible to the actor."""
    if unrestricted(actor) or (owner is not None and owner == actor.id):
        return True
    if owner is None and not campaign_id:
        return True  # tied to nobody (a contact's ticket): visible to whoever may read the collection
    if actor.role == "supervisor":
        return in_scope(actor, campaign_id) or (owner is not None and owner in team(crm, actor))
    snap = crm.campaigns.get(campaign_id) if isinstance(campaign_id, str) else None
    if snap is None or actor.id not in snap.agents or not in_scope(actor, campaign_id):
        return False
    return owner is None or snap.permissions.view_all_cases


def check_owned(crm: Crm, actor: Actor, item: Mapping[str, Any], owner_field: str, noun: str) -> None:
    """Not yours reads the same as not there. Raises: NotFound (field ``id``)."""
    if not sees_owned(crm, actor, item.get(owner_field), item.get("campaign_id")):
        raise NotFound(f"{noun} {item.get('id')!r} not found", field="id")


def check_own(actor: Actor, item: Mapping[str, Any], owner_field: str, noun: str) -> None:
    """An agent's own-only action (classify a call): seeing the item is not enough.

    Raises:
        Forbidden: field ``agent_id``.
    """
    if actor.role == "agent" and item.get(owner_field) != actor.id:
        raise Forbidden(f"only the agent of {noun} {item.get('id')!r} may do this", field="agent_id")


Scope = tuple[list[str], list[str]]


def owned_scope(crm: Crm, actor: Actor, campaign_id: str | None) -> tuple[str | None, Scope | None]:
    """How to narrow a list or an export of owned items at the source, for this actor.

    Returns ``(owner, scope)``: ``owner`` forces the owner filter to one user (an agent's own items, unless
    ``campaign_id`` names a campaign of theirs that allows viewing all: then that campaign's items);
    ``scope`` is ``(campaigns, agents)``: the items of those campaigns or of those agents (a supervisor).
    ``(None, None)``: no narrowing (admins, services).
    """
    if unrestricted(actor):
        return None, None
    if actor.role == "supervisor":
        return None, (sorted(actor.campaigns or ()), sorted(team(crm, actor) | {actor.id}))
    if campaign_id and sees_all_of(crm, actor, campaign_id):
        return None, ([campaign_id], [actor.id])
    return actor.id, None


def check_owners(crm: Crm, actor: Actor, owners: list[str], field: str) -> list[str]:
    """The owners an actor may name in a list query (``users=a,b``): an agent only themself (whatever
    they name), a supervisor themself and their agents.

    Raises:
        Forbidden: a supervisor names someone else (naming ``field``).
    """
    if unrestricted(actor):
        return owners
    if actor.role == "agent":
        return [actor.id]
    mine = team(crm, actor) | {actor.id}
    foreign = [o for o in owners if o not in mine]
    if foreign:
        raise Forbidden(f"{foreign[0]!r} is not an agent of a campaign you supervise", field=field)
    return owners or sorted(mine)


def check_new_owned(crm: Crm, actor: Actor, body: Any, owner_field: str) -> None:
    """A new owned item (a call, a callback, a case, a ticket) names an owner and a campaign the actor may
    give it: an agent only themself (or nobody) and a campaign of theirs; a supervisor themself or one of
    their agents, and a campaign they supervise.

    Raises:
        Forbidden: naming the owner field or ``campaign_id``.
    """
    if unrestricted(actor) or not isinstance(body, Mapping):
        return
    owner, campaign = body.get(owner_field), body.get("campaign_id")
    allowed = {actor.id} if actor.role == "agent" else team(crm, actor) | {actor.id}
    if owner is not None and owner not in allowed:
        raise Forbidden(f"you may not give this to {owner!r}", field=owner_field)
    if campaign is not None:
        require_campaign(actor, campaign)


def job_visible(actor: Actor, job: Mapping[str, Any]) -> bool:
    """A process: its creator, or a supervisor of its campaign (``scope_campaign``, set when it was made)."""
    if unrestricted(actor) or job.get("created_by") == actor.id:
        return True
    return actor.role == "supervisor" and in_scope(actor, (job.get("params") or {}).get("scope_campaign"))


def check_job(actor: Actor, job: Mapping[str, Any]) -> None:
    """Raises: NotFound (field ``process_id``) for a process the actor may not see."""
    require_staff(actor, "work with bulk processes")
    if not job_visible(actor, job):
        raise NotFound(f"process {job.get('id')} not found", field="process_id")
