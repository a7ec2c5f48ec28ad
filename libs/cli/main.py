"""The ``switchboard`` command: ``up`` runs the whole platform on the embedded stack; ``demo`` exercises it; the
operator commands (``migrate``, ``dlq``, ``streams``, ``user``, ``config check``) run against any installation."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

SERVICES: dict[str, int] = {
    "campaigns": 8084,
    "channels": 8081,
    "router": 8082,
    "scheduler": 8083,
    "crm": 8085,
    "gateway": 8080,
}
SANDBOX_PORT = int(os.environ.get("SB_SANDBOX_PORT", "8090"))
# Services whose internal API has its own port (channels: the webhooks are public, its admin API is not).
ADMIN_PORTS: dict[str, int] = {"channels": 8086}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the embedded stack, migrate, seed the demo and run every service")
    up.add_argument("--data", default=".data", help="folder for the embedded servers' data (default .data)")
    up.add_argument("--no-demo", action="store_true", help="do not seed the demo tenant")
    up.add_argument("--only", nargs="*", choices=sorted(SERVICES), help="run only these services")
    up.add_argument("--exit-on-crash", action="store_true",
                    help="stop everything when a service dies (CI) instead of restarting it with backoff")
    demo = sub.add_parser("demo", help="send a sample WhatsApp conversation through the running platform")
    demo.add_argument("--gateway", default="http://127.0.0.1:8080")
    demo.add_argument("--channels", default="http://127.0.0.1:8081")
    demo.add_argument("--sandbox", default=f"http://127.0.0.1:{SANDBOX_PORT}")
    demo.add_argument("--traffic", action="store_true",
                      help="simulate a few hours of contacts and agents in compressed time (libs/cli/traffic.py)")
    demo.add_argument("--hours", type=float, default=3.0, help="--traffic: simulated hours")
    demo.add_argument("--speed", type=float, default=60.0, help="--traffic: simulated seconds per real second")
    demo.add_argument("--rate", type=float, default=60.0, help="--traffic: contacts per simulated hour")
    imp = sub.add_parser("import", help="import an XLSX/CSV file through the CRM, with a progress bar")
    imp.add_argument("file", type=Path)
    imp.add_argument("--campaign", required=True, help="campaign id")
    imp.add_argument("--kind", default="import_accounts",
                     choices=["import_accounts", "import_contacts", "import_details", "import_updates"])
    imp.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="a process parameter (repeatable); JSON values are parsed (true, 3, [..])")
    imp.add_argument("--dry-run", action="store_true", help="count new, duplicate and invalid rows only")
    imp.add_argument("--outcome", type=Path, help="write the per-row outcome CSV here")
    imp.add_argument("--crm", default="http://127.0.0.1:8085")
    proc = sub.add_parser("process", help="follow (or cancel) a bulk process by id")
    proc.add_argument("id")
    proc.add_argument("--cancel", action="store_true")
    proc.add_argument("--crm", default="http://127.0.0.1:8085")
    from libs.cli import config_check, ops

    ops.add_parsers(sub)
    config_check.add_parser(sub)
    key = sub.add_parser("auth-key", help="make an Ed25519 key pair for the internal tokens (see docs/security.md)")
    key.add_argument("--issuer", default="gateway", help="who signs with it: gateway, or a service identity (cli)")
    key.add_argument("--kid", help="its key id, e.g. gateway-2025-01 (new id for each rotation)")
    key.add_argument("--env-file", metavar="VERSION", dest="env_version",
                     help="instead: every signer's pair (gateway, router, crm, channels, cli), kids <issuer>-VERSION, "
                          "as KEY=VALUE lines for `kubectl create secret generic --from-env-file`")
    args = parser.parse_args(argv)
    if args.command == "auth-key":
        import json

        from libs.core.auth import SIGNERS, KeySet, new_key_pair

        if args.env_version:
            for name, value in KeySet(SIGNERS, args.env_version).env().items():
                print(f"{name}={value}")
        elif args.kid:
            print(json.dumps(new_key_pair(args.issuer, args.kid), indent=2))
        else:
            parser.error("auth-key needs --kid (one pair) or --env-file VERSION (every signer's)")
        return
    if args.command == "up":
        sys.exit(asyncio.run(_up(args)))
    commands = {"migrate": ops.migrate, "dlq": ops.dlq, "streams": ops.streams, "config": config_check.run}
    if args.command in commands:
        from libs.core.logging import configure_logging

        # Results go to stdout; the libraries' logs, if any, to stderr.
        configure_logging("cli", os.environ.get("SB_ENV", "development"), os.environ.get("SB_LOG_LEVEL", "warning"))
        sys.exit(asyncio.run(commands[args.command](args)))
    if args.command == "user":
        sys.exit(ops.user(args))
    if args.command in ("import", "process"):
        sys.exit(asyncio.run(_process(args)))
    if args.traffic:
        from libs.cli.traffic import Plan, run_traffic

        plan = Plan(hours=args.hours, speed=args.speed, contacts_per_hour=args.rate)
        sys.exit(asyncio.run(run_traffic(args.gateway, args.channels, plan)))
    from libs.cli.demo import run_demo

    sys.exit(asyncio.run(run_demo(args.gateway, args.channels, args.sandbox)))


async def _up(args: argparse.Namespace) -> int:
    from aiohttp import ClientSession, ClientTimeout, web
    from rich.console import Console
    from rich.table import Table

    from libs.cli.supervise import Supervisor
    from libs.devstack import DevStack
    from libs.devstack.sandbox import create_sandbox
    from libs.devstack.sandbox_media import add_media_store

    console = Console()
    data = Path(args.data).resolve()
    await asyncio.to_thread(_prepare, data)
    console.print(f"[bold]Switchboard[/]: starting NATS, Redis and PostgreSQL in {data}")
    stack = DevStack(data / "stack")
    info = await asyncio.to_thread(stack.start)
    sandbox = web.AppRunner(add_media_store(create_sandbox()))
    await sandbox.setup()
    await web.TCPSite(sandbox, "127.0.0.1", SANDBOX_PORT).start()

    env = {**os.environ, **info.env(), "SB_ENV": os.environ.get("SB_ENV", "development"),
           "SB_DEMO_SEED": "false" if args.no_demo else "true",
           "SB_CHANNELS_GRAPH_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
           "SB_CHANNELS_BLOB_DIR": str(data / "blobs"), "SB_CRM_BLOB_DIR": str(data / "blobs"),
           # Development keys of the internal tokens (libs/core/auth.py), made on first use.
           "SB_AUTH_DEV_DIR": os.environ.get("SB_AUTH_DEV_DIR", str(data / "auth")),
           "PYTHONUNBUFFERED": "1"}
    for name, port in SERVICES.items():
        env.setdefault(f"SB_{name.upper()}_PORT", str(port))
    for name, port in ADMIN_PORTS.items():
        env.setdefault(f"SB_{name.upper()}_ADMIN_PORT", str(port))
    for name in SERVICES:
        internal = env.get(f"SB_{name.upper()}_ADMIN_PORT", env[f"SB_{name.upper()}_PORT"])
        env.setdefault(f"SB_GATEWAY_{name.upper()}_URL", f"http://127.0.0.1:{internal}")
    names = args.only or list(SERVICES)
    supervisor = Supervisor(names, env, console, exit_on_crash=args.exit_on_crash)
    await supervisor.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    status: dict[str, str] = {}
    async with ClientSession(timeout=ClientTimeout(total=2)) as http:
        for _ in range(240):
            for name in names:
                status[name] = await _probe(http, int(env[f"SB_{name.upper()}_PORT"]), supervisor.procs()[name])
            if all(s in ("ready", "exited") for s in status.values()) or stop.is_set():
                break
            await asyncio.sleep(0.5)
    table = Table(title="Switchboard is up" if all(s == "ready" for s in status.values()) else "Switchboard")
    for col in ("service", "status", "address"):
        table.add_column(col)
    for name in names:
        svc_port = env[f"SB_{name.upper()}_PORT"]
        table.add_row(name, status[name], f"http://127.0.0.1:{svc_port}")
        if name in ADMIN_PORTS:
            table.add_row(f"{name} (admin)", status[name], f"http://127.0.0.1:{env[f'SB_{name.upper()}_ADMIN_PORT']}")
    table.add_row("nats", "ready", info.nats_url)
    table.add_row("redis", "ready", info.redis_url)
    table.add_row("postgres", "ready", info.database_url)
    table.add_row("provider sandbox", "ready", f"http://127.0.0.1:{SANDBOX_PORT}/sandbox/sent")
    console.print(table)
    console.print(f"Console: [bold]http://127.0.0.1:{env['SB_GATEWAY_PORT']}/[/]  "
                  f"API: http://127.0.0.1:{env['SB_GATEWAY_PORT']}/api/v1/openapi.json")
    console.print("Demo logins: ana / ana-demo-pass (agent), sofia / sofia-demo-pass (supervisor), "
                  "admin / admin-demo-pass. Try [bold]switchboard demo[/] in another terminal. Ctrl-C stops.")

    stopper = asyncio.create_task(stop.wait())
    crashed = asyncio.create_task(supervisor.stopping.wait())
    await asyncio.wait([stopper, crashed], return_when=asyncio.FIRST_COMPLETED)
    console.print("[bold]Stopping[/] services (SIGTERM, graceful)…")
    await supervisor.stop()
    stopper.cancel()
    await sandbox.cleanup()
    await asyncio.to_thread(stack.stop)
    console.print("Stopped.")
    return 1 if supervisor.crashed else 0


async def _process(args: argparse.Namespace) -> int:
    import json

    from libs.cli.processes import ProcessError, run_follow, run_import

    try:
        if args.command == "process":
            job = await run_follow(args.crm, args.id, args.cancel)
        else:
            params: dict[str, object] = {"campaign_id": args.campaign, "mode": "template"}
            for item in args.param:
                key, _, raw = item.partition("=")
                try:
                    params[key] = json.loads(raw)
                except json.JSONDecodeError:
                    params[key] = raw
            job = await run_import(args.crm, args.file, args.kind, params, args.dry_run, args.outcome)
    except (ProcessError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: job.get(k) for k in ("id", "status", "total", "done", "counts", "error")}, indent=2))
    if args.command == "import" and args.outcome:
        print(f"outcome: {args.outcome}")
    return 0 if job["status"] == "succeeded" else 1


def _prepare(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o755)


async def _probe(http: object, port: int, proc: asyncio.subprocess.Process | None) -> str:
    if proc is None or proc.returncode is not None:
        return "exited"
    try:
        async with http.get(f"http://127.0.0.1:{port}/readyz") as r:  # type: ignore[attr-defined]
            return "ready" if r.status == 200 else "starting"
    except Exception:
        return "starting"


if __name__ == "__main__":
    main()
