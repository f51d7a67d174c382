"""docs/integration-guide.md is true: every Python block in it runs against a real database.

Convention (stated at the top of the guide too):

- every fenced block opened with three backticks and `python` is run; other blocks (`bash`)
  are not;
- the blocks run in the order of the file, in ONE namespace, like cells of a notebook: a block
  uses what earlier blocks defined (`client`, `api`, `version_id`, ...);
- top-level `await` is allowed (compiled with PyCF_ALLOW_TOP_LEVEL_AWAIT and awaited in the
  test's event loop, as `python -m asyncio` would);
- the blocks find the database in TIMESCALE_SERVICE_URL, which the test points at a fresh,
  empty database of the test server: the guide deploys the schema itself;
- a failure's traceback names docs/integration-guide.md and the line in it.

After the blocks ran, the test checks the database on its own connection (what the guide says
was stored is stored, once), and checks the guide's prose against the code: the SQLSTATEs it
calls retried and never retried, and the extras it tells readers to install.
"""

import ast
import asyncio
import inspect
import re
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from arc.database.core.engine import build_engine
from arc.database.core.errors import (
    PERMANENT_SQLSTATE_CLASSES,
    TRANSIENT_SQLSTATE_CLASSES,
    TRANSIENT_SQLSTATES,
)
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests.conftest import ROOT, fresh_database_name

GUIDE = Path(ROOT) / "docs" / "integration-guide.md"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def python_blocks(markdown: str) -> list[tuple[int, str]]:
    """(line number of the block's first code line, code) of every ```python block."""
    return [
        (markdown.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in _BLOCK.finditer(markdown)
    ]


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    """A new database with nothing in it (the guide deploys the schema); dropped afterwards.
    Direct, never through PgBouncer: deploy_schema() holds a session advisory lock."""
    url = with_database(server_url, fresh_database_name("arc_guide"))
    asyncio.run(ensure_database(url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def _scalar(url: str, sql: str, **params: Any) -> Any:
    engine = build_engine(url=url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()
    finally:
        await engine.dispose()


async def test_every_python_block_of_the_guide_runs(
    empty_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIMESCALE_SERVICE_URL", empty_database)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the guide's mkdtemp() lands here
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 10, "the block pattern no longer finds the guide's examples"
    namespace: dict[str, Any] = {"__name__": "integration_guide"}
    for first_line, code in blocks:
        tree = compile(
            code, str(GUIDE), "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        ast.increment_lineno(tree, first_line)
        compiled = compile(tree, str(GUIDE), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(compiled, namespace)
        if inspect.iscoroutine(result):
            await result

    # What the guide says it stored, read back independently.
    url = empty_database

    async def count(sql: str, **params: Any) -> int:
        return int(await _scalar(url, sql, **params) or 0)

    assert await _scalar(url, "SELECT version_num FROM alembic_version") == (
        migrate.head_revision()
    )
    outcomes_of = "SELECT count(*) FROM outcomes WHERE simulation_id = :s"
    distinct_of = "SELECT count(DISTINCT outcome_id) FROM outcomes WHERE simulation_id = :s"

    # The first run: one result in real time, two of the skip batch, one sent twice.
    first = namespace["first_simulation"]
    assert await count(outcomes_of, s=first) == 4
    # Seed 003's flow: four results, the last failed, the simulation completed.
    suite = namespace["suite_simulation"]
    assert await count(outcomes_of, s=suite) == 4
    assert await count(outcomes_of + " AND status = 'error'", s=suite) == 1
    assert await _scalar(
        url, "SELECT status FROM simulations WHERE simulation_id = :s", s=suite
    ) == ("completed")
    # The recorder: 8 producers x 25 outcomes, then the 3 handed back during the outage.
    recorded = namespace["recorder_simulation"]
    produced = [i for ids in namespace["produced"] for i in ids]
    assert len(produced) == len(set(produced)) == 200
    assert await count(outcomes_of, s=recorded) == await count(distinct_of, s=recorded) == 203
    assert (
        await count(
            "SELECT count(*) FROM outcomes WHERE outcome_id = ANY(CAST(:i AS uuid[]))",
            i=produced + namespace["kept"],
        )
        == 203
    )
    assert (
        await count(
            "SELECT count(*) FROM tool_usage WHERE outcome_id = ANY(CAST(:i AS uuid[]))",
            i=produced,
        )
        == 200
    )
    assert (
        await count(
            "SELECT count(*) FROM failure_patterns WHERE outcome_id = ANY(CAST(:i AS uuid[]))",
            i=produced,
        )
        == 40  # every fifth outcome of each producer failed
    )
    # Events: applied once (the replay changed nothing), and the one journaled in the outage.
    events = namespace["event_simulation"]
    assert await count(outcomes_of, s=events) == 1
    assert await _scalar(
        url, "SELECT status FROM simulations WHERE simulation_id = :s", s=events
    ) == ("completed")
    late = namespace["late_simulation"]
    assert await _scalar(
        url, "SELECT status FROM simulations WHERE simulation_id = :s", s=late
    ) == ("running")


def test_the_guide_names_the_retried_and_the_refused_sqlstates() -> None:
    """The retry table of the guide is errors.py's classification, code for code."""
    guide = GUIDE.read_text()
    section = guide.split("## Errors", 1)[1].split("\n## ", 1)[0]
    retried, never = section.split("Never retried", 1)
    for code in sorted(TRANSIENT_SQLSTATES):
        assert f"`{code}`" in retried or f"/ `{code}`" in retried, code
    for klass in sorted(TRANSIENT_SQLSTATE_CLASSES):
        assert f"class `{klass}`" in retried, klass
    named = set(re.findall(r"`(\d{2})`", never.split("\n\n", 1)[0]))
    assert named == set(PERMANENT_SQLSTATE_CLASSES)


def test_the_extras_the_guide_installs_exist() -> None:
    with open(Path(ROOT) / "pyproject.toml", "rb") as fh:
        extras = set(tomllib.load(fh)["project"]["optional-dependencies"])
    asked = re.findall(r"pip install 'arc-eval-db\[([a-z0-9_,-]+)\]'", GUIDE.read_text())
    assert asked
    for group in asked:
        for extra in group.split(","):
            assert extra in extras, extra


def test_the_readme_points_to_the_guide() -> None:
    readme = (Path(ROOT) / "README.md").read_text()
    assert "docs/integration-guide.md" in readme
