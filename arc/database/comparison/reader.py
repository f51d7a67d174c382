"""Reads of the statistics views (migration 0007): subjects, per-scenario statistics, versions.

Every read goes through the `v_*_stats_*` views: real-time on both editions, and limited to the
configuration versions the caller may read. Cells (one per bucket) are combined exactly: the
mean from the sums, the sum of squared deviations as sum(ss_i) + sum(n_i (mean_i - mean)^2).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.analytics.windows import WEEK, ceil_time, floor_time
from arc.database.comparison.metrics import Metric
from arc.database.comparison.results import Subject
from arc.database.core.errors import ArcNotFoundError

Kind = Literal["version", "simulation"]
# kind -> (view, subject column, bucket column)
SOURCES: dict[Kind, tuple[str, str, str]] = {
    "version": ("v_version_scenario_stats_daily", "config_version_id", "day"),
    "simulation": ("v_outcome_stats_hourly", "simulation_id", "hour"),
}
BEGINNING = datetime.min.replace(tzinfo=UTC)  # an open window starts here
END_OF_TIME = datetime.max.replace(tzinfo=UTC)  # and ends here
# Whole weeks of the version x scenario statistics (migration 0012).
WEEKLY_VIEW = "v_version_scenario_stats_weekly"


@dataclass(frozen=True)
class GroupStats:
    """One subject on one scenario: sample size, successes, and the metric's mean and SS."""

    n: int
    success_n: int
    mean: float | None
    ss: float | None

    @property
    def variance(self) -> float | None:
        """Sample variance (n - 1 in the denominator)."""
        if self.ss is None or self.n < 2:
            return None
        return max(0.0, self.ss) / (self.n - 1)


_SUBJECT_VERSION = text(
    """
    SELECT cv.version_id, cv.config_id, c.name AS config_name, cv.version_number,
           cv.parsed_config ->> 'model' AS model, NULL::uuid AS simulation_id,
           NULL::text AS simulation_name
    FROM config_versions cv JOIN configurations c ON c.config_id = cv.config_id
    WHERE cv.version_id = ANY(:ids)
    """
)
_SUBJECT_SIMULATION = text(
    """
    SELECT cv.version_id, cv.config_id, c.name AS config_name, cv.version_number,
           cv.parsed_config ->> 'model' AS model, s.simulation_id, s.simulation_name
    FROM simulations s
    JOIN config_versions cv ON cv.version_id = s.config_version_id
    JOIN configurations c ON c.config_id = cv.config_id
    WHERE s.simulation_id = ANY(:ids)
    """
)


async def subjects(
    conn: AsyncConnection, kind: Kind, ids: Sequence[uuid.UUID], fields: Sequence[str]
) -> list[Subject]:
    """The subjects in the order asked; one not visible to the caller is not found.

    Under row-level security another tenant's version or simulation is as absent as an
    unknown one: the error does not tell them apart.
    """
    query = _SUBJECT_VERSION if kind == "version" else _SUBJECT_SIMULATION
    rows = {
        (r.version_id if kind == "version" else r.simulation_id): r
        for r in await conn.execute(query, {"ids": list(ids)})
    }
    found: list[Subject] = []
    for subject_id, field in zip(ids, fields, strict=True):
        row = rows.get(subject_id)
        if row is None:
            raise ArcNotFoundError("config_version" if kind == "version" else "simulation", field)
        found.append(
            Subject(
                kind=kind,
                version_id=row.version_id,
                config_id=row.config_id,
                config_name=row.config_name,
                version_number=int(row.version_number),
                model=row.model,
                simulation_id=row.simulation_id,
                simulation_name=row.simulation_name,
            )
        )
    return found


_OWNED_VERSIONS = text(
    """
    SELECT cv.version_id AS id FROM config_versions cv
    JOIN configurations c ON c.config_id = cv.config_id
    WHERE cv.version_id = ANY(:ids) AND c.user_id = :tenant
    """
)
_OWNED_SIMULATIONS = text(
    """
    SELECT s.simulation_id AS id FROM simulations s
    JOIN config_versions cv ON cv.version_id = s.config_version_id
    JOIN configurations c ON c.config_id = cv.config_id
    WHERE s.simulation_id = ANY(:ids) AND c.user_id = :tenant
    """
)


async def check_tenant(
    conn: AsyncConnection,
    kind: Kind,
    ids: Sequence[uuid.UUID],
    fields: Sequence[str],
    tenant: uuid.UUID,
) -> None:
    """Each subject must be the tenant's: explicit, for a role that row-level security does
    not bind (the owner, app_admin). Another tenant's subject is not found, as under RLS."""
    query = _OWNED_VERSIONS if kind == "version" else _OWNED_SIMULATIONS
    owned = {r.id for r in await conn.execute(query, {"ids": list(ids), "tenant": tenant})}
    for subject_id, field in zip(ids, fields, strict=True):
        if subject_id not in owned:
            raise ArcNotFoundError("config_version" if kind == "version" else "simulation", field)


# A group whose spread is below this share of its mean's square (variance / mean^2, about)
# is re-read with the exact two-pass combination: the one-pass between-cell term
# sum(s_i^2 / n_i) - S^2 / N loses about log10(mean^2 / variance) of float8's 16 digits, so
# above this share at least 12 remain, beyond the 1e-9 the views must match the raw rows to.
ONE_PASS_MIN_SPREAD = 1e-4
# For the rest of the reading transaction (no effect outside one).
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


def scenario_stats_query(
    *,
    kind: Kind,
    subject_ids: Sequence[uuid.UUID],
    metric: Metric,
    start: datetime | None,
    end: datetime | None,
    scenarios: Sequence[str] | None,
    exact: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of scenario_stats (the tests EXPLAIN it to show which raw rows
    it reads: none of a materialised bucket). `exact`: the two-pass combination of the cells
    (a sort and a window), for the groups the one-pass sums cannot give to 1e-9."""
    column = metric.column or "reliability"
    if metric.column is None:  # counts: one hash aggregation
        combine = """
            SELECT subject, scenario_id, sum(n)::bigint AS n, sum(success_n)::bigint AS success_n,
                   NULL::float8 AS s, NULL::float8 AS within, NULL::float8 AS q
            FROM cells GROUP BY 1, 2
        """
    elif not exact:
        # One hash aggregation: the sums, the cells' SS and sum(s_i^2 / n_i); the between-cell
        # SS is q - S^2 / N (see ONE_PASS_MIN_SPREAD for when that is not precise enough).
        # Measured on the benchmark's 30,000 daily cells: half the time of the exact form.
        combine = """
            SELECT subject, scenario_id, sum(n)::bigint AS n, sum(success_n)::bigint AS success_n,
                   sum(s) AS s, sum(ss) AS within, sum(s * s / n) AS q
            FROM cells GROUP BY 1, 2
        """
    else:
        # One sort, one pass: each cell's deviation from its group's mean, taken from a window
        # over the same partition ("C" collation: byte order, the cheap sort).
        combine = """
            SELECT subject, scenario_id, sum(n)::bigint AS n, sum(success_n)::bigint AS success_n,
                   sum(s) AS s, sum(ss + n * (s / n - grand) ^ 2) AS within, NULL::float8 AS q
            FROM (
                SELECT subject, scenario_id COLLATE "C" AS scenario_id, n, success_n, s, ss,
                       sum(s) OVER w / sum(n) OVER w AS grand
                FROM cells
                WINDOW w AS (PARTITION BY subject, scenario_id COLLATE "C")
            ) weighed
            GROUP BY subject, scenario_id
        """
    params: dict[str, Any] = {
        "subjects": list(subject_ids),
        "start": start or BEGINNING,
        "end": end,
        "scenarios": list(scenarios or []),
        # the whole weeks of the window (versions)
        "week_start": ceil_time(start, WEEK) if start is not None else BEGINNING,
        "week_end": floor_time(end, WEEK) if end is not None else END_OF_TIME,
    }
    return f"WITH {_cells(kind, column, end, scenarios)} {combine}", params


def _cells(
    kind: Kind,
    column: str,
    end: datetime | None,
    scenarios: Sequence[str] | None,
) -> str:
    """The CTEs ending in `cells` (subject, scenario_id, n, success_n, s, ss): one statistics
    cell per bucket of the window [:start, :end).

    Versions: the whole weeks of the window that the weekly aggregate holds for the subjects
    (up to its last week with their data: a week is materialised whole, after the ones
    before it), and the days around them from the daily view. 30 days of one version on a
    scenario are 4 or 5 cells instead of 30.
    """
    view, subject, bucket = SOURCES[kind]
    scenario_filter = "AND scenario_id = ANY(:scenarios)" if scenarios is not None else ""
    end_filter = f"AND {bucket} < :end" if end is not None else ""
    stats = f"n, success_n, sum_{column} AS s, ss_{column} AS ss"
    where = f"{subject} = ANY(:subjects) AND {bucket} >= :start {end_filter} {scenario_filter}"
    if kind == "simulation":
        return (
            f"cells AS (SELECT {subject} AS subject, scenario_id, {stats} FROM {view} "
            f"WHERE {where})"
        )
    return f"""
        weeks AS (
            SELECT {subject} AS subject, scenario_id, week, {stats}
            FROM {WEEKLY_VIEW}
            WHERE {subject} = ANY(:subjects) AND week >= :week_start AND week < :week_end
                  {scenario_filter}
        ), covered AS (
            SELECT COALESCE(max(week) + INTERVAL '7 days', :week_start) AS until FROM weeks
        ), cells AS (
            SELECT subject, scenario_id, n, success_n, s, ss FROM weeks
            UNION ALL
            SELECT {subject}, scenario_id, {stats} FROM {view}
            WHERE {where}
                  AND ({bucket} < :week_start OR {bucket} >= (SELECT until FROM covered))
        )
    """


def _group(
    n: int, success_n: int, s: float | None, within: float | None, q: float | None
) -> tuple[GroupStats, bool]:
    """The statistics of one result row, and whether the one-pass SS is too imprecise."""
    if s is None or within is None:  # counts only
        return GroupStats(n=n, success_n=success_n, mean=None, ss=None), False
    ss = within
    imprecise = False
    if q is not None:  # one pass: add the between-cell SS, and judge its precision
        scale = s * s / n
        ss = within + max(0.0, q - scale)
        imprecise = ss <= ONE_PASS_MIN_SPREAD * scale
    return GroupStats(n=n, success_n=success_n, mean=s / n, ss=ss), imprecise


async def scenario_stats(
    conn: AsyncConnection,
    *,
    kind: Kind,
    subject_ids: Sequence[uuid.UUID],
    metric: Metric,
    start: datetime | None,
    end: datetime | None,
    scenarios: Sequence[str] | None,
) -> dict[tuple[uuid.UUID, str], GroupStats]:
    """(subject, scenario) -> combined statistics over the window [start, end) (whole buckets).

    Cells combine exactly: the mean from the sums; the sum of squared deviations as
    sum(ss_i) + sum(n_i * (mean_i - mean)^2). One hash aggregation computes the latter as
    sum(s_i^2 / n_i) - S^2 / N; the scenarios whose spread is too small beside their mean for
    that to keep its digits (ONE_PASS_MIN_SPREAD) are read again with the two-pass form.
    """

    query = partial(
        scenario_stats_query,
        kind=kind,
        subject_ids=subject_ids,
        metric=metric,
        start=start,
        end=end,
    )

    found: dict[tuple[uuid.UUID, str], GroupStats] = {}
    imprecise: set[str] = set()
    # Planned with its parameters every time: the sixth run of a prepared statement is
    # otherwise planned generically once, without chunk exclusion (three times a comparison).
    await conn.execute(text(CUSTOM_PLANS))
    sql, params = query(scenarios=scenarios)
    # Tuples, not attribute access on rows: a tenth of the time for 1,000 groups.
    for subject, scenario, *sums in (await conn.execute(text(sql), params)).all():
        found[(subject, scenario)], redo = _group(*sums)
        if redo:
            imprecise.add(scenario)
    if imprecise:
        sql, params = query(scenarios=sorted(imprecise), exact=True)
        for subject, scenario, *sums in (await conn.execute(text(sql), params)).all():
            found[(subject, scenario)], _ = _group(*sums)
    return found


@dataclass(frozen=True)
class VersionTotals:
    """A version over a window: executions, the sums behind its means, its latency histogram."""

    version_id: uuid.UUID
    config_id: uuid.UUID
    config_name: str
    version_number: int
    model: str | None
    n: int
    success_n: int
    sum_reliability: float
    sum_cost: float
    sum_time_ms: float
    latency_hist: tuple[int, ...]


async def version_totals(
    conn: AsyncConnection,
    *,
    start: datetime | None,
    end: datetime | None,
    config_id: uuid.UUID | None = None,
    version_ids: Sequence[uuid.UUID] | None = None,
    user_id: uuid.UUID | None = None,
) -> list[VersionTotals]:
    """Per visible version over [start, end) (whole days), from v_version_stats_daily."""
    filters = ["day >= :start"]
    if end is not None:
        filters.append("day < :end")
    if version_ids is not None:
        filters.append("config_version_id = ANY(:versions)")
    scope = []
    if config_id is not None:
        scope.append("cv.config_id = :config_id")
    if user_id is not None:
        scope.append("c.user_id = :user_id")
    config_filter = f"WHERE {' AND '.join(scope)}" if scope else ""
    sql = f"""
        WITH rows_in AS (
            SELECT * FROM v_version_stats_daily WHERE {" AND ".join(filters)}
        ), totals AS (
            SELECT config_version_id, sum(n)::bigint AS n, sum(success_n)::bigint AS success_n,
                   sum(sum_reliability) AS sum_reliability, sum(sum_cost) AS sum_cost,
                   sum(sum_time_ms) AS sum_time_ms
            FROM rows_in GROUP BY config_version_id
        ), latency AS (
            SELECT config_version_id, array_agg(total ORDER BY i) AS hist
            FROM (
                SELECT r.config_version_id, u.i, sum(u.x)::bigint AS total
                FROM rows_in r, unnest(r.latency_hist) WITH ORDINALITY AS u(x, i)
                GROUP BY 1, 2
            ) per_bucket
            GROUP BY config_version_id
        )
        SELECT t.*, l.hist, cv.config_id, c.name AS config_name, cv.version_number,
               cv.parsed_config ->> 'model' AS model
        FROM totals t
        JOIN latency l USING (config_version_id)
        JOIN config_versions cv ON cv.version_id = t.config_version_id
        JOIN configurations c ON c.config_id = cv.config_id
        {config_filter}
        ORDER BY c.name, cv.version_number
    """
    params: dict[str, Any] = {
        "start": start or BEGINNING,
        "end": end,
        "config_id": config_id,
        "user_id": user_id,
        "versions": list(version_ids or []),
    }
    return [
        VersionTotals(
            version_id=r.config_version_id,
            config_id=r.config_id,
            config_name=r.config_name,
            version_number=int(r.version_number),
            model=r.model,
            n=int(r.n),
            success_n=int(r.success_n),
            sum_reliability=float(r.sum_reliability),
            sum_cost=float(r.sum_cost),
            sum_time_ms=float(r.sum_time_ms),
            latency_hist=tuple(int(x) for x in r.hist),
        )
        for r in await conn.execute(text(sql), params)
    ]
