"""LOGIN roles for the security tests: members of the group roles the migrations create.

Roles are cluster-wide and other test runs share the server, so each run makes its own login
roles (unique names, random passwords) and drops them at the end; the group roles themselves
belong to the migrations and are never touched here. A login role owns nothing and holds no
grant of its own, so dropping it never fails on another database's objects.
"""

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from arc.database.core.settings import to_psycopg_url

GROUP_ROLES = ("app_user", "app_readonly", "app_admin", "app_worker")


@dataclass(frozen=True)
class LoginRole:
    name: str
    password: str
    group: str

    def url(self, database_url: str) -> str:
        """`database_url` (the server's own address, not a pooler's) logged in as this role."""
        return (
            make_url(database_url)
            .set(username=self.name, password=self.password)
            .render_as_string(hide_password=False)
        )


@contextmanager
def login_roles(
    server_url: str, groups: tuple[str, ...] = GROUP_ROLES
) -> Iterator[dict[str, LoginRole]]:
    """group -> a fresh LOGIN role that is a member of it (INHERIT), dropped afterwards."""
    run = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    roles = {
        group: LoginRole(f"arc_t_{run}_{group.removeprefix('app_')}", secrets.token_hex(16), group)
        for group in groups
    }
    engine = create_engine(to_psycopg_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for role in roles.values():
                conn.execute(
                    text(
                        f"CREATE ROLE {role.name} LOGIN INHERIT PASSWORD '{role.password}' "
                        f"IN ROLE {role.group}"
                    )
                )
        yield roles
    finally:
        with engine.connect() as conn:
            for role in roles.values():
                # Sessions still open (a pool not yet disposed) end with the role.
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"
                    ),
                    {"r": role.name},
                )
                conn.execute(text(f"DROP ROLE IF EXISTS {role.name}"))
        engine.dispose()
