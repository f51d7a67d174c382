import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import Base


class Configuration(Base):
    """High-level configuration metadata; one row per agent configuration of a tenant."""

    __tablename__ = "configurations"
    __table_args__ = (
        CheckConstraint("length(name) >= 3 AND length(name) <= 100", name="name_length"),
        CheckConstraint(r"name ~ '^[a-zA-Z0-9_\-\s]+$'", name="valid_name"),
        CheckConstraint("updated_at >= created_at", name="valid_timestamps"),
    )

    config_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    name: Mapped[str]
    user_id: Mapped[uuid.UUID]
    # Circular with config_versions: the constraint is added after both tables exist
    # (use_alter) and checked at commit (deferred), so a configuration and its first
    # version can be written in one transaction.
    latest_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(
            "config_versions.version_id",
            name="fk_latest_version",
            use_alter=True,
            deferrable=True,
            initially="DEFERRED",
        )
    )
    is_active: Mapped[bool | None] = mapped_column(server_default=text("true"))
    modal_app_id: Mapped[str | None]
    sandbox_config: Mapped[dict[str, Any] | None] = mapped_column(
        server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))
    updated_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))
