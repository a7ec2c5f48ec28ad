"""The transcript of a conversation as the contact receives it by e-mail (seed 002 "Envío de Transcripciones")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def transcript_text(campaign: str, messages: Iterable[Mapping[str, Any]]) -> str:
    """One line per message, oldest first: ``[2026-05-02 10:31 UTC] Cliente: hola``; media by file name."""
    lines = [f"Transcripción de su conversación con {campaign}", ""]
    for m in messages:
        at = m.get("occurred_at")
        when = at.strftime("%Y-%m-%d %H:%M UTC") if at is not None and hasattr(at, "strftime") else str(at or "")
        who = "Cliente" if m.get("direction") == "in" else "Agente"
        text = (m.get("text") or "").strip()
        media = [x.get("filename") or x.get("kind") or "archivo" for x in (m.get("media") or [])
                 if isinstance(x, Mapping)]
        if media:
            text = f"{text} [{', '.join(str(x) for x in media)}]".strip()
        lines.append(f"[{when}] {who}: {text}")
    if len(lines) == 2:
        lines.append("(sin mensajes)")
    return "\n".join(lines)
