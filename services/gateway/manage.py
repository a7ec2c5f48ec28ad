"""Operator commands on the gateway's users, run by ``switchboard user ...`` (or ``python -m services.gateway.manage``).

For the first admin of a new installation, and for an admin locked out: they talk to the gateway's database
(``SB_DATABASE_URL``) directly, with the same validation and password hashing as ``POST /api/v1/users``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys

from pydantic import ValidationError

from libs.core.errors import AppError
from libs.core.settings import ServiceSettings
from libs.storage import create_pool
from services.gateway.adapters.postgres import UsersRepo
from services.gateway.schemas import UserIn, UserPatch
from services.gateway.security import hash_password


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="switchboard user", description="create, reset the password of, or "
                                "deactivate a user of the gateway")
    sub = p.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a user; prints the password when it was generated")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"])
    create.add_argument("--id", help="user id (default: the username)")
    create.add_argument("--display-name", default="")
    reset = sub.add_parser("reset-password", help="set a new password; prints it when it was generated")
    reset.add_argument("username")
    for cmd in (create, reset):
        cmd.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input instead of generating one")
    deactivate = sub.add_parser("deactivate", help="the user can no longer log in")
    deactivate.add_argument("username")
    return p


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return secrets.token_urlsafe(18), True


async def run(args: argparse.Namespace, database_url: str) -> dict[str, object]:
    """Carry out one command; returns what to print.

    Raises:
        AppError: the user exists already, is unknown, or the input is invalid (the message names the field).
    """
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        users = UsersRepo(pool)
        if args.action == "create":
            password, generated = _password(args)
            body = UserIn(id=args.id or args.username, username=args.username, display_name=args.display_name,
                          role=args.role, password=password)
            user = await users.create(id=body.id, username=body.username, display_name=body.display_name,
                                      role=body.role, password_hash=await asyncio.to_thread(hash_password, password))
            assert user is not None
            return {"created": user.public(), **({"password": password} if generated else {})}
        found = await users.by_username(args.username)
        if found is None:
            raise AppError(f"no user {args.username!r}", field="username")
        if args.action == "reset-password":
            password, generated = _password(args)
            UserPatch(password=password)
            user = await users.update(found.id, {"password_hash": await asyncio.to_thread(hash_password, password)})
            return {"updated": user.public(), **({"password": password} if generated else {})}
        user = await users.update(found.id, {"active": False})
        return {"deactivated": user.public()}
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = ServiceSettings()
    try:
        out = asyncio.run(run(args, settings.database_url))
    except ValidationError as exc:
        err = exc.errors()[0]
        print(f"error: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
