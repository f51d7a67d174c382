import uuid
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from sqlalchemy import CheckConstraint, Index, text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import Base


class AuditLog(Base):
    """Append-only trail of changes, written by triggers (see the security migration)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("operation IN ('INSERT', 'UPDATE', 'DELETE')", name="operation_allowed"),
    )

    log_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    table_name: Mapped[str]
    operation: Mapped[str]
    user_id: Mapped[uuid.UUID | None]
    old_data: Mapped[dict[str, Any] | None]
    new_data: Mapped[dict[str, Any] | None]
    ip_address: Mapped[IPv4Address | IPv6Address | None] = mapped_column(INET)
    user_agent: Mapped[str | None]
    modal_call_context: Mapped[dict[str, Any] | None]
    timestamp: Mapped[datetime | None] = mapped_column(server_default=text("now()"))


Index("idx_audit_log_timestamp", AuditLog.timestamp)
Index("idx_audit_log_table_time", AuditLog.table_name, AuditLog.timestamp.desc())
