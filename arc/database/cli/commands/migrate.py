"""`arc-db migrate upgrade|downgrade|current`: Alembic under an advisory lock."""

import argparse
from typing import Any

from arc.database.cli.common import EXIT_OK, database_url


def cmd_migrate(args: argparse.Namespace) -> int:
    from arc.database.schema.migrate import locked_migration

    url = database_url(args)
    result = locked_migration(url, args.action, args.revision)
    print(result)
    return EXIT_OK


def register(sub: Any) -> None:
    mig = sub.add_parser("migrate", help="apply or revert schema migrations (advisory-locked)")
    mig.add_argument("action", choices=("upgrade", "downgrade", "current"))
    mig.add_argument("revision", nargs="?", default=None, help="default: head / -1")
    mig.set_defaults(func=cmd_migrate)
