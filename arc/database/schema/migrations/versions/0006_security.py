"""Roles, grants, row-level security and audit triggers (seed 004 §2 and §4A).

- Roles app_user (read/write, no DELETE), app_admin (everything), app_readonly (SELECT) are
  NOLOGIN group roles: grant them to login roles. Roles are cluster-wide, so they are created
  only if absent, and dropped on downgrade only when no other database still uses them.
- RLS on the tenant tables (configurations, config_versions, config_diffs, simulations,
  simulations_scenarios, llm_recommendation_sessions), keyed on `app.user_id`. The seed's
  `current_setting('app.user_id')::uuid` raises when the setting is unset; here an unset or
  empty setting means "no tenant": no rows, no error. Policies apply to app_user and
  app_readonly; app_admin has a see-everything policy. The table owner (the migration role,
  used by workers and services) is not subject to RLS, as PostgreSQL intends.
- Audit: one SECURITY DEFINER trigger function writes audit_log rows for configurations,
  config_versions and config_diffs. The seed's version inserted text into the uuid user_id
  and failed when app.user_id was unset; this one stores NULL then (and for a malformed id),
  records the client address and application_name, and leaves embeddings out of the copy.
  audit_log is append-only for app_user (no direct INSERT/UPDATE/DELETE), and a tenant role
  reads only the audit rows of its own changes (RLS on audit_log).
- A malformed app.user_id counts as no tenant (no rows), like an unset one.
- validate_user_access() runs as the invoker: inside a SECURITY DEFINER function current_user
  is the owner, which made the seed's admin test true for everyone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("app_user", "app_admin", "app_readonly")
AUDITED = ("configurations", "config_versions", "config_diffs")

_OWN_CONFIGS = "SELECT c.config_id FROM configurations c WHERE c.user_id = arc_current_user_id()"
_OWN_VERSIONS = (
    "SELECT cv.version_id FROM config_versions cv JOIN configurations c "
    "ON c.config_id = cv.config_id WHERE c.user_id = arc_current_user_id()"
)
# table -> row predicate of the tenant in app.user_id
TENANT_PREDICATES = {
    "configurations": "user_id = arc_current_user_id()",
    "config_versions": f"config_id IN ({_OWN_CONFIGS})",
    "config_diffs": f"config_id IN ({_OWN_CONFIGS})",
    "simulations": f"config_version_id IN ({_OWN_VERSIONS})",
    "simulations_scenarios": (
        f"simulation_id IN (SELECT s.simulation_id FROM simulations s "
        f"WHERE s.config_version_id IN ({_OWN_VERSIONS}))"
    ),
    "llm_recommendation_sessions": "user_id = arc_current_user_id()",
}


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    for role in ROLES:
        op.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
            f"THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"
        )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION arc_current_user_id() RETURNS uuid
        LANGUAGE sql STABLE AS $$
            SELECT CASE
                WHEN current_setting('app.user_id', true)
                     ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN current_setting('app.user_id', true)::uuid
            END
        $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION validate_user_access(target_user_id uuid) RETURNS boolean
        LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, public AS $$
            SELECT COALESCE(target_user_id = arc_current_user_id(), false)
                OR pg_has_role(current_user, 'app_admin', 'USAGE')
        $$
        """
    )
    # grants
    op.execute("GRANT USAGE ON SCHEMA public TO app_user, app_admin, app_readonly")
    op.execute("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO app_user")
    op.execute("REVOKE INSERT, UPDATE ON audit_log FROM app_user")
    # A tenant reads only the audit rows of its own changes (old/new data hold whole rows).
    op.execute("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY audit_log_tenant_read ON audit_log FOR SELECT TO app_user, app_readonly "
        "USING (user_id = arc_current_user_id())"
    )
    op.execute(
        "CREATE POLICY audit_log_admin_access ON audit_log FOR ALL TO app_admin "
        "USING (true) WITH CHECK (true)"
    )
    op.execute("GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO app_admin")
    op.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_readonly")
    op.execute(
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO app_user, app_admin, app_readonly"
    )
    # row-level security
    for table, predicate in TENANT_PREDICATES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} FOR ALL "
            f"TO app_user, app_readonly USING ({predicate}) WITH CHECK ({predicate})"
        )
        op.execute(
            f"CREATE POLICY {table}_admin_access ON {table} FOR ALL TO app_admin "
            "USING (true) WITH CHECK (true)"
        )
    # audit
    op.execute(
        """
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
    )
    for table in AUDITED:
        op.execute(
            f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION arc_audit_row()"
        )


def downgrade() -> None:
    for table in AUDITED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    op.execute("DROP FUNCTION IF EXISTS arc_audit_row()")
    op.execute("DROP POLICY IF EXISTS audit_log_admin_access ON audit_log")
    op.execute("DROP POLICY IF EXISTS audit_log_tenant_read ON audit_log")
    op.execute("ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY")
    for table in TENANT_PREDICATES:
        op.execute(f"DROP POLICY IF EXISTS {table}_admin_access ON {table}")
        op.execute(f"DROP POLICY IF EXISTS {table}_tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS validate_user_access(uuid)")
    op.execute("DROP FUNCTION IF EXISTS arc_current_user_id()")
    roles = ", ".join(ROLES)
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {roles}")
    op.execute(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {roles}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {roles}")
    for role in ROLES:
        # Other databases of the cluster may still grant to the role: then it stays.
        op.execute(
            f"DO $$ BEGIN DROP ROLE IF EXISTS {role}; "
            "EXCEPTION WHEN dependent_objects_still_exist THEN "
            f"RAISE NOTICE 'role {role} is still used elsewhere; kept'; END $$"
        )
