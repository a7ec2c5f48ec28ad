"""The script and tabs beside a work item or a conversation, filled from its contact, case and account."""

from __future__ import annotations

from typing import Any

from libs.core.errors import NotFound
from services.crm.domain.workspace import tab_values, workspace
from services.crm.handlers import Actor, Crm
from services.crm.handlers.cases import check_access
from services.crm.handlers.conversations import snapshot_of


def _sees(crm: Crm, actor: Actor, conv: dict[str, Any]) -> bool:
    """The conversation's agent, its campaign's supervisors (and its agents when the campaign allows viewing all),
    admins and services."""
    if actor.role in ("admin", "system") or conv["agent_id"] == actor.id:
        return True
    snapshot = crm.campaigns.get(conv["campaign_id"])
    if snapshot is None:
        return False
    if actor.role == "supervisor":
        return actor.id in snapshot.supervisors
    return actor.id in snapshot.agents and snapshot.permissions.view_all_cases


async def of_case(crm: Crm, case_id: str, actor: Actor) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        case = await uow.cases.get(case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found", field="case_id")
        check_access(crm, case, actor)
        contact = await uow.contacts.get(case["contact_id"])
        account = await uow.cases.account_summary(case["account_id"]) if case["account_id"] else None
        conv = await uow.conversations.get(case["conversation_id"]) if case["conversation_id"] else None
    snapshot = snapshot_of(crm, case["campaign_id"])
    return workspace(snapshot, tab_values(contact=contact, case=case, account=account, conversation=conv,
                                          campaign_id=snapshot.id, agent_id=actor.id,
                                          hide_numbers=snapshot.hides_numbers_from(actor.role)))


async def of_conversation(crm: Crm, conversation_id: str, actor: Actor) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        conv = await uow.conversations.get(conversation_id)
        if conv is None or not _sees(crm, actor, conv):
            raise NotFound(f"conversation {conversation_id} not found", field="conversation_id")
        contact = await uow.contacts.get(conv["contact_id"]) if conv["contact_id"] else None
    snapshot = snapshot_of(crm, conv["campaign_id"])
    return workspace(snapshot, tab_values(contact=contact, conversation=conv, campaign_id=snapshot.id,
                                          agent_id=actor.id, hide_numbers=snapshot.hides_numbers_from(actor.role)))
