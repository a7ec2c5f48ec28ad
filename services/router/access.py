"""Who may do what on the router's API: the second line behind the gateway, from the internal token.

A service identity and admins may do everything. Supervisors act on the conversations, queues and agents
of the campaigns in their scope. Agents act only as themselves (the acting ``agent_id`` of a body is the
caller) and see their own conversations, or their colleagues' in a campaign that allows viewing all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from libs.core.auth import Caller
from libs.core.errors import Forbidden, NotFound
from libs.messaging.snapshots import SnapshotDirectory as CampaignDirectory


def unrestricted(caller: Caller) -> bool:
    return caller.is_service or caller.is_admin


def _agents_in_scope(caller: Caller, directory: CampaignDirectory) -> set[str]:
    out: set[str] = set()
    for cid in caller.campaigns or ():
        snap = directory.get(cid)
        if snap is not None:
            out.update(snap.agents)
    return out


def may_see_agent(caller: Caller, agent_id: str, directory: CampaignDirectory) -> bool:
    """An agent: themself; a supervisor: the agents of the campaigns in their scope."""
    if unrestricted(caller) or agent_id == caller.subject:
        return True
    return caller.role == "supervisor" and agent_id in _agents_in_scope(caller, directory)


def may_list_conversations_of(caller: Caller, agent_id: str, directory: CampaignDirectory) -> bool:
    """Whose open conversations the caller may list: those of an agent they may see, and an agent's
    colleagues in a campaign of theirs that allows viewing all cases (the list is then filtered)."""
    if may_see_agent(caller, agent_id, directory):
        return True
    for cid in caller.campaigns or ():
        snap = directory.get(cid)
        if (snap is not None and snap.permissions.view_all_cases and caller.subject in snap.agents
                and agent_id in snap.agents):
            return True
    return False


def check_agent(caller: Caller, agent_id: str, directory: CampaignDirectory) -> None:
    """Raises: Forbidden (field ``agent_id``)."""
    if not may_see_agent(caller, agent_id, directory):
        raise Forbidden(f"agent {agent_id!r} is not you nor an agent of a campaign you supervise", field="agent_id")


def may_see_conversation(caller: Caller, conv: Mapping[str, Any], directory: CampaignDirectory) -> bool:
    if unrestricted(caller):
        return True
    campaign = conv.get("campaign_id")
    if caller.role == "supervisor":
        return caller.in_scope(campaign)
    if conv.get("agent_id") == caller.subject:
        return True
    snap = directory.get(campaign) if campaign else None
    if snap is None or not caller.in_scope(campaign) or caller.subject not in snap.agents:
        return False
    # A colleague's, where the campaign allows viewing all; one waiting to be taken, where agents take them
    # (queue assignment off: they see the waiting list and take from it).
    return snap.permissions.view_all_cases or (conv.get("state") == "queued" and not snap.routing.queue_assignment)


def check_conversation(caller: Caller, conv: Mapping[str, Any], directory: CampaignDirectory) -> None:
    """Not yours reads the same as not there. Raises: NotFound (field ``conversation_id``)."""
    if not may_see_conversation(caller, conv, directory):
        raise NotFound(f"conversation {conv.get('id')!r} not found", field="conversation_id")


def check_action(caller: Caller, conv: Mapping[str, Any], body: Any, directory: CampaignDirectory) -> None:
    """An action on a conversation (accept, reject, reply, transfer, close, priority).

    Agents act only as themselves on their own conversations (an offer is answered by the agent it was
    offered to: the router checks that against ``agent_id``); supervisors within their scope; whoever acts
    on behalf of someone names themself in ``by_user_id``.

    Raises:
        NotFound: the caller may not see it. Forbidden: the body names someone else (field ``agent_id`` or
            ``by_user_id``), an agent acts on a colleague's conversation, or a supervisor moves it to a campaign
            out of their scope (field ``to_campaign_id``).
    """
    if unrestricted(caller):
        return
    fields = body if isinstance(body, Mapping) else {}
    if caller.role == "agent":
        if fields.get("agent_id") not in (None, caller.subject):
            raise Forbidden("an agent acts only as themself", field="agent_id")
        if fields.get("by_user_id") is not None:
            raise Forbidden("an agent acts on nobody's behalf", field="by_user_id")
        if conv.get("state") != "offered" and conv.get("agent_id") != caller.subject:
            check_conversation(caller, conv, directory)
            raise Forbidden("this conversation is not assigned to you", field="conversation_id")
    else:
        check_conversation(caller, conv, directory)
        target = fields.get("to_campaign_id")
        if target is not None:  # a supervisor moves it only to a campaign they supervise too
            caller.require_scope(str(target), field="to_campaign_id")
    if fields.get("by_user_id") not in (None, caller.subject):
        raise Forbidden("by_user_id must be the caller", field="by_user_id")


def check_staff(caller: Caller, what: str) -> None:
    """Raises: Forbidden (field ``role``)."""
    caller.require(("admin", "supervisor"), what)


def check_campaign(caller: Caller, campaign_id: str) -> None:
    """Raises: Forbidden (field ``campaign_id``)."""
    if not unrestricted(caller):
        caller.require_scope(campaign_id)
