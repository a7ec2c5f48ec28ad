"""Signed, expiring, read-only links that show a case to someone outside the platform (seed 002)."""

from __future__ import annotations

from typing import Any

from libs.contracts import utcnow
from libs.core.errors import AppError, Conflict, Forbidden, NotFound
from services.crm.domain.external import BadLink, external_case, sign, verify
from services.crm.handlers import Actor, Crm
from services.crm.handlers.cases import check_access, get_case
from services.crm.handlers.conversations import snapshot_of


class LinkExpired(AppError):
    status = 410
    code = "link_expired"


async def create_link(crm: Crm, case_id: str, actor: Actor) -> dict[str, Any]:
    """A link to the case, valid the campaign's ``external_view.ttl_hours``; only when the campaign has the
    external view on, for whoever may act on the case.

    Raises:
        Forbidden: the campaign shows no external view (``external_view.enabled``).
        Conflict: in production without ``SB_CRM_EXTERNAL_LINK_SECRET``.
    """
    case = await get_case(crm, case_id)
    check_access(crm, case, actor)
    snapshot = snapshot_of(crm, case["campaign_id"])
    if not snapshot.external_view.enabled:
        raise Forbidden(f"campaign {snapshot.name!r} shows no external case view", field="external_view.enabled")
    if not crm.settings.external_links_ready():
        raise Conflict("external links need SB_CRM_EXTERNAL_LINK_SECRET (32+ characters) in production",
                       field="external_view")
    token, expires = sign(case_id, crm.settings.external_link_secret, utcnow(), snapshot.external_view.ttl_hours)
    return {"token": token, "expires_at": expires, "path": f"/console/external.html#{token}",
            "fields": snapshot.external_view.fields}


async def view(crm: Crm, token: str) -> dict[str, Any]:
    """What the link shows, with the campaign's fields of today (a campaign that turned the view off shows
    nothing any more).

    Raises:
        NotFound: not a link of ours (forged or altered), or the case or its view is gone.
        LinkExpired: 410 once the link has expired.
    """
    try:
        case_id = verify(token, crm.settings.external_link_secret)
    except BadLink as exc:
        if exc.expired:
            raise LinkExpired(str(exc), field="token") from exc
        raise NotFound(str(exc), field="token") from exc
    case = await get_case(crm, case_id)
    snapshot = crm.campaigns.get(case["campaign_id"])
    if snapshot is None or not snapshot.external_view.enabled:
        raise NotFound("this case is no longer shown outside the platform", field="token")
    return external_case(snapshot.external_view, case, snapshot.name)
