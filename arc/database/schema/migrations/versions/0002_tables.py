"""The twelve tables of seed 002 (with what 004 adds), their constraints and indexes.

Drafted by autogenerate from the models and reviewed. The circular key
configurations.latest_version_id -> config_versions is added after both tables exist.
outcomes, failure_patterns and tool_usage become hypertables here, right after they are
created, so that downgrading this revision (which drops them) undoes the conversion too;
TimescaleDB cannot turn a hypertable back into a plain table in place. Both editions
(Apache and full) have hypertables. Default indexes are off: each model declares its time index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> chunk interval (seed 002 §2 and §3A)
HYPERTABLES = {"outcomes": "1 day", "failure_patterns": "7 days", "tool_usage": "1 day"}


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table(
        "audit_log",
        sa.Column(
            "log_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("old_data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new_data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("modal_call_context", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "timestamp", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "operation IN ('INSERT', 'UPDATE', 'DELETE')",
            name=op.f("audit_log_operation_allowed_check"),
        ),
        sa.PrimaryKeyConstraint("log_id", name=op.f("audit_log_pkey")),
    )
    op.create_index(
        "idx_audit_log_table_time",
        "audit_log",
        ["table_name", sa.literal_column("timestamp DESC")],
        unique=False,
    )
    op.create_index("idx_audit_log_timestamp", "audit_log", ["timestamp"], unique=False)
    op.create_table(
        "configurations",
        sa.Column(
            "config_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("latest_version_id", sa.UUID(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=True),
        sa.Column("modal_app_id", sa.Text(), nullable=True),
        sa.Column(
            "sandbox_config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "name ~ '^[a-zA-Z0-9_\\-\\s]+$'", name=op.f("configurations_valid_name_check")
        ),
        sa.CheckConstraint(
            "length(name) >= 3 AND length(name) <= 100",
            name=op.f("configurations_name_length_check"),
        ),
        sa.CheckConstraint(
            "updated_at >= created_at", name=op.f("configurations_valid_timestamps_check")
        ),
        sa.PrimaryKeyConstraint("config_id", name=op.f("configurations_pkey")),
    )
    op.create_table(
        "failure_patterns",
        sa.Column(
            "pattern_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("execution_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome_id", sa.UUID(), nullable=False),
        sa.Column("failure_type", sa.Text(), nullable=False),
        sa.Column("failure_category", sa.Text(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_embedding", Vector(1536), nullable=True),
        sa.Column("pattern_cluster_id", sa.UUID(), nullable=True),
        sa.Column("cluster_confidence", sa.REAL(), nullable=True),
        sa.Column(
            "similar_failures_count", sa.Integer(), server_default=sa.text("0"), nullable=True
        ),
        sa.Column(
            "recovery_attempted", sa.Boolean(), server_default=sa.text("false"), nullable=True
        ),
        sa.Column(
            "recovery_successful", sa.Boolean(), server_default=sa.text("false"), nullable=True
        ),
        sa.Column("resolution_steps", sa.Text(), nullable=True),
        sa.Column("llm_analysis", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "failure_category IN ('timeout', 'tool_error', 'model_error', 'validation_error', 'system_error', 'sandbox_error', 'modal_error', 'unknown')",
            name=op.f("failure_patterns_failure_category_allowed_check"),
        ),
        sa.CheckConstraint(
            "NOT recovery_successful OR recovery_attempted = true",
            name=op.f("failure_patterns_valid_recovery_check"),
        ),
        sa.CheckConstraint(
            "cluster_confidence BETWEEN 0 AND 1",
            name=op.f("failure_patterns_cluster_confidence_range_check"),
        ),
        sa.CheckConstraint(
            "length(error_message) <= 10000",
            name=op.f("failure_patterns_error_message_length_check"),
        ),
        sa.CheckConstraint(
            "length(failure_type) <= 100", name=op.f("failure_patterns_failure_type_length_check")
        ),
        sa.CheckConstraint(
            "similar_failures_count >= 0",
            name=op.f("failure_patterns_similar_failures_count_non_negative_check"),
        ),
        sa.PrimaryKeyConstraint("pattern_id", "execution_time", name=op.f("failure_patterns_pkey")),
    )
    op.create_index(
        "idx_error_embedding_cosine",
        "failure_patterns",
        ["error_embedding"],
        unique=False,
        postgresql_using="hnsw",
        postgresql_ops={"error_embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("error_embedding IS NOT NULL"),
    )
    op.create_index(
        "idx_failure_patterns_cluster_time",
        "failure_patterns",
        ["pattern_cluster_id", sa.literal_column("execution_time DESC")],
        unique=False,
        postgresql_where=sa.text("pattern_cluster_id IS NOT NULL"),
    )
    op.create_index(
        "idx_failure_patterns_execution_time",
        "failure_patterns",
        [sa.literal_column("execution_time DESC")],
        unique=False,
    )
    op.create_index(
        "idx_failure_patterns_outcome", "failure_patterns", ["outcome_id"], unique=False
    )
    op.create_index(
        "idx_failure_patterns_text_search",
        "failure_patterns",
        [
            sa.literal_column(
                "to_tsvector('english'::regconfig, (failure_type || ' '::text) || COALESCE(error_message, ''::text))"
            )
        ],
        unique=False,
        postgresql_using="gin",
    )
    op.create_table(
        "llm_recommendation_sessions",
        sa.Column(
            "session_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("analysis_start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("analysis_end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("llm_model", sa.Text(), nullable=False),
        sa.Column("llm_temperature", sa.REAL(), server_default=sa.text("0.1"), nullable=True),
        sa.Column("prompt_template_version", sa.Text(), nullable=True),
        sa.Column("total_outcomes_analyzed", sa.Integer(), nullable=False),
        sa.Column("patterns_identified", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column(
            "recommendations_generated", sa.Integer(), server_default=sa.text("0"), nullable=True
        ),
        sa.Column("analysis_cost_usd", sa.REAL(), server_default=sa.text("0"), nullable=True),
        sa.Column(
            "session_status", sa.Text(), server_default=sa.text("'completed'"), nullable=True
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "session_status IN ('running', 'completed', 'failed')",
            name=op.f("llm_recommendation_sessions_session_status_allowed_check"),
        ),
        sa.CheckConstraint(
            "analysis_cost_usd >= 0",
            name=op.f("llm_recommendation_sessions_cost_non_negative_check"),
        ),
        sa.CheckConstraint(
            "analysis_end_time >= analysis_start_time",
            name=op.f("llm_recommendation_sessions_valid_analysis_window_check"),
        ),
        sa.CheckConstraint(
            "data_window_end >= data_window_start",
            name=op.f("llm_recommendation_sessions_valid_data_window_check"),
        ),
        sa.CheckConstraint(
            "total_outcomes_analyzed >= 0",
            name=op.f("llm_recommendation_sessions_outcomes_non_negative_check"),
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("llm_recommendation_sessions_pkey")),
    )
    op.create_index(
        "idx_llm_sessions_analysis_window",
        "llm_recommendation_sessions",
        ["analysis_start_time", "analysis_end_time"],
        unique=False,
    )
    op.create_index(
        "idx_llm_sessions_user_time",
        "llm_recommendation_sessions",
        ["user_id", sa.literal_column("analysis_start_time DESC")],
        unique=False,
    )
    op.create_table(
        "recommendations",
        sa.Column(
            "recommendation_id",
            sa.UUID(),
            server_default=sa.text("uuid_generate_v4()"),
            nullable=False,
        ),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("source_id", sa.UUID(), nullable=False),
        sa.Column("recommendation_type", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("suggested_yaml_changes", sa.Text(), nullable=True),
        sa.Column("impact_estimate", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("confidence", sa.REAL(), nullable=False),
        sa.Column("llm_model_used", sa.Text(), nullable=True),
        sa.Column("llm_prompt_hash", sa.Text(), nullable=True),
        sa.Column("historical_data_window", postgresql.INTERVAL(), nullable=True),
        sa.Column("applied", sa.Boolean(), server_default=sa.text("false"), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_by", sa.UUID(), nullable=True),
        sa.Column("feedback_score", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "recommendation_type IN ('config_change', 'scenario_addition', 'tool_optimization', 'performance_tuning', 'modal_optimization')",
            name=op.f("recommendations_recommendation_type_allowed_check"),
        ),
        sa.CheckConstraint(
            "source_type IN ('simulation', 'outcome', 'config_diff', 'pattern_analysis', 'time_series_analysis')",
            name=op.f("recommendations_source_type_allowed_check"),
        ),
        sa.CheckConstraint(
            "(applied = false AND applied_at IS NULL) OR (applied = true AND applied_at IS NOT NULL)",
            name=op.f("recommendations_valid_application_check"),
        ),
        sa.CheckConstraint(
            "confidence BETWEEN 0 AND 1", name=op.f("recommendations_confidence_range_check")
        ),
        sa.CheckConstraint(
            "feedback_score BETWEEN 1 AND 5",
            name=op.f("recommendations_feedback_score_range_check"),
        ),
        sa.CheckConstraint(
            "length(description) >= 10", name=op.f("recommendations_description_length_check")
        ),
        sa.PrimaryKeyConstraint("recommendation_id", name=op.f("recommendations_pkey")),
    )
    op.create_index(
        "idx_recommendations_impact_gin",
        "recommendations",
        ["impact_estimate"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("impact_estimate IS NOT NULL"),
    )
    op.create_index(
        "idx_recommendations_pending",
        "recommendations",
        [
            "recommendation_id",
            sa.literal_column("confidence DESC"),
            sa.literal_column("created_at DESC"),
        ],
        unique=False,
        postgresql_where=sa.text("applied = false"),
    )
    op.create_index(
        "idx_recommendations_pending_confidence",
        "recommendations",
        ["applied", sa.literal_column("confidence DESC"), sa.literal_column("created_at DESC")],
        unique=False,
        postgresql_where=sa.text("applied = false"),
    )
    op.create_index(
        "idx_recommendations_source", "recommendations", ["source_type", "source_id"], unique=False
    )
    op.create_table(
        "scenarios",
        sa.Column("scenario_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("task_prompt", sa.Text(), nullable=False),
        sa.Column("ground_truth", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("difficulty_level", sa.Text(), server_default=sa.text("'medium'"), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("scenario_embedding", Vector(1536), nullable=True),
        sa.Column("expected_tools", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("modal_function_name", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=True),
        sa.Column("estimated_duration_ms", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "difficulty_level IN ('easy', 'medium', 'hard')",
            name=op.f("scenarios_difficulty_level_allowed_check"),
        ),
        sa.CheckConstraint(
            "scenario_id ~ '^[a-z0-9_]+$'", name=op.f("scenarios_valid_scenario_id_check")
        ),
        sa.CheckConstraint("array_length(tags, 1) <= 20", name=op.f("scenarios_tags_count_check")),
        sa.CheckConstraint(
            "estimated_duration_ms > 0", name=op.f("scenarios_estimated_duration_positive_check")
        ),
        sa.CheckConstraint(
            "length(name) >= 3 AND length(name) <= 200", name=op.f("scenarios_name_length_check")
        ),
        sa.CheckConstraint(
            "length(scenario_id) <= 100", name=op.f("scenarios_scenario_id_length_check")
        ),
        sa.CheckConstraint(
            "length(task_prompt) >= 10", name=op.f("scenarios_task_prompt_length_check")
        ),
        sa.PrimaryKeyConstraint("scenario_id", name=op.f("scenarios_pkey")),
    )
    op.create_index(
        "idx_scenario_embedding_cosine",
        "scenarios",
        ["scenario_embedding"],
        unique=False,
        postgresql_using="hnsw",
        postgresql_ops={"scenario_embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("scenario_embedding IS NOT NULL"),
    )
    op.create_index(
        "idx_scenarios_text_search",
        "scenarios",
        [
            sa.literal_column(
                "to_tsvector('english'::regconfig, (name || ' '::text) || task_prompt)"
            )
        ],
        unique=False,
        postgresql_using="gin",
    )
    op.create_table(
        "tool_usage",
        sa.Column(
            "usage_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("execution_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome_id", sa.UUID(), nullable=False),
        sa.Column("tool_name", sa.Text(), nullable=False),
        sa.Column("call_count", sa.Integer(), nullable=False),
        sa.Column("avg_duration_ms", sa.REAL(), nullable=False),
        sa.Column("success_rate", sa.REAL(), nullable=False),
        sa.Column("tool_sequence", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("total_cost_usd", sa.REAL(), server_default=sa.text("0"), nullable=True),
        sa.Column("error_types", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("modal_function_calls", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("sandbox_tool_logs", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "avg_duration_ms >= 0", name=op.f("tool_usage_avg_duration_ms_non_negative_check")
        ),
        sa.CheckConstraint("call_count > 0", name=op.f("tool_usage_call_count_positive_check")),
        sa.CheckConstraint(
            "length(tool_name) <= 100", name=op.f("tool_usage_tool_name_length_check")
        ),
        sa.CheckConstraint(
            "success_rate BETWEEN 0 AND 1", name=op.f("tool_usage_success_rate_range_check")
        ),
        sa.CheckConstraint(
            "total_cost_usd >= 0", name=op.f("tool_usage_total_cost_usd_non_negative_check")
        ),
        sa.PrimaryKeyConstraint("usage_id", "execution_time", name=op.f("tool_usage_pkey")),
    )
    op.create_index(
        "idx_tool_usage_execution_time",
        "tool_usage",
        [sa.literal_column("execution_time DESC")],
        unique=False,
    )
    op.create_index("idx_tool_usage_outcome", "tool_usage", ["outcome_id"], unique=False)
    op.create_index(
        "idx_tool_usage_tool_time",
        "tool_usage",
        ["tool_name", sa.literal_column("execution_time DESC")],
        unique=False,
    )
    op.create_table(
        "config_versions",
        sa.Column(
            "version_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("config_id", sa.UUID(), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("raw_yaml", sa.Text(), nullable=False),
        sa.Column("parsed_config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("config_hash", sa.Text(), nullable=False),
        sa.Column("embedding", Vector(1536), nullable=True),
        sa.Column("generated_by", sa.Text(), server_default=sa.text("'manual'"), nullable=True),
        sa.Column("modal_deployment_id", sa.Text(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "generated_by IN ('manual', 'llm_recommendation', 'diff_engine', 'optimization', 'api', 'modal_sandbox')",
            name=op.f("config_versions_generated_by_allowed_check"),
        ),
        sa.CheckConstraint(
            "parsed_config ? 'model' AND parsed_config ? 'temperature' AND CASE WHEN jsonb_typeof(parsed_config -> 'temperature') = 'number' THEN (parsed_config ->> 'temperature')::numeric BETWEEN 0 AND 2 ELSE false END",
            name=op.f("config_versions_valid_parsed_config_check"),
        ),
        sa.CheckConstraint(
            "length(config_hash) = 64", name=op.f("config_versions_config_hash_sha256_check")
        ),
        sa.CheckConstraint(
            "length(raw_yaml) <= 1048576", name=op.f("config_versions_raw_yaml_size_check")
        ),
        sa.CheckConstraint(
            "version_number > 0", name=op.f("config_versions_version_number_positive_check")
        ),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configurations.config_id"],
            name=op.f("config_versions_config_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("config_versions_pkey")),
        sa.UniqueConstraint(
            "config_id", "version_number", name=op.f("config_versions_config_id_version_number_key")
        ),
    )
    op.create_index(
        "idx_config_embedding_cosine",
        "config_versions",
        ["embedding"],
        unique=False,
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("embedding IS NOT NULL"),
    )
    op.create_index(
        "idx_config_versions_config_hash",
        "config_versions",
        ["config_id", "config_hash"],
        unique=False,
    )
    op.create_index(
        "idx_config_versions_config_version",
        "config_versions",
        ["config_id", sa.literal_column("version_number DESC")],
        unique=False,
    )
    op.create_index(
        "idx_config_versions_parsed_gin",
        "config_versions",
        ["parsed_config"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_table(
        "config_diffs",
        sa.Column(
            "diff_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("config_id", sa.UUID(), nullable=False),
        sa.Column("version_before", sa.UUID(), nullable=False),
        sa.Column("version_after", sa.UUID(), nullable=False),
        sa.Column("diff_yaml", sa.Text(), nullable=False),
        sa.Column("change_summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("impact_prediction", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("llm_generated", sa.Boolean(), server_default=sa.text("false"), nullable=True),
        sa.Column("approval_status", sa.Text(), server_default=sa.text("'pending'"), nullable=True),
        sa.Column("approved_by", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "approval_status IN ('pending', 'approved', 'rejected')",
            name=op.f("config_diffs_approval_status_allowed_check"),
        ),
        sa.CheckConstraint(
            "length(diff_yaml) <= 524288", name=op.f("config_diffs_diff_yaml_size_check")
        ),
        sa.CheckConstraint(
            "version_before != version_after", name=op.f("config_diffs_different_versions_check")
        ),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configurations.config_id"],
            name=op.f("config_diffs_config_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_after"],
            ["config_versions.version_id"],
            name=op.f("config_diffs_version_after_fkey"),
        ),
        sa.ForeignKeyConstraint(
            ["version_before"],
            ["config_versions.version_id"],
            name=op.f("config_diffs_version_before_fkey"),
        ),
        sa.PrimaryKeyConstraint("diff_id", name=op.f("config_diffs_pkey")),
    )
    op.create_index(
        "idx_config_diffs_config_created",
        "config_diffs",
        ["config_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index(
        "idx_config_diffs_llm_generated",
        "config_diffs",
        ["llm_generated", sa.literal_column("created_at DESC")],
        unique=False,
        postgresql_where=sa.text("llm_generated IS true"),
    )
    op.create_table(
        "simulations",
        sa.Column(
            "simulation_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("config_version_id", sa.UUID(), nullable=False),
        sa.Column("scenario_set", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("simulation_name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=True),
        sa.Column("total_scenarios", sa.Integer(), nullable=False),
        sa.Column("completed_scenarios", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("overall_score", sa.REAL(), nullable=True),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        sa.Column("total_cost_usd", sa.REAL(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=True,
        ),
        sa.Column("modal_app_id", sa.Text(), nullable=True),
        sa.Column(
            "modal_environment", sa.Text(), server_default=sa.text("'production'"), nullable=True
        ),
        sa.Column("sandbox_instances", sa.Integer(), server_default=sa.text("1"), nullable=True),
        sa.Column(
            "sandbox_metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=True,
        ),
        sa.Column("timeout_ms", sa.Integer(), server_default=sa.text("300000"), nullable=True),
        sa.Column("max_retries", sa.Integer(), server_default=sa.text("3"), nullable=True),
        sa.Column("priority", sa.Integer(), server_default=sa.text("5"), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'completed' AND completed_at IS NOT NULL) OR (status IN ('pending', 'running') AND completed_at IS NULL) OR (status IN ('failed', 'cancelled'))",
            name=op.f("simulations_valid_completion_check"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("simulations_status_allowed_check"),
        ),
        sa.CheckConstraint(
            "cardinality(scenario_set) > 0",
            name=op.f("simulations_scenario_set_not_empty_check"),
        ),
        sa.CheckConstraint(
            "completed_scenarios <= total_scenarios",
            name=op.f("simulations_completed_scenarios_limit_check"),
        ),
        sa.CheckConstraint(
            "completed_scenarios >= 0",
            name=op.f("simulations_completed_scenarios_non_negative_check"),
        ),
        sa.CheckConstraint(
            "execution_time_ms >= 0", name=op.f("simulations_execution_time_ms_non_negative_check")
        ),
        sa.CheckConstraint(
            "length(simulation_name) <= 200", name=op.f("simulations_simulation_name_length_check")
        ),
        sa.CheckConstraint(
            "overall_score BETWEEN 0 AND 1", name=op.f("simulations_overall_score_range_check")
        ),
        sa.CheckConstraint(
            "priority BETWEEN 1 AND 10", name=op.f("simulations_priority_range_check")
        ),
        sa.CheckConstraint(
            "started_at IS NULL OR started_at >= created_at",
            name=op.f("simulations_valid_timestamps_check"),
        ),
        sa.CheckConstraint(
            "total_cost_usd >= 0", name=op.f("simulations_total_cost_usd_non_negative_check")
        ),
        sa.CheckConstraint(
            "total_scenarios > 0", name=op.f("simulations_total_scenarios_positive_check")
        ),
        sa.ForeignKeyConstraint(
            ["config_version_id"],
            ["config_versions.version_id"],
            name=op.f("simulations_config_version_id_fkey"),
        ),
        sa.PrimaryKeyConstraint("simulation_id", name=op.f("simulations_pkey")),
    )
    op.create_index(
        "idx_simulations_config_created",
        "simulations",
        ["config_version_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index(
        "idx_simulations_metadata_gin",
        "simulations",
        ["metadata"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("metadata <> '{}'::jsonb"),
    )
    op.create_index(
        "idx_simulations_modal_app",
        "simulations",
        ["modal_app_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index(
        "idx_simulations_recent_completed",
        "simulations",
        ["simulation_id", "overall_score", "total_cost_usd"],
        unique=False,
        postgresql_where=sa.text("status = 'completed'"),
    )
    op.create_index(
        "idx_simulations_status_priority",
        "simulations",
        ["status", sa.literal_column("priority DESC")],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.create_index(
        "idx_simulations_user_performance",
        "simulations",
        ["config_version_id", "status", "overall_score", "total_cost_usd", "completed_at"],
        unique=False,
    )
    op.create_table(
        "outcomes",
        sa.Column(
            "outcome_id", sa.UUID(), server_default=sa.text("uuid_generate_v4()"), nullable=False
        ),
        sa.Column("execution_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("simulation_id", sa.UUID(), nullable=False),
        sa.Column("scenario_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reliability_score", sa.REAL(), nullable=False),
        sa.Column("execution_time_ms", sa.REAL(), nullable=False),
        sa.Column("tokens_used", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.REAL(), nullable=False),
        sa.Column("trajectory", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("trajectory_embedding", Vector(1536), nullable=True),
        sa.Column(
            "metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=True,
        ),
        sa.Column(
            "execution_metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=True,
        ),
        sa.Column("modal_call_id", sa.Text(), nullable=True),
        sa.Column("sandbox_id", sa.Text(), nullable=True),
        sa.Column("sandbox_logs", sa.Text(), nullable=True),
        sa.Column("retry_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_category", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.CheckConstraint(
            "error_category IN ('timeout', 'tool_error', 'model_error', 'validation_error', 'system_error', 'sandbox_error')",
            name=op.f("outcomes_error_category_allowed_check"),
        ),
        sa.CheckConstraint(
            "status IN ('success', 'error', 'timeout', 'cancelled')",
            name=op.f("outcomes_status_allowed_check"),
        ),
        sa.CheckConstraint(
            "trajectory ? 'start_time' AND trajectory ? 'status'",
            name=op.f("outcomes_valid_trajectory_check"),
        ),
        sa.CheckConstraint("cost_usd >= 0", name=op.f("outcomes_cost_usd_non_negative_check")),
        sa.CheckConstraint(
            "execution_time_ms >= 0", name=op.f("outcomes_execution_time_ms_non_negative_check")
        ),
        sa.CheckConstraint(
            "reliability_score BETWEEN 0 AND 1", name=op.f("outcomes_reliability_score_range_check")
        ),
        sa.CheckConstraint(
            "retry_count >= 0", name=op.f("outcomes_retry_count_non_negative_check")
        ),
        sa.CheckConstraint(
            "tokens_used >= 0", name=op.f("outcomes_tokens_used_non_negative_check")
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"], ["scenarios.scenario_id"], name=op.f("outcomes_scenario_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["simulation_id"],
            ["simulations.simulation_id"],
            name=op.f("outcomes_simulation_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("outcome_id", "execution_time", name=op.f("outcomes_pkey")),
    )
    op.create_index(
        "idx_outcomes_active_failures",
        "outcomes",
        ["outcome_id", "scenario_id", "reliability_score"],
        unique=False,
        postgresql_where=sa.text("status = 'error'"),
    )
    op.create_index(
        "idx_outcomes_execution_time",
        "outcomes",
        [sa.literal_column("execution_time DESC")],
        unique=False,
    )
    op.create_index(
        "idx_outcomes_metadata_gin",
        "outcomes",
        ["execution_metadata"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "idx_outcomes_metrics_gin",
        "outcomes",
        ["metrics"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("metrics <> '{}'::jsonb"),
    )
    op.create_index(
        "idx_outcomes_modal_call",
        "outcomes",
        ["modal_call_id"],
        unique=False,
        postgresql_where=sa.text("modal_call_id IS NOT NULL"),
    )
    op.create_index(
        "idx_outcomes_performance_analysis",
        "outcomes",
        ["scenario_id", "status", "reliability_score", "execution_time_ms", "cost_usd"],
        unique=False,
    )
    op.create_index(
        "idx_outcomes_scenario_time",
        "outcomes",
        ["scenario_id", sa.literal_column("execution_time DESC")],
        unique=False,
    )
    op.create_index(
        "idx_outcomes_simulation_status", "outcomes", ["simulation_id", "status"], unique=False
    )
    op.create_index(
        "idx_outcomes_simulation_time",
        "outcomes",
        ["simulation_id", sa.literal_column("execution_time DESC")],
        unique=False,
    )
    op.create_index(
        "idx_outcomes_time_status",
        "outcomes",
        [sa.literal_column("execution_time DESC"), "status"],
        unique=False,
        postgresql_where=sa.text("status <> 'success'"),
    )
    op.create_index(
        "idx_outcomes_trajectory_gin",
        "outcomes",
        ["trajectory"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "idx_trajectory_embedding_cosine",
        "outcomes",
        ["trajectory_embedding"],
        unique=False,
        postgresql_using="hnsw",
        postgresql_ops={"trajectory_embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("trajectory_embedding IS NOT NULL"),
    )
    op.create_table(
        "simulations_scenarios",
        sa.Column("simulation_id", sa.UUID(), nullable=False),
        sa.Column("scenario_id", sa.Text(), nullable=False),
        sa.Column("execution_order", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=True),
        sa.Column("modal_call_id", sa.Text(), nullable=True),
        sa.Column("modal_execution_logs", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'skipped')",
            name=op.f("simulations_scenarios_status_allowed_check"),
        ),
        sa.CheckConstraint(
            "completed_at IS NULL OR started_at IS NOT NULL",
            name=op.f("simulations_scenarios_valid_execution_timestamps_check"),
        ),
        sa.CheckConstraint(
            "execution_order > 0", name=op.f("simulations_scenarios_execution_order_positive_check")
        ),
        sa.CheckConstraint(
            "retry_count >= 0", name=op.f("simulations_scenarios_retry_count_non_negative_check")
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["scenarios.scenario_id"],
            name=op.f("simulations_scenarios_scenario_id_fkey"),
        ),
        sa.ForeignKeyConstraint(
            ["simulation_id"],
            ["simulations.simulation_id"],
            name=op.f("simulations_scenarios_simulation_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "simulation_id", "scenario_id", name=op.f("simulations_scenarios_pkey")
        ),
    )
    op.create_index(
        "idx_simulations_scenarios_scenario", "simulations_scenarios", ["scenario_id"], unique=False
    )
    for table, interval in HYPERTABLES.items():
        op.execute(
            f"SELECT create_hypertable('{table}', 'execution_time', "
            f"chunk_time_interval => INTERVAL '{interval}', "
            "create_default_indexes => false, if_not_exists => true)"
        )
    op.create_foreign_key(
        "fk_latest_version",
        "configurations",
        "config_versions",
        ["latest_version_id"],
        ["version_id"],
        deferrable=True,
        initially="DEFERRED",
    )


def downgrade() -> None:
    op.drop_constraint("fk_latest_version", "configurations", type_="foreignkey")
    op.drop_index("idx_simulations_scenarios_scenario", table_name="simulations_scenarios")
    op.drop_table("simulations_scenarios")
    op.drop_index(
        "idx_trajectory_embedding_cosine",
        table_name="outcomes",
        postgresql_using="hnsw",
        postgresql_ops={"trajectory_embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("trajectory_embedding IS NOT NULL"),
    )
    op.drop_index("idx_outcomes_trajectory_gin", table_name="outcomes", postgresql_using="gin")
    op.drop_index(
        "idx_outcomes_time_status",
        table_name="outcomes",
        postgresql_where=sa.text("status <> 'success'"),
    )
    op.drop_index("idx_outcomes_simulation_time", table_name="outcomes")
    op.drop_index("idx_outcomes_simulation_status", table_name="outcomes")
    op.drop_index("idx_outcomes_scenario_time", table_name="outcomes")
    op.drop_index("idx_outcomes_performance_analysis", table_name="outcomes")
    op.drop_index(
        "idx_outcomes_modal_call",
        table_name="outcomes",
        postgresql_where=sa.text("modal_call_id IS NOT NULL"),
    )
    op.drop_index(
        "idx_outcomes_metrics_gin",
        table_name="outcomes",
        postgresql_using="gin",
        postgresql_where=sa.text("metrics <> '{}'::jsonb"),
    )
    op.drop_index("idx_outcomes_metadata_gin", table_name="outcomes", postgresql_using="gin")
    op.drop_index("idx_outcomes_execution_time", table_name="outcomes")
    op.drop_index(
        "idx_outcomes_active_failures",
        table_name="outcomes",
        postgresql_where=sa.text("status = 'error'"),
    )
    op.drop_table("outcomes")
    op.drop_index("idx_simulations_user_performance", table_name="simulations")
    op.drop_index(
        "idx_simulations_status_priority",
        table_name="simulations",
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.drop_index(
        "idx_simulations_recent_completed",
        table_name="simulations",
        postgresql_where=sa.text("status = 'completed'"),
    )
    op.drop_index("idx_simulations_modal_app", table_name="simulations")
    op.drop_index(
        "idx_simulations_metadata_gin",
        table_name="simulations",
        postgresql_using="gin",
        postgresql_where=sa.text("metadata <> '{}'::jsonb"),
    )
    op.drop_index("idx_simulations_config_created", table_name="simulations")
    op.drop_table("simulations")
    op.drop_index(
        "idx_config_diffs_llm_generated",
        table_name="config_diffs",
        postgresql_where=sa.text("llm_generated IS true"),
    )
    op.drop_index("idx_config_diffs_config_created", table_name="config_diffs")
    op.drop_table("config_diffs")
    op.drop_index(
        "idx_config_versions_parsed_gin", table_name="config_versions", postgresql_using="gin"
    )
    op.drop_index("idx_config_versions_config_version", table_name="config_versions")
    op.drop_index("idx_config_versions_config_hash", table_name="config_versions")
    op.drop_index(
        "idx_config_embedding_cosine",
        table_name="config_versions",
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("embedding IS NOT NULL"),
    )
    op.drop_table("config_versions")
    op.drop_index("idx_tool_usage_tool_time", table_name="tool_usage")
    op.drop_index("idx_tool_usage_outcome", table_name="tool_usage")
    op.drop_index("idx_tool_usage_execution_time", table_name="tool_usage")
    op.drop_table("tool_usage")
    op.drop_index("idx_scenarios_text_search", table_name="scenarios", postgresql_using="gin")
    op.drop_index(
        "idx_scenario_embedding_cosine",
        table_name="scenarios",
        postgresql_using="hnsw",
        postgresql_ops={"scenario_embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("scenario_embedding IS NOT NULL"),
    )
    op.drop_table("scenarios")
    op.drop_index("idx_recommendations_source", table_name="recommendations")
    op.drop_index(
        "idx_recommendations_pending_confidence",
        table_name="recommendations",
        postgresql_where=sa.text("applied = false"),
    )
    op.drop_index(
        "idx_recommendations_pending",
        table_name="recommendations",
        postgresql_where=sa.text("applied = false"),
    )
    op.drop_index(
        "idx_recommendations_impact_gin",
        table_name="recommendations",
        postgresql_using="gin",
        postgresql_where=sa.text("impact_estimate IS NOT NULL"),
    )
    op.drop_table("recommendations")
    op.drop_index("idx_llm_sessions_user_time", table_name="llm_recommendation_sessions")
    op.drop_index("idx_llm_sessions_analysis_window", table_name="llm_recommendation_sessions")
    op.drop_table("llm_recommendation_sessions")
    op.drop_index(
        "idx_failure_patterns_text_search", table_name="failure_patterns", postgresql_using="gin"
    )
    op.drop_index("idx_failure_patterns_outcome", table_name="failure_patterns")
    op.drop_index("idx_failure_patterns_execution_time", table_name="failure_patterns")
    op.drop_index(
        "idx_failure_patterns_cluster_time",
        table_name="failure_patterns",
        postgresql_where=sa.text("pattern_cluster_id IS NOT NULL"),
    )
    op.drop_index(
        "idx_error_embedding_cosine",
        table_name="failure_patterns",
        postgresql_using="hnsw",
        postgresql_ops={"error_embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("error_embedding IS NOT NULL"),
    )
    op.drop_table("failure_patterns")
    op.drop_table("configurations")
    op.drop_index("idx_audit_log_timestamp", table_name="audit_log")
    op.drop_index("idx_audit_log_table_time", table_name="audit_log")
    op.drop_table("audit_log")
