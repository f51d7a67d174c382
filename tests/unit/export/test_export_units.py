"""Export without a database: bad input is refused with a typed error naming the field before a
connection is opened or a byte is written; the columns follow the models; the sink replaces a
file only on success."""

import asyncio
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison.results import ScenarioComparison, SideStats
from arc.database.core.engine import build_engine
from arc.database.core.errors import ArcMissingExtraError, ArcValidationError
from arc.database.export import FORMATS, KINDS, check_request, columns_of, export_rows
from arc.database.export.columns import TABLES, table_columns
from arc.database.export.queries import Query, inlined, select_rows
from arc.database.export.sinks import ExportOutputError, open_sink
from arc.database.models import Base

A, B = uuid.uuid4(), uuid.uuid4()
NOW = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.fixture
def nowhere() -> Iterator[AsyncEngine]:
    """An engine whose server does not exist: any attempt to connect would fail loudly with
    a connection error, not the typed error a test expects."""
    engine = build_engine(url="postgresql://arc:arc@127.0.0.1:9/none", connect_timeout=1)
    yield engine
    asyncio.run(engine.dispose())


BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("bogus", {}, "kind"),
    ("outcomes", {"fmt": "xlsx"}, "format"),
    ("outcomes", {"since": NOW, "until": NOW}, "since"),
    ("outcomes", {"since": "2026-02-01", "until": "2026-01-01"}, "since"),
    ("outcomes", {"since": "yesterday"}, "since"),
    ("outcomes", {"until": "0001-01-01T00:00:00"}, "until"),
    ("outcomes", {"simulation_id": "not-a-uuid"}, "simulation_id"),
    ("tool_usage", {"config_version_id": 12}, "config_version_id"),
    ("failures", {"tenant": "a" * 100}, "tenant"),
    ("outcomes", {"baseline": A}, "baseline"),
    ("outcomes", {"metric": "cost_usd"}, "metric"),
    ("outcomes", {"batch_rows": 0}, "batch_rows"),
    ("outcomes", {"batch_rows": True}, "batch_rows"),
    ("comparison", {"candidate": B}, "baseline"),
    ("comparison", {"baseline": A}, "candidate"),
    ("comparison", {"baseline": A, "candidate": A}, "candidate"),
    ("comparison", {"baseline": "x", "candidate": B}, "baseline"),
    ("comparison", {"baseline": A, "candidate": B, "metric": "speed"}, "metric"),
    ("comparison", {"baseline": A, "candidate": B, "simulation_id": A}, "simulation_id"),
    ("comparison", {"baseline": A, "candidate": B, "config_version_id": A}, "config_version_id"),
]


@pytest.mark.parametrize(("kind", "options", "field"), BAD_INPUT)
def test_bad_input_names_the_field_before_connecting_or_writing(
    nowhere: AsyncEngine, tmp_path: Path, kind: str, options: dict[str, Any], field: str
) -> None:
    options = dict(options)
    fmt = options.pop("fmt", "csv")
    with pytest.raises(ArcValidationError) as caught:
        asyncio.run(export_rows(nowhere, kind, fmt, tmp_path / "out.csv", **options))
    assert caught.value.field == field
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "make_output",
    [
        lambda tmp: tmp / "missing" / "out.csv",  # a directory that does not exist
        lambda tmp: tmp,  # a directory
        lambda tmp: str(tmp / "missing" / "out.csv"),
        lambda tmp: "",
        lambda tmp: object(),  # neither a path nor a stream
    ],
)
def test_an_output_that_cannot_be_written_is_bad_input(
    nowhere: AsyncEngine, tmp_path: Path, make_output: Any
) -> None:
    with pytest.raises(ArcValidationError) as caught:
        asyncio.run(export_rows(nowhere, "outcomes", "jsonl", make_output(tmp_path)))
    assert caught.value.field == "output"
    assert list(tmp_path.iterdir()) == []


def test_timeout_must_be_positive(nowhere: AsyncEngine, tmp_path: Path) -> None:
    with pytest.raises(ArcValidationError) as caught:
        asyncio.run(export_rows(nowhere, "outcomes", "csv", tmp_path / "o.csv", timeout=0))
    assert caught.value.field == "timeout"


def test_parquet_without_pyarrow_names_the_extra(
    nowhere: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ArcMissingExtraError) as caught:
        asyncio.run(export_rows(nowhere, "outcomes", "parquet", tmp_path / "o.parquet"))
    assert caught.value.extra == "export"
    assert "arc-eval-db[export]" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_valid_requests_are_normalised() -> None:
    request = check_request(
        "tool_usage",
        "parquet",
        since="2026-01-01T00:00:00",
        until=NOW,
        tenant=str(A),
    )
    assert request.since == datetime(2026, 1, 1, tzinfo=UTC)  # naive is UTC
    assert request.tenant == A
    assert request.metric == "reliability_score"
    comparison = check_request("comparison", "csv", baseline=str(A), candidate=B, metric="cost_usd")
    assert (comparison.baseline, comparison.candidate, comparison.metric) == (A, B, "cost_usd")
    assert set(KINDS) == {"outcomes", "tool_usage", "failures", "comparison"}
    assert set(FORMATS) == {"csv", "jsonl", "parquet"}


@pytest.mark.parametrize("kind", ["outcomes", "tool_usage", "failures"])
def test_table_kinds_export_every_column_of_their_table(kind: Any) -> None:
    table = Base.metadata.tables[TABLES[kind]]
    assert [c.name for c in table_columns(kind)] == [c.name for c in table.columns]


def test_comparison_columns_are_the_rows_of_a_comparison() -> None:
    row = ScenarioComparison(
        "s", SideStats(5, 0.5, 0.1), SideStats(5, 0.6, 0.1), 0.1, 0.0, 0.2, 0.04, 0.08, "no_change"
    )
    assert [c.name for c in columns_of("comparison")] == list(row.as_dict())


def test_copy_statements_inline_only_uuids_and_aware_times() -> None:
    """COPY binds no parameters: they are written in, and only values whose text cannot hold a
    quote are accepted."""
    sql = inlined(select_rows(check_request("tool_usage", "csv", since=NOW, tenant=A)))
    assert "$" not in sql
    assert f"'{A}'::uuid" in sql
    assert "'2026-01-02T00:00:00+00:00'::timestamptz" in sql
    with pytest.raises(TypeError):
        inlined(Query("SELECT $1::text", ("x'; DROP TABLE outcomes; --",)))
    with pytest.raises(TypeError):
        inlined(Query("SELECT $1::timestamptz", (datetime(2026, 1, 1),)))  # naive


def test_a_file_is_replaced_only_when_the_export_commits(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"previous\n")

    async def failed() -> None:
        sink = open_sink(target)
        await sink.write(b"half of an export")
        await sink.abort()

    asyncio.run(failed())
    assert target.read_bytes() == b"previous\n"
    assert list(tmp_path.iterdir()) == [target]  # the temporary copy is gone

    async def succeeded() -> int:
        sink = open_sink(target)
        await sink.write(b"a,b\n")
        await sink.write(b"1,2\n")
        await sink.commit()
        return sink.bytes_written

    assert asyncio.run(succeeded()) == 8
    assert target.read_bytes() == b"a,b\n1,2\n"
    assert list(tmp_path.iterdir()) == [target]
    assert target.stat().st_mode & 0o077 == 0  # exports hold tenant data: owner only


def test_a_stream_that_fails_is_an_output_error(tmp_path: Path) -> None:
    stream = (tmp_path / "closed.bin").open("wb")
    stream.close()

    async def write() -> None:
        sink = open_sink(stream)
        await sink.write(b"x")
        await sink.commit()

    with pytest.raises(ExportOutputError):
        asyncio.run(write())
