"""Closing with a typification: who may close, and what a closure needs (seed 004, issue 6)."""

from __future__ import annotations

from typing import Any

from libs.contracts import CampaignSnapshot
from libs.core.errors import Conflict, Forbidden
from libs.core.validation import problems_error


def may_close(actor_id: str, role: str, snapshot: CampaignSnapshot, assigned: str | None) -> bool:
    """Admins and the system always; a supervisor of the campaign; the assigned agent; any agent of the
    campaign when it lets agents see all cases."""
    if role in ("admin", "system"):
        return True
    if role == "supervisor":
        return actor_id in snapshot.supervisors
    if assigned is not None and actor_id == assigned:
        return True
    return snapshot.permissions.view_all_cases and actor_id in snapshot.agents


def check_closure(snapshot: CampaignSnapshot, *, actor_id: str, role: str, assigned: str | None,
                  typification_id: str | None, fields: dict[str, Any], replied: bool | None = None,
                  typification_field: str = "typification_id") -> None:
    """Raise the error that stops this closure, or return when it may close.

    Raises:
        Forbidden: the actor may not close this item.
        Conflict: the campaign does not allow closing without a reply and nobody replied.
        Invalid: the typification is not allowed or a required field is missing (all problems listed).
    """
    if not may_close(actor_id, role, snapshot, assigned):
        raise Forbidden(f"{actor_id} may not close an item of campaign {snapshot.name!r} assigned to "
                        f"{assigned or 'nobody'}", field="actor")
    problems = [(typification_field if f == "typification_id" else f, m)
                for f, m in snapshot.closure_problems(typification_id, fields)]
    if problems:
        raise problems_error(problems)
    if refused := snapshot.close_without_reply_problems(replied):
        field, message = refused[0]
        raise Conflict(message, field=field)
