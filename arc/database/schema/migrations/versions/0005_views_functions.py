"""Analysis and dashboard views (002 §5A, §6; 004 §4B) and trigger_llm_recommendation_analysis.

Changes from the seeds' SQL, each needed for it to run or to be right:
- ROUND(double precision, 2) does not exist in PostgreSQL: the ratios are cast to numeric.
- v_llm_failure_analysis: `execution_time` is in both joined tables (ambiguous); it is
  qualified, and the join is LEFT so a pattern whose outcome was dropped is still counted.
- v_dashboard_pending_recommendations: recommendations carry no session id; the seed's
  range join repeats a recommendation once per overlapping session and hides one made outside
  any session. A lateral join picks the one latest session covering it, if any.
- Views run with security_invoker, so a tenant role reading them sees only its rows (RLS).
- trigger_llm_recommendation_analysis: the seed inserts NULL into the NOT NULL user_id when
  called without a user, its variable `session_id` collides with the column name, and it
  never sets analysis_end_time after the work. Fixed: the user falls back to app.user_id,
  then to the nil UUID (system); the variable is renamed; the end time is set at the end.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = {
    "v_llm_failure_analysis": """
        SELECT
            date_trunc('day', fp.execution_time) AS day,
            fp.failure_category,
            count(*) AS daily_failures,
            avg(fp.cluster_confidence) AS avg_confidence,
            array_agg(DISTINCT fp.error_message) FILTER (WHERE fp.error_message IS NOT NULL)
                AS sample_errors,
            array_agg(DISTINCT o.scenario_id) FILTER (WHERE o.scenario_id IS NOT NULL)
                AS affected_scenarios
        FROM failure_patterns fp
        LEFT JOIN outcomes o ON fp.outcome_id = o.outcome_id
        WHERE fp.execution_time > now() - INTERVAL '30 days'
        GROUP BY 1, 2
        ORDER BY day DESC, daily_failures DESC
    """,
    "v_llm_config_performance": """
        SELECT
            cv.config_id,
            cv.version_number,
            cv.parsed_config,
            date_trunc('day', o.execution_time) AS day,
            count(*) AS total_executions,
            avg(o.reliability_score) AS avg_reliability,
            avg(o.execution_time_ms) AS avg_execution_time,
            sum(o.cost_usd) AS daily_cost,
            count(*) FILTER (WHERE o.status = 'error') AS error_count
        FROM config_versions cv
        JOIN simulations s ON cv.version_id = s.config_version_id
        JOIN outcomes o ON s.simulation_id = o.simulation_id
        WHERE o.execution_time > now() - INTERVAL '90 days'
        GROUP BY cv.config_id, cv.version_number, cv.parsed_config, 4
        ORDER BY day DESC, avg_reliability DESC
    """,
    "v_llm_scenario_trends": """
        SELECT
            scenario_id,
            date_trunc('week', execution_time) AS week,
            count(*) AS executions,
            avg(reliability_score) AS avg_reliability,
            stddev(reliability_score) AS reliability_variance,
            avg(execution_time_ms) AS avg_duration,
            count(*) FILTER (WHERE status = 'timeout') AS timeout_count
        FROM outcomes
        WHERE execution_time > now() - INTERVAL '6 months'
        GROUP BY scenario_id, 2
        ORDER BY week DESC, avg_reliability ASC
    """,
    "v_dashboard_active_simulations": """
        SELECT
            s.simulation_id,
            s.simulation_name,
            s.status,
            s.completed_scenarios,
            s.total_scenarios,
            round((s.completed_scenarios::numeric / s.total_scenarios * 100), 2) AS progress_pct,
            EXTRACT(EPOCH FROM now() - s.started_at) AS runtime_seconds,
            s.modal_app_id,
            cv.parsed_config ->> 'model' AS model_name,
            count(o.outcome_id) AS outcomes_recorded
        FROM simulations s
        JOIN config_versions cv ON s.config_version_id = cv.version_id
        LEFT JOIN outcomes o ON s.simulation_id = o.simulation_id
        WHERE s.status IN ('pending', 'running')
        GROUP BY s.simulation_id, s.simulation_name, s.status, s.completed_scenarios,
                 s.total_scenarios, s.started_at, s.modal_app_id, cv.parsed_config, s.created_at
        ORDER BY s.created_at DESC
    """,
    "v_dashboard_pending_recommendations": """
        SELECT
            r.recommendation_id,
            r.recommendation_type,
            r.description,
            r.confidence,
            r.impact_estimate,
            r.suggested_yaml_changes,
            lrs.llm_model AS generated_by_model,
            lrs.data_window_start,
            lrs.data_window_end,
            r.created_at
        FROM recommendations r
        LEFT JOIN LATERAL (
            SELECT s.llm_model, s.data_window_start, s.data_window_end
            FROM llm_recommendation_sessions s
            WHERE r.created_at BETWEEN s.analysis_start_time AND s.analysis_end_time
            ORDER BY s.analysis_start_time DESC
            LIMIT 1
        ) lrs ON true
        WHERE r.applied = false AND r.confidence > 0.7
        ORDER BY r.confidence DESC, r.created_at DESC
        LIMIT 10
    """,
    "v_dashboard_performance_trends": """
        SELECT
            date_trunc('day', execution_time) AS day,
            count(*) AS total_executions,
            avg(reliability_score) AS avg_reliability,
            avg(execution_time_ms) AS avg_duration_ms,
            sum(cost_usd) AS daily_cost,
            count(*) FILTER (WHERE status = 'error') AS error_count,
            round((count(*) FILTER (WHERE status = 'error'))::numeric / count(*) * 100, 2)
                AS error_rate_pct
        FROM outcomes
        WHERE execution_time > now() - INTERVAL '30 days'
        GROUP BY 1
        ORDER BY day DESC
    """,
    "v_dashboard_cost_analysis": """
        SELECT
            date_trunc('day', o.execution_time) AS day,
            cv.parsed_config ->> 'model' AS model,
            count(*) AS executions,
            sum(o.cost_usd) AS total_cost,
            avg(o.cost_usd) AS avg_cost_per_execution,
            sum(o.tokens_used) AS total_tokens,
            avg(o.tokens_used) AS avg_tokens_per_execution
        FROM outcomes o
        JOIN simulations s ON o.simulation_id = s.simulation_id
        JOIN config_versions cv ON s.config_version_id = cv.version_id
        WHERE o.execution_time > now() - INTERVAL '30 days'
        GROUP BY 1, 2
        ORDER BY day DESC, total_cost DESC
    """,
    "v_system_performance": """
        SELECT
            date_trunc('hour', created_at) AS hour,
            count(*) AS total_simulations,
            avg(execution_time_ms) AS avg_execution_time,
            sum(total_cost_usd) AS total_cost,
            sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed_count,
            avg(overall_score) AS avg_score
        FROM simulations
        WHERE created_at > now() - INTERVAL '24 hours'
        GROUP BY 1
        ORDER BY hour
    """,
    "v_active_simulations": """
        SELECT
            s.simulation_id,
            s.simulation_name,
            s.status,
            s.completed_scenarios,
            s.total_scenarios,
            round((s.completed_scenarios::numeric / s.total_scenarios * 100), 2) AS progress_pct,
            EXTRACT(EPOCH FROM now() - s.started_at) AS runtime_seconds,
            cv.parsed_config ->> 'model' AS model
        FROM simulations s
        JOIN config_versions cv ON s.config_version_id = cv.version_id
        WHERE s.status IN ('pending', 'running')
        ORDER BY s.created_at
    """,
    "v_error_rates": """
        SELECT
            date_trunc('day', o.created_at) AS day,
            o.scenario_id,
            count(*) AS total_runs,
            sum(CASE WHEN o.status = 'error' THEN 1 ELSE 0 END) AS error_count,
            round(sum(CASE WHEN o.status = 'error' THEN 1 ELSE 0 END)::numeric / count(*) * 100, 2)
                AS error_rate_pct
        FROM outcomes o
        WHERE o.created_at > now() - INTERVAL '7 days'
        GROUP BY 1, 2
        HAVING count(*) >= 10
        ORDER BY day DESC, error_rate_pct DESC
    """,
}

TRIGGER_ANALYSIS = """
CREATE OR REPLACE FUNCTION trigger_llm_recommendation_analysis(
    analysis_window INTERVAL DEFAULT '7 days',
    user_id_param UUID DEFAULT NULL
) RETURNS UUID
LANGUAGE plpgsql AS $$
DECLARE
    v_session_id UUID := uuid_generate_v4();
    v_user_id UUID;
    v_outcomes INTEGER;
    v_patterns INTEGER;
    v_setting TEXT := NULLIF(current_setting('app.user_id', true), '');
BEGIN
    v_user_id := COALESCE(
        user_id_param,
        CASE WHEN v_setting ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
             THEN v_setting::uuid END,
        '00000000-0000-0000-0000-000000000000'::uuid
    );
    INSERT INTO llm_recommendation_sessions (
        session_id, user_id, analysis_start_time, analysis_end_time,
        data_window_start, data_window_end, llm_model, total_outcomes_analyzed, session_status
    ) VALUES (
        v_session_id, v_user_id, clock_timestamp(), clock_timestamp(),
        now() - analysis_window, now(), 'gpt-4-turbo', 0, 'running'
    );

    SELECT count(*) INTO v_outcomes FROM outcomes
     WHERE execution_time > now() - analysis_window;
    SELECT count(*) INTO v_patterns FROM failure_patterns
     WHERE execution_time > now() - analysis_window;

    UPDATE llm_recommendation_sessions
       SET total_outcomes_analyzed = v_outcomes,
           patterns_identified = v_patterns,
           session_status = 'completed',
           analysis_end_time = clock_timestamp()
     WHERE session_id = v_session_id;
    RETURN v_session_id;
END;
$$
"""


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    for name, query in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW {name} WITH (security_invoker = true) AS {query}")
    op.execute(TRIGGER_ANALYSIS)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS trigger_llm_recommendation_analysis(INTERVAL, UUID)")
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
