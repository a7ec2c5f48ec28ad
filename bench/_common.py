"""Shared helpers of the end-to-end benchmarks: stack, service subprocesses, a load generator process, results.

``bench.ingest`` and ``bench.routing`` start their own embedded stack (``libs.devstack.DevStack`` in a
temporary folder; each ``SB_*_URL`` replaces one server), run the services as real subprocesses
(``python -m services.<name>``) and drive them from a load generator that runs in its own process, so it
does not share the server's event loop. Running this module measures nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import math
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats

from libs.core.auth import KeySet, service_auth
from libs.devstack import DevStack, StackInfo, free_port
from libs.devstack.payloads import meta_signature, whatsapp_text
from libs.devstack.services import ServiceProcess


# ---- stack and services ----------------------------------------------------------------------------
@contextlib.contextmanager
def bench_stack() -> Iterator[tuple[StackInfo, Path]]:
    """An embedded NATS/Redis/PostgreSQL in a temporary folder (``SB_*_URL`` overrides honoured)."""
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)  # PostgreSQL runs as an unprivileged user when we are root
        stack = DevStack(folder / "stack")
        info = stack.start()
        try:
            yield info, folder
        finally:
            stack.stop()


# What production makes channels require, for benchmark runs (a fixed key: a run may reuse a database).
PRODUCTION_CHANNELS = {
    "SB_CHANNELS_PUBLIC_BASE_URL": "http://127.0.0.1",
    "SB_CHANNELS_SECRET_KEYS": "bench:" + base64.urlsafe_b64encode(hashlib.sha256(b"sb bench").digest()).decode(),
}


# Production-like runs need real keys for the internal tokens: made once per benchmark process. The
# benchmark's own HTTP calls to internal APIs sign as the service identity ``bench`` (``bench_session``).
KEYS = KeySet(("gateway", "bench", "router", "crm", "channels"))  # router: to the CRM; crm: to channels
# (click-to-call); channels: to the router (a channel's open conversations)


def bench_session(audience: str, **kwargs: Any) -> aiohttp.ClientSession:
    """A session to one service's internal API, every request signed as ``service:bench``."""
    return aiohttp.ClientSession(middlewares=(service_auth(KEYS.signer("bench"), audience),), **kwargs)


def internal_auth(audience: str, admin: str | None = None) -> dict[str, str]:
    """Headers of one internal call: as ``service:bench``, or as the admin user ``admin`` (signed with the
    gateway's key, as the gateway would) where a user's role is needed (campaign writes)."""
    signer = KEYS.signer("gateway" if admin else "bench")
    token = signer.for_user(audience, admin, "admin", None) if admin else signer.for_service(audience)
    return {"Authorization": f"Bearer {token}"}


def service_env(info: StackInfo, tmp: Path, ports: dict[str, int], **extra: str) -> dict[str, str]:
    """The environment of a production-like service run: JSON logs at warning level, demo tenant seeded,
    production keys for the internal tokens (channels' admin API on a free port)."""
    env = {**os.environ, **info.env(), **KEYS.env(), "SB_ENV": "production", "SB_LOG_LEVEL": "warning",
           "SB_DEMO_SEED": "true", "SB_CHANNELS_SMTP_PORT": str(free_port()),
           "SB_CHANNELS_ADMIN_PORT": str(free_port()), "SB_CHANNELS_BLOB_DIR": str(tmp / "blobs"),
           # Production refuses a pod-local blob folder unless it is named explicitly.
           "SB_BLOB_URL": f"file://{tmp / 'blobs'}",
           "PYTHONUNBUFFERED": "1", **PRODUCTION_CHANNELS}
    for name, port in ports.items():
        env[f"SB_{name.upper()}_PORT"] = str(port)
    env.update(extra)
    return env


async def wait_ready(url: str, timeout: float, died: Any = lambda: False, why: Any = lambda: "") -> None:
    """Poll ``{url}/readyz`` until it answers 200; raise with ``why()`` if it never does or ``died()``."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
        while time.monotonic() < deadline and not died():
            try:
                async with http.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready. {why()}")


@contextlib.asynccontextmanager
async def services(info: StackInfo, tmp: Path, names: list[str], **extra: str
                   ) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Start ``names`` in order as subprocesses sharing one environment; SIGTERM them all on exit."""
    ports = {n: free_port() for n in names}
    env = service_env(info, tmp, ports, **extra)
    procs: dict[str, ServiceProcess] = {}
    try:
        for name in names:
            procs[name] = ServiceProcess(name, env, ports[name], tmp)
            await procs[name].start(timeout=60)
        yield procs
    finally:
        await asyncio.gather(*(p.stop() for p in procs.values()))


# ---- CPU accounting: who used the two cores while a phase ran -------------------------------------
def _proc_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _machine_ticks() -> tuple[int, int]:
    """(busy, interrupts) jiffies of all CPUs since boot; interrupts (mostly the loopback network's
    softirq work) are accounted to no process."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9])
    return user + nice + system + irq + softirq + steal, irq + softirq


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU time of named processes between ``start()`` and ``stop()``, as a share of one core.

    ``load generator`` is the CPU of our child processes that ended in between (the generator process or
    ``wrk``); ``kernel softirq`` is interrupt work no process is charged for (the loopback network's);
    the rest of the machine's busy time is ``other``: other users of the machine.
    """

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.began: dict[str, int] = {}
        self.machine = (0, 0)
        self.at = self.children = 0.0
        self.used: dict[str, float] = {}
        self.wall = 0.0

    def start(self) -> None:
        self.began = {n: _proc_ticks(p) for n, p in self.pids.items()}
        self.machine, self.at, self.children = _machine_ticks(), time.monotonic(), _children_cpu_s()

    def stop(self) -> str:
        wall = time.monotonic() - self.at
        used = {n: (_proc_ticks(p) - self.began[n]) / self.TICK / wall for n, p in self.pids.items()}
        used["load generator"] = (_children_cpu_s() - self.children) / wall
        busy, interrupts = _machine_ticks()
        machine_busy = (busy - self.machine[0]) / self.TICK / wall
        used["kernel softirq"] = (interrupts - self.machine[1]) / self.TICK / wall
        used["other"] = max(0.0, machine_busy - sum(used.values()))
        self.used, self.wall = used, wall
        shares = ", ".join(f"{n} {u:.0%}" for n, u in used.items())
        return f"CPU (100% = one core; {os.cpu_count()} cores): {shares}; machine {machine_busy:.0%}"

    def per_item(self, items: int, unit: str) -> str:
        """CPU microseconds per item by process: unlike a rate, it barely moves when neighbours load the machine."""
        if not items:
            return "CPU per item: nothing done"
        cost = {n: u * self.wall / items * 1e6 for n, u in self.used.items() if n not in ("other", "kernel softirq")}
        ours, cores = sum(cost.values()), os.cpu_count() or 1
        shown = ", ".join(f"{n} {c:.0f}" for n, c in cost.items() if c >= 0.5)
        return (f"CPU per {unit} (us): {shown}; total {ours:.0f} us, so {cores} idle cores could do about "
                f"{cores * 1e6 / ours:,.0f} {unit}s/s")


async def wait_quiet(pids: dict[str, int], max_s: float, threshold: float = 0.25) -> None:
    """Wait (up to ``max_s``) until other processes use less than ``threshold`` of a core: the machine is
    shared, and a neighbour's test run halves what we measure. Says so when it gives up."""
    deadline = time.monotonic() + max_s
    meter = CpuMeter(pids)
    waited = False
    while True:
        meter.start()
        await asyncio.sleep(1.0)
        meter.stop()
        other = meter.used["other"]
        if other < threshold:
            if waited:
                print(f"  (waited for the machine to quiet down: other processes now {other:.0%} of a core)")
            return
        if time.monotonic() >= deadline:
            print(f"  (the machine stayed busy: other processes use {other:.0%} of a core; measuring anyway)")
            return
        waited = True


def stack_pids(info: StackInfo) -> dict[str, int]:
    """The embedded servers' pids (those replaced by ``SB_*_URL`` are not ours to measure)."""
    return {("nats-server" if n == "nats" else n): p for n, p in info.pids.items() if n != "postgres"}


# ---- profiles (py-spy, when installed: ``uv pip install py-spy``) -----------------------------------
@contextlib.asynccontextmanager
async def profiled(procs: dict[str, ServiceProcess], folder: Path | None, seconds: float) -> AsyncIterator[None]:
    """Sample each service with ``py-spy record`` for ``seconds`` while the body runs; print where time went.

    ``folder`` None profiles nothing. The raw (collapsed) stacks stay in ``folder/<service>.txt``.
    """
    if folder is None:
        yield
        return
    if shutil.which("py-spy") is None:
        raise RuntimeError("--profile needs py-spy (uv pip install py-spy)")
    folder.mkdir(parents=True, exist_ok=True)
    spies = {name: await asyncio.create_subprocess_exec(
        "py-spy", "record", "--pid", str(p.pid), "--duration", str(max(1, round(seconds))), "--rate", "100",
        "--format", "raw", "--nonblocking", "-o", str(folder / f"{name}.txt"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL) for name, p in procs.items()}
    yield
    for name, spy in spies.items():
        await spy.wait()
        print(profile_summary(folder / f"{name}.txt", name, seconds))


def profile_summary(path: Path, name: str, seconds: float, top: int = 12) -> str:
    """The busiest functions of a collapsed-stack file: self time, and inclusive time of our own code."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for row in path.read_text().splitlines() if path.exists() else []:
        stack, _, n = row.rpartition(" ")
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") else f for f in stack.split(";")]
        total += int(n)
        own[frames[-1]] = own.get(frames[-1], 0) + int(n)
        for f in set(frames):
            if "(services/" in f or "(libs/" in f:
                inclusive[f] = inclusive.get(f, 0) + int(n)
    if not total:
        return f"profile {name}: no samples"
    lines = [f"profile {name}: {total:,} samples at 100 Hz over {seconds:g} s ({path}); shares of the samples",
             "  self time:"]
    lines += [f"    {100 * n / total:5.1f}% {f}" for f, n in sorted(own.items(), key=lambda x: -x[1])[:top]]
    lines.append("  inclusive, our code:")
    lines += [f"    {100 * n / total:5.1f}% {f}" for f, n in sorted(inclusive.items(), key=lambda x: -x[1])[:top]]
    return "\n".join(lines)


# ---- results ---------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by the nearest-rank method; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


def ms(seconds: float) -> float:
    return seconds * 1000.0


def result(name: str, value: float, unit: str, target: str) -> str:
    """One ``name: value unit (target: ...)`` line, the format every benchmark ends with."""
    shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{name}: {shown} {unit} (target: {target})"


def machine() -> str:
    """CPU model, cores and the load average before the run: the context the numbers need."""
    model = platform.processor() or "cpu"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {load}"


# ---- the load generator (its own process) ----------------------------------------------------------
MARK = "@IDX@"
CONTACT_PREFIX = "573"  # Colombian mobile numbers: 57 3xx xxx xxxx, valid E.164 once parsed


@dataclass
class Load:
    """What the generator sends: signed WhatsApp text webhooks, one new wamid and contact per request.

    ``rate`` None is a closed loop: ``connections`` senders, each posting as soon as its previous answer
    arrived. A ``rate`` is an open loop: sends start on a fixed schedule whatever the answers do.
    Request ``i`` comes from the contact ``contact(i)``. With ``nats_url`` the generator also subscribes to
    ``sb.conv.assigned.>`` and records when the ``conversation.assigned`` of each request's contact on
    ``channel_id`` arrived; a closed-loop sender then waits for that event before its next request.
    """

    url: str
    app_secret: str
    phone_number_id: str
    run_id: str
    count: int
    connections: int = 32
    duration_s: float | None = None
    rate: float | None = None
    first: int = 0
    timestamp: int = field(default_factory=lambda: int(time.time()))
    nats_url: str | None = None
    channel_id: str | None = None
    settle_s: float = 15.0

    @staticmethod
    def contact(i: int) -> str:
        return f"{CONTACT_PREFIX}{i:09d}"

    @staticmethod
    def index_of(address: str) -> int | None:
        """The request index behind a contact address (``+573000000123`` -> 123), None if not ours."""
        digits = "".join(ch for ch in address if ch.isdigit())
        if len(digits) != 12 or not digits.startswith(CONTACT_PREFIX):
            return None
        return int(digits[len(CONTACT_PREFIX):])

    @functools.cached_property
    def template(self) -> bytes:
        """The webhook body with ``MARK`` where the request's 9-digit index goes (in contact, wamid and text)."""
        return whatsapp_text(self.phone_number_id, f"{CONTACT_PREFIX}{MARK}", f"wamid.{self.run_id}.{MARK}",
                             f"hola {MARK}", timestamp=self.timestamp)

    def body(self, i: int) -> bytes:
        return self.template.replace(MARK.encode(), b"%09d" % i)

    def signature(self, i: int) -> str:
        return meta_signature(self.app_secret, self.body(i))


@dataclass
class Sent:
    """Per request: index, when it was sent and answered (``time.monotonic``, one clock for every process on
    the machine), its status, and when its ``conversation.assigned`` arrived (by index)."""

    index: array = field(default_factory=lambda: array("q"))
    sent: array = field(default_factory=lambda: array("d"))
    done: array = field(default_factory=lambda: array("d"))
    status: array = field(default_factory=lambda: array("H"))
    lag: array = field(default_factory=lambda: array("d"))  # open loop: how late each send started
    assigned: dict[int, float] = field(default_factory=dict)
    started: float = 0.0

    def ok(self) -> list[int]:
        """Positions (not indexes) of the requests answered 2xx."""
        return [k for k, s in enumerate(self.status) if 200 <= s < 300]

    def errors(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for s in self.status:
            if not 200 <= s < 300:
                counts[s] = counts.get(s, 0) + 1
        return counts


class _Assignments:
    """Watches ``sb.conv.assigned.>`` and wakes the sender waiting for each contact's assignment."""

    def __init__(self, load: Load, out: Sent) -> None:
        self.load, self.out = load, out
        self.waiting: dict[int, asyncio.Future[float]] = {}
        self.nc: Any = None

    async def start(self) -> None:
        assert self.load.nats_url is not None
        self.nc = await nats.connect(self.load.nats_url)
        await self.nc.subscribe("sb.conv.assigned.>", cb=self._on_assigned, pending_msgs_limit=1_000_000)
        await self.nc.flush()

    async def _on_assigned(self, msg: Any) -> None:
        at = time.monotonic()
        event = json.loads(msg.data)
        if event.get("channel_id") != self.load.channel_id:
            return
        i = Load.index_of(event.get("contact_address", ""))
        if i is None or i in self.out.assigned:  # not ours, or a re-published event
            return
        self.out.assigned[i] = at
        waiter = self.waiting.pop(i, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(at)

    def expect(self, i: int) -> asyncio.Future[float]:
        waiter = self.waiting[i] = asyncio.get_running_loop().create_future()
        return waiter

    async def settle(self, expected: set[int], quiet_s: float) -> None:
        """Wait until every expected assignment arrived, or none arrived for ``quiet_s``."""
        seen, last = -1, time.monotonic()
        while not expected.issubset(self.out.assigned):
            if len(self.out.assigned) != seen:
                seen, last = len(self.out.assigned), time.monotonic()
            elif time.monotonic() - last > quiet_s:
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


async def _send_all(load: Load) -> Sent:
    out = Sent()
    track = _Assignments(load, out) if load.nats_url else None
    if track is not None:
        await track.start()
    connector = aiohttp.TCPConnector(limit=load.connections if load.rate is None else 1024)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        async def post(i: int, wait: bool) -> None:
            body = load.body(i)
            headers = {"Content-Type": "application/json",
                       "X-Hub-Signature-256": meta_signature(load.app_secret, body)}
            waiter = track.expect(i) if wait and track is not None else None
            t0 = time.monotonic()
            try:
                async with http.post(load.url, data=body, headers=headers) as r:
                    await r.read()
                    status = r.status
            except (aiohttp.ClientError, TimeoutError):
                status = 599
            out.index.append(i)
            out.sent.append(t0)
            out.done.append(time.monotonic())
            out.status.append(status)
            if waiter is not None and 200 <= status < 300:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, load.settle_s)

        # Open the connections before the clock starts.
        await asyncio.gather(*(_touch(http, load.url) for _ in range(min(load.connections, 64))))
        out.started = time.monotonic()
        deadline = out.started + load.duration_s if load.duration_s else float("inf")
        indexes = iter(range(load.first, load.first + load.count))
        if load.rate is None:
            async def worker() -> None:
                for i in indexes:
                    if time.monotonic() >= deadline:
                        return
                    await post(i, wait=True)

            await asyncio.gather(*(worker() for _ in range(load.connections)))
        else:
            tasks = set()
            for n, i in enumerate(indexes):
                due = out.started + n / load.rate
                if due >= deadline:
                    break
                delay = due - time.monotonic()
                if delay > 0.0005:
                    await asyncio.sleep(delay)
                out.lag.append(max(0.0, time.monotonic() - due))
                task = asyncio.create_task(post(i, wait=False))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
    if track is not None:
        await track.settle({out.index[k] for k in out.ok()}, load.settle_s)
        await track.close()
    return out


async def _touch(http: aiohttp.ClientSession, url: str) -> None:
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with http.get(url.split("/webhooks/")[0] + "/healthz") as r:
            await r.read()


def _generator_main(load: Load, conn: Any) -> None:
    sent = asyncio.run(_send_all(load))
    conn.send(sent)
    conn.close()


async def generate(load: Load) -> Sent:
    """Run ``load`` in a separate process (spawned, so it has its own interpreter) and wait for it."""
    return await run_in_process(_generator_main, load)


async def run_in_process(target: Any, *args: Any) -> Any:
    """Run ``target(*args, conn)`` in a spawned process; return what it sends on ``conn``."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)
    proc.start()
    child.close()
    loop = asyncio.get_running_loop()
    try:
        while not await loop.run_in_executor(None, parent.poll, 0.2):
            if not proc.is_alive() and not parent.poll():
                raise RuntimeError(f"{target.__name__} exited with code {proc.exitcode} and no result")
        try:
            return parent.recv()
        except EOFError:
            raise RuntimeError(f"{target.__name__} died without a result (see its traceback above)") from None
    finally:
        await loop.run_in_executor(None, proc.join, 10)
        if proc.is_alive():
            proc.kill()


def start_process(target: Any, *args: Any) -> Any:
    """Start ``target(*args)`` in a spawned process (a server the benchmark stops with ``stop_process``)."""
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


async def stop_process(proc: Any) -> None:
    if proc.is_alive():
        os.kill(proc.pid, signal.SIGTERM)
    await asyncio.get_running_loop().run_in_executor(None, proc.join, 15)
    if proc.is_alive():
        proc.kill()


# ---- wrk, when installed (Debian package ``wrk``): a C load generator that leaves the cores to the server --
WRK_SCRIPT = r"""
local template, sigs, first, n = nil, {}, 0, 0
init = function(args)
  local f = assert(io.open(args[1]))
  first = tonumber(args[2])
  template = f:read("*l")
  for line in f:lines() do sigs[#sigs + 1] = line end
  f:close()
end
request = function()
  n = n + 1
  local k = (n - 1) % #sigs + 1
  local body = template:gsub("@IDX@", string.format("%09d", first + k - 1))
  return wrk.format("POST", nil, {["Host"] = wrk.headers["Host"], ["Content-Type"] = "application/json",
                                  ["X-Hub-Signature-256"] = sigs[k]}, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass
class WrkRun:
    """What one ``wrk`` run reports: requests, seconds, non-2xx answers, socket errors, latency in seconds."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50: float
    p99: float
    max: float
    signed: int

    @property
    def rps(self) -> float:
        return (self.requests - self.non_2xx) / self.seconds


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


async def wrk(load: Load, seconds: float, folder: Path, expected_rps: float = 15_000) -> WrkRun:
    """Run ``wrk`` with ``load.connections`` connections for ``seconds``, one thread, unique signed bodies.

    The bodies are ``load.body(i)`` built inside wrk from the template; their signatures are computed here
    (enough for ``expected_rps``; past that wrk wraps around and the rest are deduplicated retries).
    """
    signed = max(1000, int(seconds * expected_rps))
    data = folder / f"wrk-{load.run_id}-{load.first}.txt"
    with data.open("w") as f:
        f.write(load.template.decode() + "\n")
        f.writelines(load.signature(i) + "\n" for i in range(load.first, load.first + signed))
    script = folder / "wrk.lua"
    script.write_text(WRK_SCRIPT)
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{load.connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script),
        load.url, "--", str(data), str(load.first), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    data.unlink(missing_ok=True)
    row = next((r for r in out.decode().splitlines() if r.startswith("WRK ")), None)
    if proc.returncode != 0 or row is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out.decode()[-2000:]} {err.decode()[-2000:]}")
    v = [int(x) for x in row.split()[1:]]
    return WrkRun(requests=v[0], seconds=v[1] / 1e6, non_2xx=v[2], socket_errors=sum(v[3:7]), p50=v[7] / 1e6,
                  p99=v[8] / 1e6, max=v[9] / 1e6, signed=signed)


def rate_between(done: list[float], start: float, end: float) -> float:
    """Completions per second inside ``[start, end]``."""
    n = sum(1 for t in done if start <= t <= end)
    return n / (end - start) if end > start else float("nan")


if __name__ == "__main__":
    print("bench._common: shared helpers of bench.ingest and bench.routing; nothing to measure")
