"""deploy_schema() from several processes at once on a fresh database: one migrates, the others
wait on the advisory lock of `arc-db migrate` and find the schema at head (issue 12)."""

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from arc.database.core.engine import build_engine
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests.conftest import ROOT, fresh_database_name

DEPLOY = textwrap.dedent(
    """
    import asyncio, json, sys
    from arc.database.ingest.client import ArcDBClient

    async def main() -> None:
        client = ArcDBClient(sys.argv[1], log_level="WARNING")
        try:
            print(json.dumps({"revision": (await client.deploy_schema())["revision"]}))
        finally:
            await client.close()

    asyncio.run(main())
    """
)


@pytest.fixture
def fresh_url(server_url: str) -> Iterator[str]:
    url = with_database(server_url, fresh_database_name("arc_deploy"))
    asyncio.run(ensure_database(url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


def test_three_concurrent_deploys_on_a_fresh_database(fresh_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": ROOT}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DEPLOY, fresh_url],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert f'"revision": "{migrate.head_revision()}"' in out

    async def schema() -> tuple[int, int]:
        engine = build_engine(url=fresh_url)
        try:
            async with engine.connect() as conn:
                versions = (
                    await conn.execute(text("SELECT count(*) FROM alembic_version"))
                ).scalar()
                tables = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM information_schema.tables WHERE table_name IN"
                            " ('outcomes', 'tool_usage', 'failure_patterns', 'simulations')"
                        )
                    )
                ).scalar()
        finally:
            await engine.dispose()
        return int(versions or 0), int(tables or 0)

    assert asyncio.run(schema()) == (1, 4)
