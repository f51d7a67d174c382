"""Acting as a tenant: the one way to set `app.user_id` (or a signed tenant token).

Row-level security and the tenant-safe views key every tenant's rows on
`arc_current_user_id()`, which reads two settings of the session:

- `app.tenant_token`: a token signed by the database (`issue_tenant_token`, app_admin only).
  When present it decides: the signed user if the signature and expiry hold, else no tenant.
- `app.user_id`: a bare claim, honoured only while the deployment has not required tokens
  (`SELECT arc_require_tenant_tokens(true)`). Unset, empty or malformed: no tenant (no rows).

Trust model. A bare `app.user_id` is trusted: any session of a tenant role may claim any
tenant, so the login behind app_user / app_readonly must be held only by code that sets the
tenant of the authenticated end user (the application tier), never by the end user. With
tokens required, a tenant session acts only as the user of a token it holds: SQL injected into
the request of user A cannot act as B. Tokens live at most a day (15 minutes by default),
expire against the transaction's start time, and all die when the key is rotated
(`arc_rotate_tenant_token_key()`). The owner, app_admin and app_worker are not tenant-bound.
docs/security.md has the roles and the rules.

`acting_as` sets both settings with set_config(..., is_local => true), so they end with the
transaction: nothing leaks into the next checkout of a pooled connection, nor through a
transaction-pooling PgBouncer. A session-level `SET app.user_id` does survive into the next
checkout; `install_tenant_reset(engine)` clears both settings whenever a connection is
checked out of the pool.
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any, overload

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from arc.database.core.checks import require_uuid
from arc.database.core.errors import ArcValidationError

# Both settings, then the tenant they make: one round trip, evaluated left to right.
_ACT = text(
    "SELECT set_config('app.user_id', :user_id, true),"
    " set_config('app.tenant_token', :token, true),"
    " CAST(arc_current_user_id() AS text) AS tenant"
)
_CURRENT = text(
    "SELECT current_setting('app.user_id', true) AS user_id,"
    " current_setting('app.tenant_token', true) AS token"
)
_RESTORE = text(
    "SELECT set_config('app.user_id', :user_id, true), set_config('app.tenant_token', :token, true)"
)
_ISSUE = text("SELECT arc_issue_tenant_token(:user_id, :ttl)")
_RESET_ON_CHECKOUT = (
    "SELECT pg_catalog.set_config('app.user_id', '', false),"
    " pg_catalog.set_config('app.tenant_token', '', false)"
)

Target = AsyncEngine | AsyncConnection | AsyncSession


@overload
def acting_as(
    target: AsyncEngine, user_id: Any = None, *, token: str | None = None
) -> AbstractAsyncContextManager[AsyncConnection]: ...


@overload
def acting_as(
    target: AsyncConnection, user_id: Any = None, *, token: str | None = None
) -> AbstractAsyncContextManager[AsyncConnection]: ...


@overload
def acting_as(
    target: AsyncSession, user_id: Any = None, *, token: str | None = None
) -> AbstractAsyncContextManager[AsyncSession]: ...


def acting_as(
    target: Target, user_id: Any = None, *, token: str | None = None
) -> AbstractAsyncContextManager[AsyncConnection] | AbstractAsyncContextManager[AsyncSession]:
    """Act as tenant `user_id` (or as the user of a signed `token`) for one transaction.

        async with acting_as(engine, user_id) as conn:      # begins, commits at the end
            rows = await conn.execute(...)
        async with acting_as(session, token=token) as s:    # joins s's transaction if open

    An engine: a connection and a transaction of its own, committed when the block ends
    (rolled back on an exception). A connection or session without a transaction: one is begun
    and ended the same way. With a transaction already open, it is joined and the settings it
    had are put back when the block ends. Neither user nor token: explicitly no tenant.

    Raises ArcValidationError for a malformed user id, for both a user and a token, and when
    the database does not accept the claim (an invalid or expired token, or a bare user id
    while the deployment requires tokens).
    """
    if user_id is not None and token is not None:
        raise ArcValidationError("token", "give a user id or a token, not both")
    user = "" if user_id is None else str(require_uuid(user_id, "user_id"))
    if token is not None and (not isinstance(token, str) or not token or "\x00" in token):
        raise ArcValidationError("token", "must be a non-empty string")
    claim = {"user_id": user, "token": token or ""}
    if isinstance(target, AsyncEngine):
        return _on_engine(target, claim)
    if isinstance(target, AsyncSession):
        return _on_session(target, claim)
    return _on_connection(target, claim)


async def _claim(conn: AsyncConnection | AsyncSession, claim: dict[str, str]) -> None:
    tenant = (await conn.execute(_ACT, claim)).one().tenant
    if claim["token"] and tenant is None:
        raise ArcValidationError("token", "is not valid here (bad signature, expired or rotated)")
    if claim["user_id"] and tenant != claim["user_id"]:
        raise ArcValidationError(
            "user_id", "is not accepted: this database requires signed tenant tokens"
        )


@asynccontextmanager
async def _on_engine(engine: AsyncEngine, claim: dict[str, str]) -> AsyncIterator[AsyncConnection]:
    async with engine.begin() as conn:
        await _claim(conn, claim)
        yield conn


@asynccontextmanager
async def _on_connection(
    conn: AsyncConnection, claim: dict[str, str]
) -> AsyncIterator[AsyncConnection]:
    if not conn.in_transaction():
        async with conn.begin():
            await _claim(conn, claim)
            yield conn
        return
    before = dict((await conn.execute(_CURRENT)).one()._mapping)
    await _claim(conn, claim)
    try:
        yield conn
    finally:
        if conn.in_transaction():
            await conn.execute(_RESTORE, _restorable(before))


@asynccontextmanager
async def _on_session(session: AsyncSession, claim: dict[str, str]) -> AsyncIterator[AsyncSession]:
    if not session.in_transaction():
        async with session.begin():
            await _claim(session, claim)
            yield session
        return
    before = dict((await session.execute(_CURRENT)).one()._mapping)
    await _claim(session, claim)
    try:
        yield session
    finally:
        if session.in_transaction():
            await session.execute(_RESTORE, _restorable(before))


def _restorable(before: dict[str, Any]) -> dict[str, str]:
    return {"user_id": before["user_id"] or "", "token": before["token"] or ""}


async def issue_tenant_token(
    conn: AsyncConnection | AsyncSession,
    user_id: Any,
    ttl: timedelta = timedelta(minutes=15),
) -> str:
    """A token that lets a tenant session act as `user_id` for `ttl` (at most a day).

    Signed by the database (arc_issue_tenant_token): the connection's role must be app_admin
    (or the owner). Hand it to the code serving that user; it passes it to `acting_as`."""
    user = require_uuid(user_id, "user_id")
    if not isinstance(ttl, timedelta) or not timedelta(0) < ttl <= timedelta(days=1):
        raise ArcValidationError("ttl", "must be more than 0 and at most 1 day", value=ttl)
    token = (await conn.execute(_ISSUE, {"user_id": user, "ttl": ttl})).scalar_one()
    return str(token)


def reset_tenant_settings(dbapi_connection: Any, *_: Any) -> None:
    """Pool `checkout` listener: clear app.user_id and app.tenant_token at session level.

    Runs in autocommit, so the reset is not undone by a rollback of the first transaction."""
    previous = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(_RESET_ON_CHECKOUT)
        finally:
            cursor.close()
    finally:
        dbapi_connection.autocommit = previous


def install_tenant_reset(engine: AsyncEngine) -> None:
    """Every connection handed out by `engine`'s pool starts as no tenant (one round trip per
    checkout). Idempotent."""
    if not event.contains(engine.sync_engine, "checkout", reset_tenant_settings):
        event.listen(engine.sync_engine, "checkout", reset_tenant_settings)


__all__ = [
    "acting_as",
    "install_tenant_reset",
    "issue_tenant_token",
    "reset_tenant_settings",
]
