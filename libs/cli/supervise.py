"""``switchboard up``'s process supervisor: a service that dies is restarted with backoff, and the screen says
which one and why (exit code or signal, and its last lines). ``exit_on_crash`` keeps the old behaviour: the
first death stops everything (for CI)."""

from __future__ import annotations

import asyncio
import collections
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape

COLORS = ["cyan", "magenta", "green", "yellow", "blue", "red"]
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
STABLE_S = 60.0  # a service that ran this long before dying starts its backoff over


def why(returncode: int) -> str:
    """``exited with code 3`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class Service:
    name: str
    color: str
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0  # deaths in a row without a stable run
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=5))


class Supervisor:
    """Runs ``python -m services.<name>`` for each name, pumping their output to ``console`` with a prefix."""

    def __init__(self, names: list[str], env: dict[str, str], console: Any, *, exit_on_crash: bool = False,
                 backoff_s: tuple[float, ...] = BACKOFF_S, argv: Callable[[str], list[str]] | None = None) -> None:
        self.services = {n: Service(n, COLORS[i % len(COLORS)]) for i, n in enumerate(names)}
        self.env, self.console = env, console
        self.exit_on_crash, self.backoff_s = exit_on_crash, backoff_s
        self.argv = argv or (lambda name: [sys.executable, "-m", f"services.{name}"])
        self.stopping = asyncio.Event()
        self.crashed: str | None = None
        self._width = max(len(n) for n in names)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for svc in self.services.values():
            await self._spawn(svc)
            self._tasks.append(asyncio.create_task(self._watch(svc), name=f"supervise:{svc.name}"))

    def procs(self) -> dict[str, asyncio.subprocess.Process | None]:
        return {n: s.proc for n, s in self.services.items()}

    async def _spawn(self, svc: Service) -> None:
        svc.proc = await asyncio.create_subprocess_exec(*self.argv(svc.name), env=self.env,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
        svc.started_at = asyncio.get_running_loop().time()
        self.say(svc, f"[bold]started[/] (pid {svc.proc.pid})")

    def say(self, svc: Service, text: str) -> None:
        self.console.print(f"[{svc.color}]{svc.name:<{self._width}}[/] [bold]>[/] {text}", highlight=False,
                           soft_wrap=True)

    async def _pump(self, svc: Service, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            svc.tail.append(line)
            self.console.print(f"[{svc.color}]{svc.name:<{self._width}}[/] | {escape(line)}", markup=True,
                               highlight=False, soft_wrap=True)

    async def _watch(self, svc: Service) -> None:
        loop = asyncio.get_running_loop()
        while True:
            proc = svc.proc
            assert proc is not None
            await asyncio.gather(self._pump(svc, proc), proc.wait())
            if self.stopping.is_set():
                return
            code = proc.returncode if proc.returncode is not None else 0
            ran = loop.time() - svc.started_at
            svc.failures = 1 if ran >= STABLE_S else svc.failures + 1
            last = next((line for line in reversed(svc.tail) if line.strip()), "")
            detail = f"; last line: {escape(last[-200:])}" if last else ""
            if self.exit_on_crash:
                self.say(svc, f"[bold red]{why(code)}[/] after {ran:.1f} s{detail}; stopping everything "
                              "(--exit-on-crash)")
                self.crashed = svc.name
                self.stopping.set()
                return
            delay = self.backoff_s[min(svc.failures, len(self.backoff_s)) - 1]
            svc.restarts += 1
            self.say(svc, f"[bold red]{why(code)}[/] after {ran:.1f} s{detail}; restart {svc.restarts} in "
                          f"{delay:g} s")
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
                return
            except TimeoutError:
                pass
            await self._spawn(svc)

    async def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every service (graceful), wait, then kill what is left."""
        self.stopping.set()
        procs = [s.proc for s in self.services.values() if s.proc is not None]
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        waits = [asyncio.create_task(p.wait()) for p in procs]
        if waits:
            await asyncio.wait(waits, timeout=timeout)
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
