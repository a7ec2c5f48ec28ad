"""Start a service as its own process (``python -m services.<name>``) and wait until it is ready."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout

ROOT = Path(__file__).resolve().parents[2]


async def start_service(name: str, env: dict[str, str], port: int, log: Path,
                        timeout: float = 40.0) -> asyncio.subprocess.Process:
    """Run ``python -m services.<name>`` with ``env`` (its port set by the caller), logging to ``log``.

    Raises:
        RuntimeError: it exited or was not ready (``/readyz`` 200) in time; the message has its log's tail.
    """
    out = log.open("ab")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", f"services.{name}", cwd=ROOT, env=env,
                                                stdout=out, stderr=out)
    out.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with ClientSession(timeout=ClientTimeout(total=1)) as http:
        while loop.time() < deadline and proc.returncode is None:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return proc
            except OSError:
                pass
            await asyncio.sleep(0.1)
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
    raise RuntimeError(f"{name} did not become ready; log {log}:\n{log.read_text(errors='replace')[-3000:]}")
