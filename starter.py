"""The `guarantee` command line: run the product, manage users, work claims."""

import argparse
import sys

from api.users import UserExists, add_user
from schema.database import make_engine, make_sessions, migrate
from schema.enums import Role
from stack.config import load_settings


def _sessions():
    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    return make_sessions(make_engine(settings.database_url))


def cmd_users_add(args) -> int:
    try:
        actor, token = add_user(_sessions(), args.name, Role(args.role))
    except (UserExists, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"created {actor.name} ({actor.role.value}), id {actor.user_id}")
    print(f"token (shown once): {token}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guarantee", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    users = sub.add_parser("users", help="manage users and their API tokens").add_subparsers(
        dest="users_command", required=True
    )
    add = users.add_parser("add", help="create a user and print their token once")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.set_defaults(func=cmd_users_add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
