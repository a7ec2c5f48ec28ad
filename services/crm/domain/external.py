"""The external case view (seed 002 "Opciones Vista Externa de Casos"): a signed, expiring, read-only link to a
case, and what of the case it shows (the fields its campaign chooses). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import jwt

from libs.contracts.campaigns import ExternalView

AUDIENCE = "switchboard:external-case"


def sign(case_id: str, secret: str, now: datetime, ttl_hours: int) -> tuple[str, datetime]:
    """A link token for ``case_id`` valid ``ttl_hours`` (HS256 JWT), and when it expires."""
    expires = now + timedelta(hours=ttl_hours)
    token = jwt.encode({"sub": case_id, "aud": AUDIENCE, "iat": int(now.timestamp()), "exp": int(expires.timestamp())},
                       secret, algorithm="HS256")
    return token, expires


class BadLink(Exception):
    """A link that is not ours, was altered, or has expired (``expired`` says which)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def verify(token: str, secret: str) -> str:
    """The case id a link shows.

    Raises:
        BadLink: a forged, altered or expired link.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE, options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise BadLink("this link has expired", expired=True) from exc
    except jwt.PyJWTError as exc:
        raise BadLink("this link is not valid") from exc
    return str(claims["sub"])


def external_case(view: ExternalView, case: Mapping[str, Any], campaign_name: str) -> dict[str, Any]:
    """The case as an outsider sees it: only the fields the campaign chose; comments and history without who
    wrote them (user ids stay inside); never contact numbers, addresses or ids."""
    out: dict[str, Any] = {"campaign": campaign_name}
    for name in view.fields:
        if name in ("title", "status", "priority", "result", "created_at", "closed_at", "fields"):
            out[name] = case.get(name)
        elif name == "contact_name":
            out[name] = (case.get("contact") or {}).get("name")
        elif name == "account":
            account = case.get("account") or {}
            out[name] = {"number": account.get("number"), "product": account.get("product")} if account else None
        elif name == "comments":
            out[name] = [{"at": e["at"], "text": e["body"]} for e in case.get("history", []) if e["kind"] == "comment"]
        elif name == "history":
            out[name] = [{"at": e["at"], "kind": e["kind"], "text": e["body"] if e["kind"] in ("comment", "result")
                          else None} for e in case.get("history", [])]
        elif name == "attachments":
            out[name] = [{"filename": a["filename"], "size": a["size"]} for a in case.get("attachments", [])]
    return out
