"""Acting as a tenant: `app.user_id`, set for the current transaction only.

Row-level security keys every tenant table on `app.user_id` (arc_current_user_id()). It is set
with set_config(..., is_local => true), so it ends with the transaction and cannot leak into
the next checkout of a pooled connection (or through a transaction-pooling PgBouncer).
"""

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

_SET = text("SELECT set_config('app.user_id', :user_id, true)")


async def set_tenant(conn: AsyncConnection | AsyncSession, user_id: uuid.UUID | None) -> None:
    """Within the caller's open transaction: act as `user_id` (None: leave it unset)."""
    if user_id is not None:
        await conn.execute(_SET, {"user_id": str(user_id)})
