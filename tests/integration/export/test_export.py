"""export_rows against a real server, on two planted tenants.

- Round trip: outcomes, tool usage and failure patterns exported as CSV and as JSONL, loaded
  into an empty migrated database (COPY FROM for CSV, json_populate_recordset for JSONL), come
  back identical in every column (compared as the rows' text: vectors, jsonb, microseconds).
- Parquet holds the same values with typed columns.
- A tenant's export holds exactly its rows, in every kind and format, read as app_user; the
  tenant filter also holds on its own, without a role or row-level security.
- Filters, progress, comparisons (and another tenant's comparison, not found), and a failed
  export that leaves the previous file in place.
"""

import asyncio
import csv
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison import VersionComparator
from arc.database.core.engine import build_engine
from arc.database.core.errors import ArcNotFoundError
from arc.database.export import FORMATS, check_request, columns_of, export_rows
from arc.database.export.queries import select_rows
from arc.database.models import (
    Base,
    Configuration,
    ConfigVersion,
    Outcome,
    Scenario,
    Simulation,
)
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests.conftest import app_url, fresh_database_name
from tests.integration.export.planted import (
    KEYS,
    TABLES,
    Tenants,
    exported_ids,
    plant_tenants,
    rows_of,
)
from tests.support.planting import (
    Run,
    days_ago,
    make_configuration,
    make_simulation,
    make_version,
    refresh_statistics,
)
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

TABLE_KINDS = ("outcomes", "tool_usage", "failures")


@pytest.fixture(scope="module")
async def tenants(scratch_engine: AsyncEngine) -> Tenants:
    return await plant_tenants(scratch_engine)


@pytest.fixture(scope="module")
def target_url(server_url: str) -> Iterator[str]:
    """The empty database the round trip loads into."""
    url = with_database(server_url, fresh_database_name("arc_export_target"))
    asyncio.run(ensure_database(url))
    try:
        migrate.upgrade(url)
        yield app_url(url)
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture(scope="module")
async def target_engine(target_url: str, tenants: Tenants) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(url=target_url, pool_size=2, max_overflow=2)
    async with engine.begin() as conn:  # the rows the exported ones refer to
        for data in (tenants.a, tenants.b):
            await conn.execute(insert(Scenario), data.scenarios)
            await conn.execute(insert(Configuration), data.configurations)
            await conn.execute(insert(ConfigVersion), data.versions)
            await conn.execute(insert(Simulation), data.simulations)
    yield engine
    await engine.dispose()


async def _driver(conn: Any) -> Any:
    await conn.execute(text("SELECT 1"))  # opens the driver's transaction
    return (await conn.get_raw_connection()).driver_connection


async def load_csv(engine: AsyncEngine, table: str, path: Path) -> None:
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    async with engine.begin() as conn:
        driver = await _driver(conn)
        await driver.copy_to_table(
            table, source=str(path), columns=header, format="csv", header=True
        )


async def load_jsonl(engine: AsyncEngine, table: str, path: Path) -> None:
    """Our own JSONL loader: the server parses each object into a row of the table."""
    statement = (
        f"INSERT INTO {table} SELECT * FROM json_populate_recordset(NULL::{table}, $1::text::json)"
    )
    async with engine.begin() as conn:
        driver = await _driver(conn)
        with path.open(encoding="utf-8") as f:
            lines = [line for line in f.read().split("\n") if line]
        for start in range(0, len(lines), 200):
            await driver.execute(statement, "[" + ",".join(lines[start : start + 200]) + "]")


async def table_text(engine: AsyncEngine, table: str, key: str) -> list[str]:
    """Every row as PostgreSQL prints it: every column, reals with all their digits."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL extra_float_digits = 3"))
        result = await conn.execute(text(f"SELECT t::text FROM {table} t ORDER BY t.{key}"))
        return list(result.scalars())


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_round_trip_brings_back_every_column_exactly(
    scratch_engine: AsyncEngine,
    target_engine: AsyncEngine,
    tenants: Tenants,
    tmp_path: Path,
    fmt: str,
) -> None:
    async with target_engine.begin() as conn:
        await conn.execute(text("TRUNCATE outcomes, tool_usage, failure_patterns"))
    for kind in TABLE_KINDS:
        path = tmp_path / f"{kind}.{fmt}"
        result = await export_rows(scratch_engine, kind, fmt, path)
        planted = len(rows_of(tenants.a, kind)) + len(rows_of(tenants.b, kind))
        assert result.rows == planted > 0
        assert result.bytes == path.stat().st_size
        await (load_csv if fmt == "csv" else load_jsonl)(target_engine, TABLES[kind], path)
        source = await table_text(scratch_engine, TABLES[kind], KEYS[kind])
        copied = await table_text(target_engine, TABLES[kind], KEYS[kind])
        assert len(copied) == planted
        assert copied == source
    # the rows carried what a round trip can lose, and they came back
    async with target_engine.connect() as conn:
        kept = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE trajectory_embedding IS NOT NULL), "
                    "count(*) FILTER (WHERE sandbox_logs = ''), "
                    "count(*) FILTER (WHERE sandbox_logs IS NULL), "
                    "count(*) FILTER (WHERE sandbox_logs LIKE '%' || chr(10) || '%') "
                    "FROM outcomes"
                )
            )
        ).one()
    assert all(n > 10 for n in kept), kept


async def test_parquet_holds_the_same_values_with_types(
    scratch_engine: AsyncEngine, tenants: Tenants, tmp_path: Path
) -> None:
    for kind in TABLE_KINDS:
        path = tmp_path / f"{kind}.parquet"
        result = await export_rows(scratch_engine, kind, "parquet", path)
        table = pq.read_table(path)
        assert table.num_rows == result.rows
        assert table.column_names == [c.name for c in columns_of(kind)]  # type: ignore[arg-type]
        schema = table.schema
        assert schema.field("execution_time").type == pa.timestamp("us", tz="UTC")
        model = Base.metadata.tables[TABLES[kind]]
        async with scratch_engine.connect() as conn:
            db_rows = (await conn.execute(select(model).order_by(model.c[KEYS[kind]]))).all()
        got = sorted(table.to_pylist(), key=lambda r: r[KEYS[kind]])
        assert len(got) == len(db_rows)
        for file_row, db_row in zip(got, db_rows, strict=True):
            for column in columns_of(kind):  # type: ignore[arg-type]
                value, expected = file_row[column.name], db_row._mapping[column.name]
                if expected is None:
                    assert value is None, column.name
                elif column.type == "uuid":
                    assert value == str(expected)
                elif column.type == "jsonb":
                    assert json.loads(value) == expected, column.name
                elif column.type == "vector":  # pgvector's client reads the shortest text
                    assert value == np.asarray(expected, dtype=np.float32).tolist()
                else:
                    assert value == expected, column.name
    vectors = pq.read_table(tmp_path / "outcomes.parquet").column("trajectory_embedding")
    assert vectors.type == pa.list_(pa.float32())
    assert vectors.null_count < len(vectors)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", TABLE_KINDS)
async def test_a_tenants_export_holds_its_rows_and_none_of_anothers(
    scratch_engine: AsyncEngine, tenants: Tenants, tmp_path: Path, kind: str, fmt: str
) -> None:
    path = tmp_path / f"a.{fmt}"
    result = await export_rows(scratch_engine, kind, fmt, path, tenant=tenants.tenant_a)
    got = exported_ids(path, fmt, KEYS[kind])
    mine = sorted(str(r[KEYS[kind]]) for r in rows_of(tenants.a, kind))
    theirs = {str(r[KEYS[kind]]) for r in rows_of(tenants.b, kind)}
    assert sorted(got) == mine
    assert not theirs & set(got)
    assert result.rows == len(mine)
    assert result.role == "app_user"  # read under row-level security


async def test_the_tenant_filter_holds_without_row_level_security(
    scratch_engine: AsyncEngine, tenants: Tenants
) -> None:
    """The statements alone, run by the owner (whom no policy binds) and with no app.user_id,
    return only the tenant's rows."""
    for kind in TABLE_KINDS:
        query = select_rows(check_request(kind, "parquet", tenant=tenants.tenant_b))
        async with scratch_engine.connect() as conn:
            driver = await _driver(conn)
            assert await driver.fetchval("SELECT current_setting('app.user_id', true)") in (
                None,
                "",
            )
            rows = await driver.fetch(query.sql, *query.args)
        got = sorted(r[KEYS[kind]] for r in rows)
        assert got == sorted(str(r[KEYS[kind]]) for r in rows_of(tenants.b, kind))


async def test_an_outcome_id_reused_by_another_tenant_does_not_leak_rows(
    scratch_engine: AsyncEngine, tenants: Tenants, tmp_path: Path
) -> None:
    """B writes an outcome with the id of one of A's outcomes (at another time: the key is
    (outcome_id, execution_time)). A's tool usage and failures of that id stay out of B's
    export: they are matched to their outcome on the whole key."""
    victim = next(o for o in tenants.a.outcomes if o["status"] != "success")
    assert any(t["outcome_id"] == victim["outcome_id"] for t in tenants.a.tools)
    assert any(f["outcome_id"] == victim["outcome_id"] for f in tenants.a.failures)
    decoy = {
        **{k: v for k, v in tenants.b.outcomes[0].items() if k != "trajectory_embedding"},
        "outcome_id": victim["outcome_id"],
        "execution_time": victim["execution_time"] + timedelta(seconds=1),
    }
    async with scratch_engine.begin() as conn:
        await conn.execute(insert(Outcome), [decoy])
    try:
        for kind in ("tool_usage", "failures"):
            theirs = {str(r[KEYS[kind]]) for r in rows_of(tenants.b, kind)}
            path = tmp_path / f"{kind}.csv"
            await export_rows(scratch_engine, kind, "csv", path, tenant=tenants.tenant_b)
            assert set(exported_ids(path, "csv", KEYS[kind])) == theirs
            # and the statement alone, as the owner, without row-level security or views
            query = select_rows(check_request(kind, "parquet", tenant=tenants.tenant_b))
            async with scratch_engine.connect() as conn:
                rows = await (await _driver(conn)).fetch(query.sql, *query.args)
            assert {r[KEYS[kind]] for r in rows} == theirs
    finally:
        async with scratch_engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM outcomes WHERE outcome_id = :o AND execution_time = :t"),
                {"o": decoy["outcome_id"], "t": decoy["execution_time"]},
            )


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_tenant_without_data_gets_an_empty_export(
    scratch_engine: AsyncEngine, tenants: Tenants, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"none.{fmt}"
    result = await export_rows(scratch_engine, "outcomes", fmt, path, tenant=uuid.uuid4())
    assert result.rows == 0
    assert exported_ids(path, fmt, "outcome_id") == []
    if fmt == "csv":
        assert path.read_text().startswith("outcome_id,execution_time,")
    if fmt == "parquet":
        assert pq.read_table(path).column_names[0] == "outcome_id"


async def test_filters_select_exactly_their_rows(
    scratch_engine: AsyncEngine, tenants: Tenants, tmp_path: Path
) -> None:
    a = tenants.a
    outcomes = {o["outcome_id"]: o for o in a.outcomes + tenants.b.outcomes}
    middle = a.start + (a.end - a.start) / 2
    simulation = a.simulations[1]["simulation_id"]
    version = a.versions[2]["version_id"]
    sims_of_version = {
        s["simulation_id"] for s in a.simulations if s["config_version_id"] == version
    }
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"since": middle}, lambda o: o["execution_time"] >= middle),
        ({"until": middle}, lambda o: o["execution_time"] < middle),
        ({"simulation_id": simulation}, lambda o: o["simulation_id"] == simulation),
        ({"config_version_id": version}, lambda o: o["simulation_id"] in sims_of_version),
        (
            {"since": middle, "simulation_id": simulation},
            lambda o: o["execution_time"] >= middle and o["simulation_id"] == simulation,
        ),
    ]
    for kind in TABLE_KINDS:
        rows = rows_of(a, kind) + rows_of(tenants.b, kind)
        for options, keep in cases:
            want = sorted(str(r[KEYS[kind]]) for r in rows if keep(outcomes[r["outcome_id"]]))
            assert want, (kind, options)
            for fmt in ("csv", "jsonl"):  # parameters inlined into COPY, bound to a cursor
                path = tmp_path / f"{kind}.{fmt}"
                await export_rows(scratch_engine, kind, fmt, path, **options)
                assert sorted(exported_ids(path, fmt, KEYS[kind])) == want, (kind, fmt, options)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_progress_counts_up_to_the_rows(
    scratch_engine: AsyncEngine, tenants: Tenants, tmp_path: Path, fmt: str
) -> None:
    calls: list[tuple[int, int]] = []
    result = await export_rows(
        scratch_engine,
        "outcomes",
        fmt,
        tmp_path / f"p.{fmt}",
        batch_rows=50,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result.rows == len(tenants.a.outcomes) + len(tenants.b.outcomes)
    assert calls[-1] == (result.rows, result.rows)
    assert {total for _, total in calls} == {result.rows}
    done = [d for d, _ in calls]
    assert done == sorted(done)
    if fmt != "csv":  # one call per batch of 50
        assert len(calls) >= result.rows // 50


async def test_a_failed_export_leaves_the_previous_file(
    scratch_engine: AsyncEngine, tenants: Tenants, tmp_path: Path
) -> None:
    target = tmp_path / "outcomes.csv"
    target.write_text("previous\n")
    with pytest.raises(TimeoutError):
        await export_rows(scratch_engine, "outcomes", "csv", target, timeout=1e-6)
    assert target.read_text() == "previous\n"
    assert list(tmp_path.iterdir()) == [target]
    again = await export_rows(scratch_engine, "outcomes", "csv", target)  # the pool recovered
    assert again.rows == len(tenants.a.outcomes) + len(tenants.b.outcomes)


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return sorted(csv.reader(f))


@pytest.mark.full_edition
async def test_compressed_chunks_export_the_same_rows(
    scratch_engine: AsyncEngine, tenants: Tenants, tmp_path: Path
) -> None:
    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    await export_rows(scratch_engine, "outcomes", "csv", before)
    async with scratch_engine.begin() as conn:
        compressed = await conn.execute(
            text(
                "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('outcomes') c"
            )
        )
        assert compressed.scalars().all()
    try:
        result = await export_rows(scratch_engine, "outcomes", "csv", after)
        assert result.rows == len(tenants.a.outcomes) + len(tenants.b.outcomes)
        assert _csv_rows(after) == _csv_rows(before)
    finally:
        async with scratch_engine.begin() as conn:
            await conn.execute(
                text(
                    "SELECT decompress_chunk(c, if_compressed => true) "
                    "FROM show_chunks('outcomes') c"
                )
            )


# ------------------------------------------------------------------------------ comparison
COMPARED = ("exp_cmp_a", "exp_cmp_b", "exp_cmp_c")


@pytest.fixture(scope="module")
async def versions(scratch_engine: AsyncEngine, tenants: Tenants) -> tuple[uuid.UUID, uuid.UUID]:
    config = await make_configuration(scratch_engine, user_id=tenants.tenant_a)
    v1 = await make_version(scratch_engine, config, {"model": "m", "temperature": 0.7})
    v2 = await make_version(scratch_engine, config, {"model": "m", "temperature": 0.2})
    for version, shift in ((v1, 0.0), (v2, 0.25)):
        runs = [
            Run(
                s, days_ago(2), reliability=0.4 + shift * (k % 3) / 2 + i / 100, cost=0.01 + i / 512
            )
            for k, s in enumerate(COMPARED)
            for i in range(12)
        ]
        await make_simulation(scratch_engine, version, runs)
    await refresh_statistics(scratch_engine)
    return v1, v2


def _read_comparison(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if fmt == "parquet":
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return rows
    types = {c.name: c.type for c in columns_of("comparison")}
    parse = {"bigint": int, "double": float, "text": str}
    with path.open(newline="") as f:
        return [
            {k: None if v == "" else parse[types[k]](v) for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_comparison_exports_one_row_per_scenario(
    scratch_engine: AsyncEngine,
    tenants: Tenants,
    versions: tuple[uuid.UUID, uuid.UUID],
    tmp_path: Path,
    fmt: str,
) -> None:
    comparison = await VersionComparator(scratch_engine).compare_versions(
        *versions, metric="cost_usd"
    )
    expected = [row.as_dict() for row in comparison.scenarios]
    path = tmp_path / f"cmp.{fmt}"
    result = await export_rows(
        scratch_engine,
        "comparison",
        fmt,
        path,
        baseline=versions[0],
        candidate=versions[1],
        metric="cost_usd",
        tenant=tenants.tenant_a,
    )
    assert result.rows == len(COMPARED)
    assert _read_comparison(path, fmt) == expected
    assert {row["scenario_id"] for row in expected} == set(COMPARED)


async def test_another_tenants_comparison_is_not_found(
    scratch_engine: AsyncEngine,
    tenants: Tenants,
    versions: tuple[uuid.UUID, uuid.UUID],
    tmp_path: Path,
) -> None:
    with pytest.raises(ArcNotFoundError):
        await export_rows(
            scratch_engine,
            "comparison",
            "csv",
            tmp_path / "cmp.csv",
            baseline=versions[0],
            candidate=versions[1],
            tenant=tenants.tenant_b,
        )
    assert list(tmp_path.iterdir()) == []
