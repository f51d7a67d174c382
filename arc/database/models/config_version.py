import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import EMBEDDING_DIMENSIONS, Base

GENERATED_BY = (
    "manual",
    "llm_recommendation",
    "diff_engine",
    "optimization",
    "api",
    "modal_sandbox",
)


class ConfigVersion(Base):
    """Immutable YAML snapshot of a configuration, with its parsed form and embedding."""

    __tablename__ = "config_versions"
    __table_args__ = (
        UniqueConstraint("config_id", "version_number"),
        CheckConstraint("version_number > 0", name="version_number_positive"),
        CheckConstraint("length(raw_yaml) <= 1048576", name="raw_yaml_size"),
        CheckConstraint("length(config_hash) = 64", name="config_hash_sha256"),
        CheckConstraint(
            "generated_by IN (" + ", ".join(f"'{v}'" for v in GENERATED_BY) + ")",
            name="generated_by_allowed",
        ),
        # The seed casts parsed_config->>'temperature' to numeric, which raises a data error
        # (not a check violation) for a non-numeric value; the CASE keeps it a rule violation.
        CheckConstraint(
            "parsed_config ? 'model' AND parsed_config ? 'temperature' AND "
            "CASE WHEN jsonb_typeof(parsed_config -> 'temperature') = 'number' "
            "THEN (parsed_config ->> 'temperature')::numeric BETWEEN 0 AND 2 ELSE false END",
            name="valid_parsed_config",
        ),
    )

    version_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    config_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("configurations.config_id", ondelete="CASCADE")
    )
    version_number: Mapped[int]
    raw_yaml: Mapped[str]
    parsed_config: Mapped[dict[str, Any]]
    config_hash: Mapped[str]
    embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    generated_by: Mapped[str | None] = mapped_column(server_default=text("'manual'"))
    modal_deployment_id: Mapped[str | None]
    is_deleted: Mapped[bool | None] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))


Index(
    "idx_config_versions_config_version",
    ConfigVersion.config_id,
    ConfigVersion.version_number.desc(),
)
Index("idx_config_versions_config_hash", ConfigVersion.config_id, ConfigVersion.config_hash)
Index("idx_config_versions_parsed_gin", ConfigVersion.parsed_config, postgresql_using="gin")
Index(
    "idx_config_embedding_cosine",
    ConfigVersion.embedding,
    postgresql_using="hnsw",
    postgresql_ops={"embedding": "vector_cosine_ops"},
    postgresql_where=ConfigVersion.embedding.is_not(None),
)
