"""Security, closed (issue 12, item 4): tenant isolation everywhere a tenant role can reach,
the ingest worker role, pinned SECURITY DEFINER functions, signed tenant tokens.

What 0006-0008 left open, and what closes it (docs/security.md has the whole model):

- The audit trigger ran as its owner with `search_path = pg_catalog, public`, so pg_temp was
  searched first: a tenant's temporary `audit_log` (with a trigger of its own) received the
  audit insert and ran the tenant's code as the owner. Every SECURITY DEFINER function now pins
  `search_path = pg_catalog, public, pg_temp` and schema-qualifies what it uses; arc_audit_row
  refuses to run for any table but the three audited ones, and nobody but its owner may
  EXECUTE it (creating a trigger needs EXECUTE, firing one does not).
- Hypertables cannot carry row-level security here: TimescaleDB refuses it together with
  compression (full edition: "columnstore cannot be used on table with row security"), and it
  never copies RLS to chunks, so a SELECT grant on outcomes let a tenant read every tenant's
  rows from `_timescaledb_internal._hyper_*` directly. Tenant roles now hold no privilege on
  outcomes, tool_usage and failure_patterns (TimescaleDB propagates the REVOKE to chunks and
  compressed hypertables) and read them through `v_outcomes`, `v_tool_usage` and
  `v_failure_patterns`: security-barrier views with the owner's rights that keep the rows of
  the simulations the caller can see (`arc_visible_simulation_ids()` is plpgsql and runs as the
  caller, so RLS on simulations decides; the owner and app_admin see every simulation). The
  0005 views read these views instead of the hypertables.
- The 0004 aggregates mix tenants and cannot carry RLS; the grant also reached their
  materialization hypertables and `_direct_view_*` (raw rows, owner's rights). Not granted to
  tenant roles any more (0007's already were not).
- recommendations: RLS, tenant through config_id, or through source_id -> its session when
  config_id is NULL.
- Writes: a tenant row may refer only to the tenant's own rows (foreign key checks run as the
  owner and ignore RLS), e.g. a diff between another tenant's versions or a configuration whose
  latest version is someone else's is refused.
- scenarios (shared) and alembic_version are read-only for tenant roles.
- app_worker: NOLOGIN group role for ingest, cross-tenant by design (sandbox workers run every
  tenant's evaluations), with exactly what arc.database.ingest writes and reads; no DDL, no
  DELETE, no UPDATE of identity columns, nothing on approvals, diffs, recommendations or audit.
  New scenario ids only (INSERT ... ON CONFLICT DO NOTHING): it cannot rewrite a scenario.
- app_admin keeps SELECT/INSERT/UPDATE/DELETE but loses TRUNCATE (bypasses RLS and the audit
  triggers), TRIGGER (runs its code as whoever writes the table) and REFERENCES; audit_log,
  alembic_version, views and aggregates are read-only for it.
- pg_stat_statements (when installed) is not readable by tenant roles or the worker, and
  pg_stat_statements_reset() only by its owner (0006 granted EXECUTE on every function).
- Signed tenant tokens: `tenant_token_config` holds one HMAC-SHA256 key; arc_issue_tenant_token
  (app_admin) signs (user, expiry); a session presenting `app.tenant_token` acts as the signed
  user and nobody else. With `required` set, a bare `app.user_id` counts as no tenant.

Downgrade restores 0008's privileges, policies, views and functions exactly.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from arc.database.schema.revisions import earlier_revision

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


REV_0005 = earlier_revision("0005_views_functions.py")
REV_0006 = earlier_revision("0006_security.py")

HYPERTABLES = ("outcomes", "tool_usage", "failure_patterns")
DASHBOARD_AGGREGATES = (
    "simulation_performance_hourly",
    "failure_trends_daily",
    "tool_performance_daily",
)
VIEWS_0005: tuple[str, ...] = tuple(REV_0005.VIEWS)
# The tables of 0002 (the twelve), which 0006 granted ALL to app_admin.
TABLES_0002 = (
    "audit_log",
    "configurations",
    "config_versions",
    "config_diffs",
    "scenarios",
    "simulations",
    "simulations_scenarios",
    "outcomes",
    "tool_usage",
    "failure_patterns",
    "recommendations",
    "llm_recommendation_sessions",
)
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# 64 bytes from four random UUIDs (gen_random_uuid draws from the strong random source):
# 488 random bits, without pgcrypto.
RANDOM_SECRET = (
    "pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::text"
    " || pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text"
    " || pg_catalog.gen_random_uuid()::text, '-', ''), 'hex')"
)
PINNED = "SET search_path = pg_catalog, public, pg_temp"

# ------------------------------------------------------------------------------ tenant rules
ME = "(SELECT public.arc_current_user_id())"  # an InitPlan: evaluated once per statement
OWN_CONFIGS = f"SELECT c.config_id FROM public.configurations c WHERE c.user_id = {ME}"
OWN_VERSIONS = (
    "SELECT cv.version_id FROM public.config_versions cv JOIN public.configurations c "
    f"ON c.config_id = cv.config_id WHERE c.user_id = {ME}"
)
OWN_SIMULATIONS = (
    "SELECT s.simulation_id FROM public.simulations s "
    f"WHERE s.config_version_id IN ({OWN_VERSIONS})"
)
OWN_SESSIONS = (
    f"SELECT l.session_id FROM public.llm_recommendation_sessions l WHERE l.user_id = {ME}"
)
OWN_DIFFS = f"SELECT d.diff_id FROM public.config_diffs d WHERE d.config_id IN ({OWN_CONFIGS})"


def _version_of(column: str) -> str:
    return (
        f"{column} IN (SELECT cv.version_id FROM public.config_versions cv "
        "WHERE cv.config_id = config_diffs.config_id)"
    )


RECOMMENDATION_VISIBLE = (
    f"config_id IN ({OWN_CONFIGS}) OR (config_id IS NULL AND source_id IN ({OWN_SESSIONS}))"
)
# table -> (USING: the rows the tenant sees, WITH CHECK: the rows it may write)
POLICIES: dict[str, tuple[str, str]] = {
    "configurations": (
        f"user_id = {ME}",
        # its latest (approved) version must be one of its own versions
        f"user_id = {ME} AND (latest_version_id IS NULL "
        "OR public.arc_is_own_version(latest_version_id, config_id))",
    ),
    "config_versions": (f"config_id IN ({OWN_CONFIGS})", f"config_id IN ({OWN_CONFIGS})"),
    "config_diffs": (
        f"config_id IN ({OWN_CONFIGS})",
        f"config_id IN ({OWN_CONFIGS}) AND {_version_of('version_before')} "
        f"AND {_version_of('version_after')} AND (recommendation_id IS NULL OR "
        "recommendation_id IN (SELECT r.recommendation_id FROM public.recommendations r))",
    ),
    "simulations": (
        f"config_version_id IN ({OWN_VERSIONS})",
        f"config_version_id IN ({OWN_VERSIONS})",
    ),
    "simulations_scenarios": (
        f"simulation_id IN ({OWN_SIMULATIONS})",
        f"simulation_id IN ({OWN_SIMULATIONS})",
    ),
    "llm_recommendation_sessions": (f"user_id = {ME}", f"user_id = {ME}"),
    "recommendations": (
        RECOMMENDATION_VISIBLE,
        # about its own configuration (or none), citing its own session, simulation or diff
        f"(config_id IN ({OWN_CONFIGS}) AND (source_id IN ({OWN_SESSIONS}) "
        f"OR source_id IN ({OWN_SIMULATIONS}) OR source_id IN ({OWN_DIFFS}))) "
        f"OR (config_id IS NULL AND source_id IN ({OWN_SESSIONS}))",
    ),
}
AUDIT_READ = f"user_id = {ME}"

# ------------------------------------------------------------------------------ the worker
# What arc.database.ingest (ArcDBClient, ArcAPI, the recorder, lifecycle events) reads and
# writes, table by table. SELECT also serves RETURNING, ON CONFLICT and FOR NO KEY UPDATE reads.
WORKER_SELECT_COLUMNS = {
    # get_active_configurations: which version of which configuration to run
    "configurations": ("config_id", "name", "modal_app_id", "latest_version_id", "is_active"),
    "config_versions": (
        "version_id",
        "version_number",
        "parsed_config",
        "modal_deployment_id",
        "is_deleted",
    ),
}
WORKER_TABLES = {
    # table -> (table privileges, columns it may UPDATE)
    "scenarios": ("SELECT, INSERT", ()),
    "simulations": (
        "SELECT, INSERT",
        (
            "status",
            "started_at",
            "completed_at",
            "completed_scenarios",
            "overall_score",
            "total_cost_usd",
            "execution_time_ms",
            "metadata",
            "modal_app_id",
        ),
    ),
    "simulations_scenarios": (
        "SELECT, INSERT",
        ("status", "started_at", "completed_at", "modal_call_id"),
    ),
    "outcomes": ("SELECT, INSERT", ()),
    "tool_usage": ("SELECT, INSERT", ()),
    "failure_patterns": ("SELECT, INSERT", ()),
}
# RLS tables the worker reaches: every tenant's rows (a platform service), per command.
WORKER_POLICIES = {
    "configurations": ("SELECT",),
    "config_versions": ("SELECT",),
    "simulations": ("SELECT", "INSERT", "UPDATE"),
    "simulations_scenarios": ("SELECT", "INSERT", "UPDATE"),
}

# ------------------------------------------------------------------------------ privileges
# (privileges, objects, roles) that 0006/0007 granted and this revision takes back; downgrade
# grants exactly these again.
ADMIN_EXTRAS = "TRUNCATE, REFERENCES, TRIGGER"
READ_ONLY_FOR_ADMIN = ("alembic_version", *VIEWS_0005, *DASHBOARD_AGGREGATES)
TAKEN_BACK: list[tuple[str, tuple[str, ...], str]] = [
    ("SELECT, INSERT, UPDATE", (*HYPERTABLES, *DASHBOARD_AGGREGATES), "app_user"),
    ("SELECT", (*HYPERTABLES, *DASHBOARD_AGGREGATES), "app_readonly"),
    ("INSERT, UPDATE", ("scenarios", "alembic_version", *VIEWS_0005), "app_user"),
    (ADMIN_EXTRAS, TABLES_0002, "app_admin"),
    ("INSERT, UPDATE, DELETE", ("audit_log",), "app_admin"),
    (f"INSERT, UPDATE, DELETE, {ADMIN_EXTRAS}", READ_ONLY_FOR_ADMIN, "app_admin"),
]
STATEMENTS_VIEWS = ("pg_stat_statements", "pg_stat_statements_info")
# what 0001/0006 left on them: (privileges, role)
STATEMENTS_GRANTS = [
    ("SELECT", "PUBLIC"),
    ("SELECT, INSERT, UPDATE", "app_user"),
    ("SELECT", "app_readonly"),
    (f"INSERT, UPDATE, DELETE, {ADMIN_EXTRAS}", "app_admin"),
]
STATEMENTS_FUNCTIONS = ("pg_stat_statements(boolean)", "pg_stat_statements_info()")
STATEMENTS_RESET = "pg_stat_statements_reset(oid, oid, bigint)"
NEW_VIEWS = ("v_outcomes", "v_tool_usage", "v_failure_patterns")

# ------------------------------------------------------------------------------ functions
CURRENT_USER_ID = f"""
CREATE OR REPLACE FUNCTION public.arc_current_user_id() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER {PINNED} AS $$
DECLARE
    v_token text := NULLIF(pg_catalog.current_setting('app.tenant_token', true), '');
    v_raw text := pg_catalog.current_setting('app.user_id', true);
BEGIN
    -- A token, when presented, decides (an invalid or expired one: no tenant).
    IF v_token IS NOT NULL THEN
        RETURN public.arc_tenant_token_user(v_token);
    END IF;
    -- Deployments that require tokens do not trust a bare app.user_id.
    IF (SELECT k.required FROM public.tenant_token_config k) THEN
        RETURN NULL;
    END IF;
    IF v_raw ~* '{UUID_PATTERN}' THEN
        RETURN v_raw::pg_catalog.uuid;
    END IF;
    RETURN NULL;  -- unset, empty or malformed: no tenant
END;
$$
"""
# 0006's texts (byte for byte, so the restored functions equal the originals).
CURRENT_USER_ID_0006 = """
        CREATE OR REPLACE FUNCTION arc_current_user_id() RETURNS uuid
        LANGUAGE sql STABLE AS $$
            SELECT CASE
                WHEN current_setting('app.user_id', true)
                     ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN current_setting('app.user_id', true)::uuid
            END
        $$
        """
HMAC = f"""
CREATE FUNCTION public.arc_hmac_sha256(p_key bytea, p_message text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT {PINNED} AS $$
DECLARE
    v_key bytea := p_key;
    v_inner bytea;
    v_outer bytea;
BEGIN
    -- RFC 2104 with SHA-256 (64-byte blocks), from built-ins: no pgcrypto needed.
    IF pg_catalog.octet_length(v_key) > 64 THEN
        v_key := pg_catalog.sha256(v_key);
    END IF;
    v_key := v_key || pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.octet_length(v_key)), 'hex');
    v_inner := v_key;
    v_outer := v_key;
    FOR i IN 0..63 LOOP
        v_inner := pg_catalog.set_byte(v_inner, i, pg_catalog.get_byte(v_key, i) # 54);
        v_outer := pg_catalog.set_byte(v_outer, i, pg_catalog.get_byte(v_key, i) # 92);
    END LOOP;
    RETURN pg_catalog.sha256(
        v_outer || pg_catalog.sha256(v_inner || pg_catalog.convert_to(p_message, 'UTF8')));
END;
$$
"""
TOKEN_USER = f"""
CREATE FUNCTION public.arc_tenant_token_user(p_token text) RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER {PINNED} AS $$
DECLARE
    v_parts text[] := pg_catalog.regexp_match(p_token,
        '^([0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})\\.([0-9]{{1,12}})\\.([0-9a-f]{{64}})$');
    v_secret bytea;
    v_expected bytea;
BEGIN
    IF v_parts IS NULL OR pg_catalog.to_timestamp(v_parts[2]::bigint) <= pg_catalog.now() THEN
        RETURN NULL;
    END IF;
    SELECT k.secret INTO v_secret FROM public.tenant_token_config k;
    IF v_secret IS NULL THEN
        RETURN NULL;
    END IF;
    v_expected := public.arc_hmac_sha256(
        v_secret, pg_catalog.current_database() || ':' || v_parts[1] || '.' || v_parts[2]);
    -- Compare digests of the two MACs: how long the comparison takes says nothing about the MAC.
    IF pg_catalog.sha256(v_expected) <> pg_catalog.sha256(pg_catalog.decode(v_parts[3], 'hex')) THEN
        RETURN NULL;
    END IF;
    RETURN v_parts[1]::pg_catalog.uuid;
END;
$$
"""
ISSUE_TOKEN = f"""
CREATE FUNCTION public.arc_issue_tenant_token(
    p_user_id uuid, p_ttl interval DEFAULT INTERVAL '15 minutes'
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PINNED} AS $$
DECLARE
    v_payload text;
    v_secret bytea;
BEGIN
    IF p_user_id IS NULL THEN
        RAISE EXCEPTION 'a tenant token needs a user' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_ttl IS NULL OR p_ttl <= INTERVAL '0' OR p_ttl > INTERVAL '1 day' THEN
        RAISE EXCEPTION 'a tenant token lives more than 0 and at most 1 day, not %', p_ttl
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT k.secret INTO STRICT v_secret FROM public.tenant_token_config k;
    v_payload := p_user_id::text || '.'
        || pg_catalog.ceil(EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() + p_ttl))::bigint::text;
    RETURN v_payload || '.' || pg_catalog.encode(
        public.arc_hmac_sha256(v_secret, pg_catalog.current_database() || ':' || v_payload), 'hex');
END;
$$
"""
ROTATE_KEY = f"""
CREATE FUNCTION public.arc_rotate_tenant_token_key() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PINNED} AS $$
BEGIN
    -- Every token signed so far stops working.
    UPDATE public.tenant_token_config SET secret = {RANDOM_SECRET}, rotated_at = pg_catalog.now();
END;
$$
"""
REQUIRE_TOKENS = f"""
CREATE FUNCTION public.arc_require_tenant_tokens(p_required boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {PINNED} AS $$
BEGIN
    UPDATE public.tenant_token_config SET required = COALESCE(p_required, true);
END;
$$
"""
TOKEN_FUNCTIONS = {
    # signature -> who may EXECUTE besides the owner
    "arc_hmac_sha256(bytea, text)": (),
    "arc_tenant_token_user(text)": (),
    "arc_issue_tenant_token(uuid, interval)": ("app_admin",),
    "arc_rotate_tenant_token_key()": ("app_admin",),
    "arc_require_tenant_tokens(boolean)": ("app_admin",),
}
AUDIT_ROW = rf"""
CREATE OR REPLACE FUNCTION public.arc_audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {PINNED} AS $$
DECLARE
    v_context text := NULLIF(pg_catalog.current_setting('app.modal_call_context', true), '');
BEGIN
    -- Runs as the owner: only for the audited tables, never for a caller's own table.
    IF TG_TABLE_SCHEMA <> 'public'
       OR TG_TABLE_NAME NOT IN ('configurations', 'config_versions', 'config_diffs') THEN
        RAISE EXCEPTION 'arc_audit_row audits public.configurations, config_versions and '
                        'config_diffs only, not %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO public.audit_log (
        table_name, operation, user_id, old_data, new_data,
        ip_address, user_agent, modal_call_context, "timestamp"
    ) VALUES (
        TG_TABLE_NAME,
        TG_OP,
        public.arc_current_user_id(),
        CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) - 'embedding' END,
        CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) - 'embedding' END,
        pg_catalog.inet_client_addr(),
        NULLIF(pg_catalog.current_setting('application_name', true), ''),
        CASE WHEN v_context IS NOT NULL AND v_context ~ '^\s*\{{'
             THEN v_context::pg_catalog.jsonb END,
        pg_catalog.now()
    );
    RETURN COALESCE(NEW, OLD);
END;
$$
"""
AUDIT_ROW_0006 = """
        CREATE OR REPLACE FUNCTION arc_audit_row() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        DECLARE
            v_setting text := NULLIF(current_setting('app.user_id', true), '');
            v_context text := NULLIF(current_setting('app.modal_call_context', true), '');
        BEGIN
            INSERT INTO audit_log (
                table_name, operation, user_id, old_data, new_data,
                ip_address, user_agent, modal_call_context, "timestamp"
            ) VALUES (
                TG_TABLE_NAME,
                TG_OP,
                CASE WHEN v_setting ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                     THEN v_setting::uuid END,
                CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'embedding' END,
                CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'embedding' END,
                inet_client_addr(),
                NULLIF(current_setting('application_name', true), ''),
                CASE WHEN v_context IS NOT NULL AND v_context ~ '^\\s*\\{' THEN v_context::jsonb END,
                now()
            );
            RETURN COALESCE(NEW, OLD);
        END;
        $$
        """
HELPERS = [
    f"""
CREATE FUNCTION public.arc_visible_simulation_ids() RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY INVOKER {PINNED} AS $$
BEGIN
    -- plpgsql is never inlined: inside an owner's-rights view this still runs as the caller,
    -- so row-level security on simulations decides.
    RETURN QUERY SELECT s.simulation_id FROM public.simulations s;
END;
$$
""",
    f"""
CREATE FUNCTION public.arc_is_own_version(p_version uuid, p_config uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY INVOKER {PINNED} AS $$
BEGIN
    -- Runs as the caller (RLS on config_versions applies) in a query of its own: a policy on
    -- configurations cannot read config_versions inline (its policy reads configurations).
    RETURN EXISTS (SELECT 1 FROM public.config_versions cv
                   WHERE cv.version_id = p_version AND cv.config_id = p_config);
END;
$$
""",
]
HELPER_SIGNATURES = ("arc_visible_simulation_ids()", "arc_is_own_version(uuid, uuid)")

# The rows of the simulations the caller can see: every simulation for the owner and app_admin,
# the tenant's own for a tenant role. The IN becomes one semi-join (the function runs once per
# query, not once per chunk). Tool usage and failure patterns follow their outcome; one whose
# outcome is gone belongs to nobody and no view shows it.
_VISIBLE_OUTCOME = "o.simulation_id IN (SELECT public.arc_visible_simulation_ids())"
HYPERTABLE_VIEWS = {
    "v_outcomes": f"SELECT o.* FROM public.outcomes o WHERE {_VISIBLE_OUTCOME}",
    "v_tool_usage": f"""
        SELECT t.* FROM public.tool_usage t
        WHERE EXISTS (SELECT 1 FROM public.outcomes o
                      WHERE o.outcome_id = t.outcome_id AND o.execution_time = t.execution_time
                        AND {_VISIBLE_OUTCOME})
    """,
    "v_failure_patterns": f"""
        SELECT fp.* FROM public.failure_patterns fp
        WHERE EXISTS (SELECT 1 FROM public.outcomes o
                      WHERE o.outcome_id = fp.outcome_id AND o.execution_time = fp.execution_time
                        AND {_VISIBLE_OUTCOME})
    """,
}
_HYPERTABLE_REFERENCE = re.compile(r"\b(FROM|JOIN)\s+(outcomes|tool_usage|failure_patterns)\b")


def _tenant_safe(query: str) -> str:
    """A 0005 view's query reading the v_* views instead of the hypertables."""
    return _HYPERTABLE_REFERENCE.sub(r"\1 public.v_\2", query)


def _exists(signature_or_relation: str, kind: str) -> bool:
    function = "to_regprocedure" if kind == "function" else "to_regclass"
    found = op.get_bind().execute(
        sa.text(f"SELECT {function}(:name) IS NOT NULL"),
        {"name": f"public.{signature_or_relation}"},
    )
    return bool(found.scalar())


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    # Roles are cluster-wide: another database may be creating it at this very moment.
    op.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_worker') "
        "THEN CREATE ROLE app_worker NOLOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )

    # -- signed tenant tokens: one key, readable by its owner only (no grants, RLS, no policy)
    op.create_table(
        "tenant_token_config",
        sa.Column("singleton", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("required", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "rotated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("singleton", name=op.f("tenant_token_config_single_row_check")),
        sa.CheckConstraint(
            "octet_length(secret) >= 32", name=op.f("tenant_token_config_secret_length_check")
        ),
        sa.PrimaryKeyConstraint("singleton", name=op.f("tenant_token_config_pkey")),
    )
    op.execute("ALTER TABLE tenant_token_config ENABLE ROW LEVEL SECURITY")
    op.execute(f"INSERT INTO tenant_token_config (secret) VALUES ({RANDOM_SECRET})")
    for function in (HMAC, TOKEN_USER, ISSUE_TOKEN, ROTATE_KEY, REQUIRE_TOKENS):
        op.execute(function)
    for signature, allowed in TOKEN_FUNCTIONS.items():
        op.execute(f"REVOKE ALL ON FUNCTION public.{signature} FROM PUBLIC")
        for role in allowed:
            op.execute(f"GRANT EXECUTE ON FUNCTION public.{signature} TO {role}")
    op.execute(CURRENT_USER_ID)

    # -- the audit trigger: pinned, qualified, only for its tables, EXECUTE for nobody else
    op.execute(AUDIT_ROW)
    # (0006 granted EXECUTE on all functions before it created this one: PUBLIC only)
    op.execute("REVOKE EXECUTE ON FUNCTION public.arc_audit_row() FROM PUBLIC")

    # -- hypertables: views for tenant roles; the 0005 views read them
    for helper in HELPERS:
        op.execute(helper)
    for name, query in HYPERTABLE_VIEWS.items():
        op.execute(f"CREATE VIEW public.{name} WITH (security_barrier = true) AS {query}")
    for name, query in REV_0005.VIEWS.items():
        op.execute(
            f"CREATE OR REPLACE VIEW {name} WITH (security_invoker = true) AS {_tenant_safe(query)}"
        )

    # -- privileges taken back (TimescaleDB carries REVOKE on to chunks and internals)
    for privileges, objects, role in TAKEN_BACK:
        op.execute(f"REVOKE {privileges} ON {', '.join(objects)} FROM {role}")
    if _exists(STATEMENTS_VIEWS[0], "relation"):
        for privileges, role in STATEMENTS_GRANTS:
            op.execute(f"REVOKE {privileges} ON {', '.join(STATEMENTS_VIEWS)} FROM {role}")
        for signature in STATEMENTS_FUNCTIONS:
            op.execute(
                f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC, app_user, app_readonly"
            )
    if _exists(STATEMENTS_RESET, "function"):
        op.execute(
            f"REVOKE EXECUTE ON FUNCTION {STATEMENTS_RESET} FROM app_user, app_admin, app_readonly"
        )
    op.execute(f"GRANT SELECT ON {', '.join(NEW_VIEWS)} TO app_user, app_readonly, app_admin")

    # -- row-level security: tighter tenant rules, recommendations, audit_log read-only
    for table, (using, check) in POLICIES.items():
        if table == "recommendations":
            op.execute("ALTER TABLE recommendations ENABLE ROW LEVEL SECURITY")
            op.execute(
                "CREATE POLICY recommendations_tenant_isolation ON recommendations FOR ALL "
                f"TO app_user, app_readonly USING ({using}) WITH CHECK ({check})"
            )
            op.execute(
                "CREATE POLICY recommendations_admin_access ON recommendations FOR ALL "
                "TO app_admin USING (true) WITH CHECK (true)"
            )
        else:
            op.execute(
                f"ALTER POLICY {table}_tenant_isolation ON {table} "
                f"USING ({using}) WITH CHECK ({check})"
            )
    op.execute(f"ALTER POLICY audit_log_tenant_read ON audit_log USING ({AUDIT_READ})")
    op.execute("DROP POLICY audit_log_admin_access ON audit_log")
    op.execute(
        "CREATE POLICY audit_log_admin_read ON audit_log FOR SELECT TO app_admin USING (true)"
    )

    # -- the worker
    op.execute("GRANT USAGE ON SCHEMA public TO app_worker")
    for table, columns in WORKER_SELECT_COLUMNS.items():
        op.execute(f"GRANT SELECT ({', '.join(columns)}) ON {table} TO app_worker")
    for table, (privileges, update_columns) in WORKER_TABLES.items():
        op.execute(f"GRANT {privileges} ON {table} TO app_worker")
        if update_columns:
            op.execute(f"GRANT UPDATE ({', '.join(update_columns)}) ON {table} TO app_worker")
    for table, commands in WORKER_POLICIES.items():
        for command in commands:
            clause = "WITH CHECK (true)" if command == "INSERT" else "USING (true)"
            if command == "UPDATE":
                clause += " WITH CHECK (true)"
            op.execute(
                f"CREATE POLICY {table}_worker_{command.lower()} ON {table} FOR {command} "
                f"TO app_worker {clause}"
            )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    # -- the worker
    for table, commands in WORKER_POLICIES.items():
        for command in commands:
            op.execute(f"DROP POLICY IF EXISTS {table}_worker_{command.lower()} ON {table}")
    worker_tables = ", ".join([*WORKER_SELECT_COLUMNS, *WORKER_TABLES])
    op.execute(f"REVOKE ALL ON {worker_tables} FROM app_worker")
    op.execute("REVOKE ALL ON SCHEMA public FROM app_worker")

    # -- row-level security as 0006 left it
    op.execute("DROP POLICY IF EXISTS audit_log_admin_read ON audit_log")
    op.execute(
        "CREATE POLICY audit_log_admin_access ON audit_log FOR ALL TO app_admin "
        "USING (true) WITH CHECK (true)"
    )
    op.execute(
        "ALTER POLICY audit_log_tenant_read ON audit_log USING (user_id = arc_current_user_id())"
    )
    for table, predicate in REV_0006.TENANT_PREDICATES.items():
        op.execute(
            f"ALTER POLICY {table}_tenant_isolation ON {table} "
            f"USING ({predicate}) WITH CHECK ({predicate})"
        )
    op.execute("DROP POLICY IF EXISTS recommendations_admin_access ON recommendations")
    op.execute("DROP POLICY IF EXISTS recommendations_tenant_isolation ON recommendations")
    op.execute("ALTER TABLE recommendations DISABLE ROW LEVEL SECURITY")

    # -- privileges as 0008 had them
    if _exists(STATEMENTS_RESET, "function"):
        op.execute(
            f"GRANT EXECUTE ON FUNCTION {STATEMENTS_RESET} TO app_user, app_admin, app_readonly"
        )
    if _exists(STATEMENTS_VIEWS[0], "relation"):
        for signature in STATEMENTS_FUNCTIONS:
            op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO PUBLIC, app_user, app_readonly")
        for privileges, role in STATEMENTS_GRANTS:
            op.execute(f"GRANT {privileges} ON {', '.join(STATEMENTS_VIEWS)} TO {role}")
    for privileges, objects, role in TAKEN_BACK:
        op.execute(f"GRANT {privileges} ON {', '.join(objects)} TO {role}")

    # -- views and helpers
    for name, query in REV_0005.VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW {name} WITH (security_invoker = true) AS {query}")
    for name in reversed(NEW_VIEWS):
        op.execute(f"DROP VIEW IF EXISTS public.{name}")
    for signature in HELPER_SIGNATURES:
        op.execute(f"DROP FUNCTION IF EXISTS public.{signature}")

    # -- the audit trigger and the tenant key as 0006 wrote them
    op.execute(AUDIT_ROW_0006)
    op.execute("GRANT EXECUTE ON FUNCTION arc_audit_row() TO PUBLIC")
    op.execute(CURRENT_USER_ID_0006)
    for signature in reversed(TOKEN_FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS public.{signature}")
    op.drop_table("tenant_token_config")

    # Other databases of the cluster may still grant to the role (or be granting to it right
    # now, holding a lock on it): then it stays.
    op.execute(
        "DO $$ BEGIN DROP ROLE IF EXISTS app_worker; "
        "EXCEPTION WHEN dependent_objects_still_exist OR lock_not_available THEN "
        "RAISE NOTICE 'role app_worker is still used elsewhere; kept'; END $$"
    )
