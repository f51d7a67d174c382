"""One bundle of outcomes with their tool usage and failure patterns, written in one
transaction, and what the caller is told about it.

- Every row is first prepared in Python (`prepare_bundle`): its ids and time, its JSON, its
  progress entry. A row that fails there is rejected with a typed error; with
  on_invalid="skip" the others are still written.
- The bundle is the unit of idempotency. An outcome id stands for one outcome: repeated inside
  a call it is stored once (inserted=1, duplicates=1); sent again without its execution_time
  (`resolve_times`), it takes the stored row's time and is a duplicate, not a second row.
  An outcome's tool usage and failure patterns are written with it, and only when this call
  stores it: a redelivered outcome (already stored, or repeated in the call with another
  time) brings nothing new.
- Outcomes of a finished simulation (completed, failed, cancelled) are refused with a typed
  error; the simulations are share-locked first, which completion waits for (see
  repositories/simulations.py).
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.core.checks import check_datetime, check_uuid
from arc.database.core.errors import ArcDatabaseError, ArcIntegrityError, ArcValidationError
from arc.database.core.jsonb import JsonText, json_dumps
from arc.database.models import FailurePattern, Outcome, ToolUsage
from arc.database.repositories import (
    FailurePatternRepository,
    OutcomeRepository,
    SimulationRepository,
    ToolUsageRepository,
)
from arc.database.repositories.base import InsertReport, Key, Row, row_rejection
from arc.database.repositories.simulations import (
    OPEN_SIMULATION_STATUSES,
    SCENARIO_STATUS_FOR_OUTCOME,
    progress_entry,
)

TABLES = ("outcomes", "tool_usage", "failure_patterns")


class typed_errors:
    """Any unexpected exception while handling one input becomes ArcValidationError naming
    `field`: one odd row must never surface as an untyped error or sink its neighbours.
    (A class, not @contextmanager: it wraps every row of a batch, and a generator-based
    context manager cost more than the checks it guards.)"""

    __slots__ = ("field", "index")

    def __init__(self, field: str, index: int | None = None) -> None:
        self.field = field
        self.index = index

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> Literal[False]:
        if exc is None or isinstance(exc, ArcDatabaseError) or not isinstance(exc, Exception):
            return False
        raise ArcValidationError(
            self.field, f"could not be processed ({type(exc).__name__}: {exc})", index=self.index
        ) from exc


@dataclass
class BundleResult:
    """What one write of outcomes (+ their tool usage and failure patterns) did.

    Each error in `rejected` carries `.table` and `.index` (the position in that table's list).
    """

    outcome_ids: list[str] = field(default_factory=list)  # stored, in input order
    inserted: int = 0
    duplicates: int = 0
    rejected: list[ArcDatabaseError] = field(default_factory=list)
    tool_usage_ids: list[str] = field(default_factory=list)
    failure_pattern_ids: list[str] = field(default_factory=list)
    scenarios_advanced: int = 0
    redelivered: int = 0  # tool usage / failure rows of an outcome already stored: not written


class OutcomeIds(list[str]):
    """The ids of the stored outcomes (a list, as the seeds expect) plus what happened."""

    def __init__(self, result: BundleResult) -> None:
        super().__init__(result.outcome_ids)
        self.result = result
        self.inserted = result.inserted
        self.duplicates = result.duplicates
        self.rejected = result.rejected


# ----------------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class _Spec:
    id_column: str
    uuids: tuple[str, ...]  # columns that must be UUIDs (the id first)
    required: tuple[str, ...]  # other columns the write path reads
    json_columns: frozenset[str]


def _spec(table: Any, id_column: str, uuids: tuple[str, ...], required: tuple[str, ...]) -> _Spec:
    columns = table.columns if isinstance(table, Table) else ()
    json_columns = frozenset(c.name for c in columns if isinstance(c.type, JSONB))
    return _Spec(id_column, (id_column, *uuids), required, json_columns)


_SPECS = {
    "outcomes": _spec(
        Outcome.__table__, "outcome_id", ("simulation_id",), ("scenario_id", "status")
    ),
    "tool_usage": _spec(ToolUsage.__table__, "usage_id", ("outcome_id",), ()),
    "failure_patterns": _spec(FailurePattern.__table__, "pattern_id", ("outcome_id",), ()),
}


# The jsonb columns of each table (the recorder's spool stores them as JSON text).
JSON_COLUMNS = {table: spec.json_columns for table, spec in _SPECS.items()}


def _prepare_row(table: str, data: Any, index: int) -> Row:
    """The row with UUID ids, an aware execution_time and serialised JSON (a copy if any of
    them had to change); raises a typed error naming the field otherwise."""
    spec = _SPECS[table]
    if not isinstance(data, Mapping):
        raise ArcValidationError(
            table, "rows must be dicts", value=type(data).__name__, index=index
        )
    changes: dict[str, Any] = {}
    for name in spec.uuids:
        value = data.get(name)
        if not isinstance(value, uuid.UUID):
            changes[name] = check_uuid(value, name, index, required=True)
    when = data.get("execution_time")
    if when is None or getattr(when, "tzinfo", None) is None:
        changes["execution_time"] = check_datetime(when, "execution_time", index, required=True)
    for name in spec.required:
        if data.get(name) is None:
            raise ArcValidationError(name, "is required", index=index)
    for name in spec.json_columns:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            with typed_errors(name, index):
                changes[name] = JsonText(json_dumps(value))
    if changes or not isinstance(data, dict):
        return {**data, **changes}
    return data


def _progress(row: Row, index: int) -> dict[str, Any]:
    """The simulations_scenarios update an outcome makes (SimulationRepository.advance_progress)."""
    if row["status"] not in SCENARIO_STATUS_FOR_OUTCOME:
        raise ArcValidationError(
            "status", f"must be one of {', '.join(SCENARIO_STATUS_FOR_OUTCOME)}", index=index
        )
    with typed_errors("execution_time_ms", index):
        duration = timedelta(milliseconds=float(row["execution_time_ms"]))
    try:
        started = row["execution_time"] - duration
    except OverflowError:
        raise ArcValidationError(
            "execution_time_ms",
            "is out of range: execution_time minus execution_time_ms is not a valid time",
            value=row["execution_time_ms"],
            index=index,
        ) from None
    return progress_entry(
        row["simulation_id"],
        row["scenario_id"],
        row["status"],
        row.get("modal_call_id"),
        started,
        row["execution_time"],
    )


@dataclass
class Prepared:
    """A bundle after the checks in Python: per table the rows (None where rejected)."""

    rows: dict[str, list[Row | None]]
    rejected: dict[str, dict[int, ArcDatabaseError]]
    progress: dict[int, dict[str, Any]]  # outcome position -> progress entry
    resolve_times: frozenset[uuid.UUID] = frozenset()  # ids whose time the caller did not give

    def raise_first(self) -> None:
        _raise_first(self.rejected)


def _raise_first(rejected: dict[str, dict[int, ArcDatabaseError]]) -> None:
    """on_invalid="raise": the first rejection (in table order, then position) raises."""
    for table in TABLES:
        if rejected[table]:
            index = min(rejected[table])
            raise _located(rejected[table][index], table, index)


def _located(error: ArcDatabaseError, table: str, index: int) -> ArcDatabaseError:
    setattr(error, "index", index)  # noqa: B010 - every row error type carries these two
    setattr(error, "table", table)  # noqa: B010
    return error


def prepare_bundle(
    outcomes: Sequence[Any],
    tool_usage: Sequence[Any],
    failure_patterns: Sequence[Any],
    *,
    advance_progress: bool,
    resolve_times: Iterable[uuid.UUID] = (),
    normalized: bool = False,
) -> Prepared:
    """Check every row in Python. Tool usage and failure patterns of an outcome rejected here
    are rejected with it. `resolve_times`: outcome ids whose execution_time was generated here
    (the caller gave the id only): if stored already, the stored time is theirs. `normalized`:
    the rows come from the `normalize_*` functions, which checked all `_prepare_row` does."""
    prepared = Prepared({}, {t: {} for t in TABLES}, {}, frozenset(resolve_times))
    for table, items in zip(TABLES, (outcomes, tool_usage, failure_patterns), strict=True):
        ready: list[Row | None] = []
        for i, item in enumerate(items):
            try:
                with typed_errors(table, i):
                    row = item if normalized else _prepare_row(table, item, i)
                    if table == "outcomes" and advance_progress:
                        prepared.progress[i] = _progress(row, i)
                ready.append(row)
            except ArcDatabaseError as exc:
                prepared.rejected[table][i] = exc
                ready.append(None)
        prepared.rows[table] = ready
    bad_ids = {_id_of(outcomes[i]) for i in prepared.rejected["outcomes"]} - {None}
    for table in TABLES[1:]:
        for i, child in enumerate(prepared.rows[table]):
            if child is not None and child["outcome_id"] in bad_ids:
                prepared.rejected[table][i] = ArcIntegrityError(
                    "outcome_id", "its outcome was rejected", table=table
                )
                prepared.rows[table][i] = None
    return prepared


def _id_of(data: Any) -> uuid.UUID | None:
    try:
        return check_uuid(data.get("outcome_id"), "outcome_id")
    except Exception:
        return None


# ----------------------------------------------------------------------------- transaction


def finished_simulation(status: str) -> ArcIntegrityError:
    """The refusal of an outcome whose simulation has finished."""
    return ArcIntegrityError(
        "simulation_id",
        f"refers to a {status} simulation: outcomes are refused once it has finished",
        table="outcomes",
    )


def writes_in_one_statement(bundle: Prepared) -> bool:
    """True for a bundle that `write_one` writes: one valid outcome, alone, without an
    embedding and with a time of its own (none to look up), whose progress advances."""
    rows = bundle.rows
    return (
        len(rows["outcomes"]) == 1
        and rows["outcomes"][0] is not None
        and not rows["tool_usage"]
        and not rows["failure_patterns"]
        and not bundle.resolve_times
        and 0 in bundle.progress
        and rows["outcomes"][0].get("trajectory_embedding") is None
    )


async def write_one(conn: AsyncConnection, bundle: Prepared) -> BundleResult:
    """`write_rows` of a bundle that `writes_in_one_statement` (on_invalid="raise"), in one
    statement: the same checks, locks, errors and progress, one round trip instead of four
    (the statement is atomic, so the connection may be in autocommit)."""
    row = bundle.rows["outcomes"][0]
    assert row is not None
    progress = bundle.progress[0]
    try:
        status, inserted, advanced = await OutcomeRepository(conn).record_one(
            row,
            scenario_status=progress["status"],
            started_at=progress["started_at"],
        )
    except Exception as exc:  # wrapped by SQLAlchemy, or the driver's own (see record_one)
        error = row_rejection(exc)
        if error is None:
            raise
        raise _located(error, "outcomes", 0) from exc
    if status is not None and status not in OPEN_SIMULATION_STATUSES:
        raise _located(finished_simulation(status), "outcomes", 0)
    return BundleResult(
        outcome_ids=[str(row["outcome_id"])],
        inserted=int(inserted),
        duplicates=int(not inserted),
        scenarios_advanced=int(advanced),
    )


def _key(row: Row) -> Key:
    return (row["outcome_id"], row["execution_time"])


async def _stored_times(
    conn: AsyncConnection,
    bundle: Prepared,
    live: dict[int, Row],
    children: dict[str, list[Row | None]],
) -> tuple[dict[int, Row], dict[str, list[Row | None]]]:
    """Outcomes sent again by id only carry a time generated for this call: give them (and
    their tool usage and failures) the stored row's time, so they count as duplicates."""
    wanted = [r["outcome_id"] for r in live.values() if r["outcome_id"] in bundle.resolve_times]
    stored = await OutcomeRepository(conn).execution_times(wanted) if wanted else {}
    moved: dict[Key, Any] = {}
    retimed_live = dict(live)
    for i, row in live.items():
        when = stored.get(row["outcome_id"]) if row["outcome_id"] in bundle.resolve_times else None
        if when is not None and when != row["execution_time"]:
            moved[_key(row)] = when
            retimed_live[i] = {**row, "execution_time": when}
    if not moved:
        return live, children
    retimed = {
        table: [
            {**c, "execution_time": moved[_key(c)]} if c is not None and _key(c) in moved else c
            for c in rows
        ]
        for table, rows in children.items()
    }
    return retimed_live, retimed


async def write_rows(
    conn: AsyncConnection, bundle: Prepared, *, on_invalid: str, method: str
) -> BundleResult:
    """The transaction of a bundle: lock the simulations, outcomes, then what refers to them,
    then progress. With on_invalid="raise" the first rejection raises (the caller rolls back)."""
    strict = on_invalid == "raise"
    rejected = {table: dict(errors) for table, errors in bundle.rejected.items()}
    live = {i: row for i, row in enumerate(bundle.rows["outcomes"]) if row is not None}
    children = {table: bundle.rows[table] for table in TABLES[1:]}
    if bundle.resolve_times:
        live, children = await _stored_times(conn, bundle, live, children)

    statuses = await SimulationRepository(conn).lock_for_outcomes(
        row["simulation_id"] for row in live.values()
    )
    for i, row in live.items():
        status = statuses.get(row["simulation_id"])
        if status is not None and status not in OPEN_SIMULATION_STATUSES:
            rejected["outcomes"][i] = finished_simulation(status)
    if strict:
        _raise_first(rejected)

    # A repeated outcome id stands for its first row: the inserter then reports the copy as
    # a duplicate (or rejects it with the first).
    first: dict[uuid.UUID, Row] = {}
    positions = [i for i in live if i not in rejected["outcomes"]]
    rows = [first.setdefault(live[i]["outcome_id"], live[i]) for i in positions]
    report = (
        await OutcomeRepository(conn).insert_outcomes(rows, method=method, isolate=not strict)
        if rows
        else InsertReport()
    )
    for j, error in report.rejected:
        rejected["outcomes"][positions[j]] = error
    if strict:
        _raise_first(rejected)

    new = set(report.inserted)
    stored: list[int] = []  # positions whose row this call inserted
    taken: set[Key] = set()
    redelivered: set[Key] = set()  # keys of outcome rows that were duplicates
    for j, i in enumerate(positions):
        if i in rejected["outcomes"]:
            continue
        key = _key(rows[j])
        if rows[j] is live[i] and key in new and key not in taken:
            taken.add(key)
            stored.append(i)
        else:
            redelivered.add(_key(live[i]))
    refused = {_key(live[i]) for i in rejected["outcomes"] if i in live}
    in_call = {row["outcome_id"] for row in live.values()}

    result = BundleResult(inserted=len(report.inserted), duplicates=len(report.duplicates))
    for table, ids, insert in (
        ("tool_usage", result.tool_usage_ids, ToolUsageRepository(conn).insert_tool_usage),
        (
            "failure_patterns",
            result.failure_pattern_ids,
            FailurePatternRepository(conn).insert_failure_patterns,
        ),
    ):
        keep: list[tuple[int, Row]] = []
        for p, child in enumerate(children[table]):
            if child is None or p in rejected[table]:
                continue
            key = _key(child)
            if child["outcome_id"] not in in_call or key in new:
                keep.append((p, child))
            elif key in refused:
                rejected[table][p] = ArcIntegrityError(
                    "outcome_id", "its outcome was rejected", table=table
                )
            elif key in redelivered:
                result.redelivered += 1
            else:
                rejected[table][p] = ArcValidationError(
                    "execution_time", "must be the execution_time of its outcome", index=p
                )
        sub = await insert([row for _, row in keep]) if keep else InsertReport()
        for j, refusal in sub.rejected:
            rejected[table][keep[j][0]] = refusal
        if strict:
            _raise_first(rejected)
        id_column = _SPECS[table].id_column
        ids.extend(str(row[id_column]) for p, row in keep if p not in rejected[table])

    finished = [bundle.progress[i] for i in stored if i in bundle.progress]
    if finished:
        result.scenarios_advanced = await SimulationRepository(conn).advance_progress(finished)
    result.outcome_ids = [
        str(row["outcome_id"]) for i, row in live.items() if i not in rejected["outcomes"]
    ]
    for table in TABLES:
        for index, why in sorted(rejected[table].items()):
            result.rejected.append(_located(why, table, index))
    return result
