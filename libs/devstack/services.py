"""Start a service as its own process (``python -m services.<name>``) and wait until it is ready."""

from __future__ import annotations

import asyncio
import signal
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


class ServiceProcess:
    """One ``python -m services.<name>`` subprocess with its log in ``log_dir``; used by e2e tests and benches."""

    def __init__(self, name: str, env: dict[str, str], port: int, log_dir: Path) -> None:
        self.name, self.env, self.port = name, env, port
        self.log_path = log_dir / f"{name}-{port}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 40.0) -> None:
        self.proc = await start_service(self.name, self.env, self.port, self.log_path, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Signal the process (SIGTERM: graceful) and wait; kill it if it overruns ``timeout``."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()
