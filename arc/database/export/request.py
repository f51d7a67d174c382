"""An export request, checked at the boundary: every rule broken raises ArcValidationError naming
the field, before a connection is opened or a byte is written."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from arc.database.comparison.metrics import metric_named
from arc.database.core.checks import check_datetime, check_uuid, require_uuid
from arc.database.core.errors import ArcValidationError
from arc.database.export.columns import FORMATS, KINDS, Format, Kind

DEFAULT_BATCH_ROWS = 1000  # rows a cursor fetch brings (JSONL, Parquet)
MAX_BATCH_ROWS = 100_000
DEFAULT_METRIC = "reliability_score"


@dataclass(frozen=True)
class ExportRequest:
    kind: Kind
    format: Format
    since: datetime | None = None  # execution_time >= since
    until: datetime | None = None  # execution_time < until
    simulation_id: uuid.UUID | None = None
    config_version_id: uuid.UUID | None = None
    tenant: uuid.UUID | None = None  # configurations.user_id whose rows are exported
    baseline: uuid.UUID | None = None  # comparison: the two configuration versions
    candidate: uuid.UUID | None = None
    metric: str = DEFAULT_METRIC  # comparison: the metric compared
    batch_rows: int = DEFAULT_BATCH_ROWS


def check_request(
    kind: Any,
    fmt: Any,
    *,
    since: Any = None,
    until: Any = None,
    simulation_id: Any = None,
    config_version_id: Any = None,
    tenant: Any = None,
    baseline: Any = None,
    candidate: Any = None,
    metric: Any = None,
    batch_rows: Any = DEFAULT_BATCH_ROWS,
) -> ExportRequest:
    if kind not in KINDS:
        raise ArcValidationError("kind", f"must be one of {', '.join(KINDS)}", value=kind)
    if fmt not in FORMATS:
        raise ArcValidationError("format", f"must be one of {', '.join(FORMATS)}", value=fmt)
    start = check_datetime(since, "since")
    end = check_datetime(until, "until")
    if start is not None and end is not None and start >= end:
        raise ArcValidationError("since", "must be before until", value=since)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int):
        raise ArcValidationError("batch_rows", "must be an integer", value=batch_rows)
    if not 1 <= batch_rows <= MAX_BATCH_ROWS:
        raise ArcValidationError(
            "batch_rows", f"must be between 1 and {MAX_BATCH_ROWS}", value=batch_rows
        )
    request = ExportRequest(
        kind=cast(Kind, kind),
        format=cast(Format, fmt),
        since=start,
        until=end,
        simulation_id=check_uuid(simulation_id, "simulation_id"),
        config_version_id=check_uuid(config_version_id, "config_version_id"),
        tenant=check_uuid(tenant, "tenant"),
        batch_rows=batch_rows,
    )
    if kind != "comparison":
        for field, value in (("baseline", baseline), ("candidate", candidate), ("metric", metric)):
            if value is not None:
                raise ArcValidationError(field, "applies to comparison exports only", value=value)
        return request
    for field, value in (
        ("simulation_id", request.simulation_id),
        ("config_version_id", request.config_version_id),
    ):
        if value is not None:
            raise ArcValidationError(
                field, "does not apply to comparison exports (use baseline, candidate)", value=value
            )
    base = require_uuid(baseline, "baseline")
    cand = require_uuid(candidate, "candidate")
    if base == cand:
        raise ArcValidationError("candidate", "must differ from baseline", value=candidate)
    chosen = metric_named(DEFAULT_METRIC if metric is None else metric).name
    return ExportRequest(
        kind=request.kind,
        format=request.format,
        since=start,
        until=end,
        tenant=request.tenant,
        baseline=base,
        candidate=cand,
        metric=chosen,
        batch_rows=batch_rows,
    )
