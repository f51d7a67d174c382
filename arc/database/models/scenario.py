from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import CheckConstraint, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import EMBEDDING_DIMENSIONS, Base

DIFFICULTY_LEVELS = ("easy", "medium", "hard")


class Scenario(Base):
    """A test scenario; its id is a readable slug chosen by the scenario author."""

    __tablename__ = "scenarios"
    __table_args__ = (
        CheckConstraint("length(scenario_id) <= 100", name="scenario_id_length"),
        CheckConstraint("scenario_id ~ '^[a-z0-9_]+$'", name="valid_scenario_id"),
        CheckConstraint("length(name) >= 3 AND length(name) <= 200", name="name_length"),
        CheckConstraint("length(task_prompt) >= 10", name="task_prompt_length"),
        CheckConstraint(
            "difficulty_level IN ('easy', 'medium', 'hard')", name="difficulty_level_allowed"
        ),
        CheckConstraint("array_length(tags, 1) <= 20", name="tags_count"),
        CheckConstraint("estimated_duration_ms > 0", name="estimated_duration_positive"),
        Index(
            "idx_scenarios_text_search",
            text("to_tsvector('english'::regconfig, (name || ' '::text) || task_prompt)"),
            postgresql_using="gin",
        ),
    )

    scenario_id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    task_prompt: Mapped[str]
    ground_truth: Mapped[dict[str, Any] | None]
    difficulty_level: Mapped[str | None] = mapped_column(server_default=text("'medium'"))
    tags: Mapped[list[str] | None]
    scenario_embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    expected_tools: Mapped[list[Any] | None]
    modal_function_name: Mapped[str | None]
    is_active: Mapped[bool | None] = mapped_column(server_default=text("true"))
    estimated_duration_ms: Mapped[int | None]
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))


Index(
    "idx_scenario_embedding_cosine",
    Scenario.scenario_embedding,
    postgresql_using="hnsw",
    postgresql_ops={"scenario_embedding": "vector_cosine_ops"},
    postgresql_where=Scenario.scenario_embedding.is_not(None),
)
