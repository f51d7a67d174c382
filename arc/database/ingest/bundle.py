"""One bundle of outcomes with their tool usage and failure patterns, written in one
transaction, and what the caller is told about it."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.core.errors import ArcDatabaseError, ArcIntegrityError
from arc.database.repositories import (
    FailurePatternRepository,
    OutcomeRepository,
    SimulationRepository,
    ToolUsageRepository,
)
from arc.database.repositories.base import InsertReport, Row


@dataclass
class BundleResult:
    """What one write of outcomes (+ their tool usage and failure patterns) did."""

    outcome_ids: list[str] = field(default_factory=list)  # stored, in input order
    inserted: int = 0
    duplicates: int = 0
    rejected: list[ArcDatabaseError] = field(default_factory=list)  # .index = input position
    tool_usage_ids: list[str] = field(default_factory=list)
    failure_pattern_ids: list[str] = field(default_factory=list)
    scenarios_advanced: int = 0


class OutcomeIds(list[str]):
    """The ids of the stored outcomes (a list, as the seeds expect) plus what happened."""

    def __init__(self, result: BundleResult) -> None:
        super().__init__(result.outcome_ids)
        self.result = result
        self.inserted = result.inserted
        self.duplicates = result.duplicates
        self.rejected = result.rejected


@dataclass(frozen=True)
class BundleWrite:
    """The repositories' reports of one bundle transaction."""

    outcomes: InsertReport
    tool_usage: InsertReport
    failures: InsertReport
    scenarios_advanced: int


async def write_rows(
    conn: AsyncConnection,
    outcomes: Sequence[Row],
    tool_usage: Sequence[Row],
    failure_patterns: Sequence[Row],
    *,
    on_invalid: str,
    method: str,
    advance_progress: bool,
) -> BundleWrite:
    """The transaction of a bundle: outcomes first, then what refers to them, then progress.

    Tool usage and failure patterns of an outcome the database rejected are left out (and
    reported by `bundle_result`). With on_invalid="raise" the first rejection raises.
    """
    report = await OutcomeRepository(conn).insert_outcomes(
        outcomes, method=method, isolate=on_invalid == "skip"
    )
    if report.rejected and on_invalid == "raise":
        index, error = report.rejected[0]
        error.index = index
        raise error
    bad_ids = {outcomes[i]["outcome_id"] for i, _ in report.rejected}
    tools = [r for r in tool_usage if r["outcome_id"] not in bad_ids]
    failures = [r for r in failure_patterns if r["outcome_id"] not in bad_ids]
    tool_report = (
        await ToolUsageRepository(conn).insert_tool_usage(tools) if tools else InsertReport()
    )
    failure_report = (
        await FailurePatternRepository(conn).insert_failure_patterns(failures)
        if failures
        else InsertReport()
    )
    for sub in (tool_report, failure_report):
        if sub.rejected and on_invalid == "raise":
            index, error = sub.rejected[0]
            raise error
    advanced = 0
    if advance_progress and report.inserted:
        new = set(report.inserted)
        finished = [
            {
                "simulation_id": r["simulation_id"],
                "scenario_id": r["scenario_id"],
                "status": r["status"],
                "modal_call_id": r.get("modal_call_id"),
                "started_at": r["execution_time"]
                - timedelta(milliseconds=float(r["execution_time_ms"])),
                "finished_at": r["execution_time"],
            }
            for r in outcomes
            if (r["outcome_id"], r["execution_time"]) in new
        ]
        advanced = await SimulationRepository(conn).advance_progress(finished)
    return BundleWrite(report, tool_report, failure_report, advanced)


def bundle_result(
    outcomes: Sequence[Row],
    tool_usage: Sequence[Row],
    failure_patterns: Sequence[Row],
    written: BundleWrite,
) -> BundleResult:
    """What the caller learns: stored ids in input order, counts, and every rejection."""
    report, tool_report, failure_report = written.outcomes, written.tool_usage, written.failures
    advanced = written.scenarios_advanced
    rejected_at = {i for i, _ in report.rejected}
    result = BundleResult(
        outcome_ids=[str(r["outcome_id"]) for i, r in enumerate(outcomes) if i not in rejected_at],
        inserted=len(report.inserted),
        duplicates=len(report.duplicates),
        scenarios_advanced=advanced,
    )
    for index, error in report.rejected:
        error.index = index
        result.rejected.append(error)
    bad_ids = {outcomes[i]["outcome_id"] for i in rejected_at}
    for rows, sub, ids, key, table in (
        (tool_usage, tool_report, result.tool_usage_ids, "usage_id", "tool_usage"),
        (
            failure_patterns,
            failure_report,
            result.failure_pattern_ids,
            "pattern_id",
            "failure_patterns",
        ),
    ):
        kept = [r for r in rows if r["outcome_id"] not in bad_ids]
        sub_rejected = {i for i, _ in sub.rejected}
        ids.extend(str(r[key]) for i, r in enumerate(kept) if i not in sub_rejected)
        for r in rows:
            if r["outcome_id"] in bad_ids:
                result.rejected.append(
                    ArcIntegrityError("outcome_id", "its outcome was rejected", table=table)
                )
        for _, error in sub.rejected:
            error.table = table
            result.rejected.append(error)
    return result
