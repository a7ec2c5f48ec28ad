"""Helpers of the console's browser tests: axe-core (from npm) on a screen, and no English on a Spanish one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .test_console_locales import english_words

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


async def axe_check(page: Any, screen: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run scripts/install-node-tools.sh")
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text())  # evaluated by the browser's debugger: the page's CSP stays strict
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, { resultTypes: ['violations'] });
        return r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
          .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    }""")
    assert result == [], f"{screen}: {result}"


async def assert_spanish(page: Any, screen: str) -> None:
    """The screen's text has no English status or error word (the server's own message, shown under a
    translated error as its detail, and identifiers marked ``translate="no"``, such as a NATS subject or a
    payload, excepted)."""
    text = await page.evaluate("""() => {
        const copy = document.body.cloneNode(true);
        copy.querySelectorAll('.error-detail, [translate="no"]').forEach((el) => el.remove());
        return copy.innerText;
    }""")
    assert english_words(text) == [], f"{screen}: {english_words(text)}"


# An init script (see log_in) that keeps every text drawn on a canvas, such as a chart's axis labels, which
# innerText never shows: read them with canvas_text(page).
RECORD_CANVAS_TEXT = """(() => {
  const fill = CanvasRenderingContext2D.prototype.fillText;
  window.__canvasText = [];
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    window.__canvasText.push(String(text));
    return fill.call(this, text, ...rest);
  };
})();"""


async def canvas_text(page: Any) -> list[str]:
    """The texts drawn on the page's canvases so far (needs RECORD_CANVAS_TEXT)."""
    return list(await page.evaluate("() => window.__canvasText || []"))


async def count_becomes(locator: Any, n: int, timeout_s: float = 15.0) -> None:
    """Wait until the locator matches exactly n elements (a list re-rendered after a search)."""
    import asyncio

    for _ in range(int(timeout_s * 10)):
        if await locator.count() == n:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {n} elements, found {await locator.count()}")
