"""The wheel is the product (issue 11): built, checked, installed where no checkout is, deployed.

`python -m build` makes the sdist and, from it, the wheel; `twine check --strict` reads both.
A virtualenv in a temporary folder outside the checkout gets only the wheel (its dependencies
come from the package index, as a user's would). From an empty directory, against fresh
databases of the test server:

- `arc-db migrate upgrade` / `current`;
- `ArcDBClient.deploy_schema()` from two processes and `arc-db migrate upgrade` from a third,
  all queued behind the advisory lock this test holds: one applies the revisions, the others
  find the schema at head;
- seed 003's integration example (its Modal decorator and `modal.*` calls replaced by plain
  values, the URL from TIMESCALE_SERVICE_URL), then its query examples;
- `arc-db demo` (small: 5 simulations of 12 scenarios per configuration) after installing the
  wheel's `analysis` extra, which the comparisons of the demo need.

The bare install carries no scipy/numpy: a sandbox worker records outcomes without them.
The version is written once (pyproject.toml); the wheel, `arc.database.__version__` and the
top of CHANGELOG.md must agree with it.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from packaging.version import Version
from sqlalchemy import text

from arc.database.core.engine import build_engine
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests.conftest import ROOT, fresh_database_name

CHECKOUT = Path(ROOT)
PIP_TIMEOUT = 900  # seconds; a cold pip cache downloads SQLAlchemy, asyncpg, psycopg, scipy
# What a user's shell could carry that would let the venv see the checkout or another database.
_SCRUBBED = (
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "TIMESCALE_SERVICE_URL",
    "DATABASE_URL",
    "ARC_DB_READ_URL",
    "ARC_DB_PGBOUNCER",
)


def _run(
    args: list[str], *, timeout: float = 600, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, (
        f"{' '.join(args)} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    )
    return done


def _outside_checkout(path: Path) -> Path:
    resolved = path.resolve()
    assert not resolved.is_relative_to(CHECKOUT.resolve()), f"{resolved} is inside the checkout"
    return resolved


def _result(stdout: str) -> Any:
    """The JSON a script printed on its `RESULT ` line (logs go to stderr, but be strict)."""
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, stdout[-4000:]
    return json.loads(lines[0].removeprefix("RESULT "))


# ----------------------------------------------------------------------------- build and install


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path
    version: str


@dataclass(frozen=True)
class Venv:
    root: Path
    dist: Dist

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    @property
    def arc_db(self) -> str:
        return str(self.root / "bin" / "arc-db")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONNOUSERSITE"] = "1"
        env.update(extra)
        return env

    def run(
        self, args: list[str], cwd: Path, *, timeout: float = 600, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return _run(args, cwd=cwd, env=self.env(**env), timeout=timeout)


def _project_version() -> str:
    with open(CHECKOUT / "pyproject.toml", "rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = _outside_checkout(tmp_path_factory.mktemp("dist"))
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(CHECKOUT)], timeout=PIP_TIMEOUT)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    found = sorted(p.name for p in out.iterdir())
    assert len(wheels) == 1, found
    assert len(sdists) == 1, found
    checked = _run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheels[0]), str(sdists[0])]
    )
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    version = wheels[0].name.split("-")[1]
    return Dist(wheel=wheels[0], sdist=sdists[0], version=version)


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A fresh virtualenv outside the checkout holding the wheel (and its dependencies) only;
    removed afterwards (with scipy it weighs a few hundred MB)."""
    root = _outside_checkout(tmp_path_factory.mktemp("wheel-venv")) / "venv"
    try:
        yield _make_venv(root, dist, tmp_path_factory)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _make_venv(root: Path, dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    _run([sys.executable, "-m", "venv", str(root)])
    made = Venv(root=root, dist=dist)
    cwd = _outside_checkout(tmp_path_factory.mktemp("pip-cwd"))
    made.run(
        [made.python, "-m", "pip", "install", "--quiet", str(dist.wheel)],
        cwd,
        timeout=PIP_TIMEOUT,
    )
    # The worker's install: the statistics stack arrives only with the `analysis` extra.
    probe = made.run(
        [
            made.python,
            "-c",
            "import importlib.util as u; print([m for m in ('scipy', 'numpy') if u.find_spec(m)])",
        ],
        cwd,
    )
    assert probe.stdout.strip() == "[]", probe.stdout
    return made


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    """The user's working directory: outside the checkout, no alembic.ini, no migrations/."""
    where = _outside_checkout(tmp_path / "work")
    where.mkdir()
    return where


@pytest.fixture
def fresh_url(server_url: str) -> Iterator[str]:
    """A database that exists and is empty; dropped afterwards."""
    url = with_database(server_url, fresh_database_name("arc_wheel"))
    asyncio.run(ensure_database(url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def _scalars(url: str, *queries: str, **params: Any) -> list[Any]:
    engine = build_engine(url=url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return [(await conn.execute(text(q), params)).scalar() for q in queries]
    finally:
        await engine.dispose()


# ----------------------------------------------------------------------------- the artefacts


def test_the_wheel_and_the_sdist_carry_the_package_and_its_migrations(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as whl:
        wheel_files = set(whl.namelist())
        info = f"arc_eval_db-{dist.version}.dist-info"
        metadata = whl.read(f"{info}/METADATA").decode()
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
    # Nothing but the package and its metadata: no top-level migrations/, tests/ or bench/.
    assert {name.split("/")[0] for name in wheel_files} == {"arc", info}
    package = {
        str(p.relative_to(CHECKOUT))
        for p in (CHECKOUT / "arc").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".mako", ".typed")
    }
    missing = sorted(package - wheel_files)
    assert not missing, f"in the checkout, not in the wheel: {missing}"
    revisions = sorted(
        p.name for p in (CHECKOUT / "arc/database/schema/migrations/versions").glob("*.py")
    )
    assert revisions
    assert revisions[-1].startswith(migrate.head_revision())
    shipped = sorted(
        name.rsplit("/", 1)[1]
        for name in wheel_files
        if name.startswith("arc/database/schema/migrations/versions/") and name.endswith(".py")
    )
    assert shipped == revisions
    for needed in ("env.py", "script.py.mako"):
        assert f"arc/database/schema/migrations/{needed}" in wheel_files
    assert "arc/database/py.typed" in wheel_files
    assert re.search(r"^arc-db = arc\.database\.cli:main$", entry_points, re.M), entry_points

    with tarfile.open(dist.sdist) as sdist:
        sdist_files = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    for revision in revisions:
        assert f"arc/database/schema/migrations/versions/{revision}" in sdist_files
    assert {"pyproject.toml", "README.md", "PKG-INFO"} <= sdist_files

    # A worker's install pulls the runtime dependencies only; tools stay behind extras.
    unconditional = [
        line.removeprefix("Requires-Dist: ")
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]
    names = {re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0].lower() for dep in unconditional}
    assert names == {
        "sqlalchemy",
        "asyncpg",
        "alembic",
        "pgvector",
        "psycopg",
        "structlog",
        "pyyaml",
        "orjson",  # validation serialises JSON on the write path (decision P16)
    }
    assert "Private :: Do Not Upload" in metadata  # PyPI refuses it: no accidental publication


def test_one_version_everywhere(dist: Dist, venv: Venv, empty_dir: Path) -> None:
    version = _project_version()
    assert dist.version == version
    assert dist.sdist.name == f"arc_eval_db-{version}.tar.gz"
    shown = venv.run(
        [venv.python, "-c", "import arc.database as a; print(a.__version__, a.__file__)"],
        empty_dir,
    ).stdout.split()
    assert shown[0] == version
    assert Path(shown[1]).is_relative_to(venv.root)  # imported from the venv, not the checkout

    # CHANGELOG.md (Keep a Changelog): a development version sits under [Unreleased], above
    # the last release it follows; a release has its own dated section at the top.
    changelog = (CHECKOUT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?\s*$", changelog, re.M)
    assert headings, "CHANGELOG.md has no '## [version] - date' sections"
    released = [(Version(v), date) for v, date in headings if v != "Unreleased"]
    assert all(date for _, date in released), "every released section needs its date"
    assert [v for v, _ in released] == sorted((v for v, _ in released), reverse=True)
    current = Version(version)
    if current.is_prerelease or current.is_devrelease:
        assert headings[0][0] == "Unreleased"
        assert not released or released[0][0] < current
    else:
        names = [v for v, _ in headings if v != "Unreleased"]
        assert names, "a released version needs its section"
        assert Version(names[0]) == current, "the released version heads the changelog"


# ----------------------------------------------------------------------------- deploying from it


SEED_003 = textwrap.dedent(
    '''
    """Seed 003's integration example run from an installed wheel. Only the Modal parts are
    replaced by plain values (no Modal here); the URL comes from TIMESCALE_SERVICE_URL."""

    import asyncio
    import json
    import os
    import uuid
    from datetime import datetime, timedelta
    from typing import Any, Dict, List

    from arc.database.api import create_arc_api
    from arc.database.configs import ConfigurationManager
    from arc.database.core.engine import session_factory


    def run_evaluation_suite_parallel(agent_config, scenarios):
        """The sandbox's evaluator, standing in: seed 003's result format, the last one fails."""
        results = []
        for i, scenario in enumerate(scenarios):
            ok = i < len(scenarios) - 1
            trajectory = {
                "status": "success" if ok else "error",
                "task_prompt": scenario["task_prompt"],
                "final_response": "The weather in NYC is partly cloudy." if ok else "",
                "execution_time_seconds": 2.5,
                "full_trajectory": [
                    {"type": "tool_call", "tool_name": "weather_api",
                     "arguments": {"city": "NYC"}, "duration_ms": 120.0, "success": ok,
                     "output": "Partly cloudy, 18C"},
                ],
                "token_usage": {"prompt_tokens": 150, "completion_tokens": 50,
                                "total_tokens": 200, "total_cost": 0.006},
            }
            if not ok:
                trajectory["error"] = "Tool weather_api failed: HTTP 503"
            results.append({
                "scenario": scenario,
                "trajectory": trajectory,
                "reliability_score": {
                    "overall_score": 0.85 if ok else 0.2,
                    "grade": "B" if ok else "F",
                    "dimension_scores": {"tool_execution": 0.9, "response_quality": 0.8,
                                         "error_handling": 0.85, "performance": 0.9,
                                         "completeness": 0.8},
                },
                "detailed_trajectory": {"turns": 1},
            })
        return {"results": results}


    def crashing_suite(agent_config, scenarios):
        raise RuntimeError("the sandbox crashed")


    # ---- seed 003, "Complete Example": the decorated Modal function's body, as written ----
    async def run_evaluation_suite_with_db(
        agent_config: Dict[str, Any],
        scenarios: List[Dict[str, Any]],
        config_version_id: str,  # Required for database tracking
        run_evaluation_suite_parallel=run_evaluation_suite_parallel,
    ) -> Dict[str, Any]:
        """Run evaluation suite with database integration."""

        # 1. Initialize database API
        db_api = await create_arc_api()

        # 2. Start simulation tracking
        simulation_info = await db_api.start_simulation(
            config_version_id=config_version_id,
            scenarios=scenarios,
            simulation_name=f"eval_{agent_config['model']}_{datetime.now().strftime('%Y%m%d_%H%M%S')}",
            modal_app_id="wheel-check-app",  # modal.current_app_id()
            modal_environment=os.getenv("MODAL_ENVIRONMENT", "production"),
            sandbox_instances=len(scenarios),  # Assuming parallel execution
            metadata={
                "agent_model": agent_config["model"],
                "agent_temperature": agent_config["temperature"],
                "tools_enabled": agent_config.get("tools", [])
            }
        )

        simulation_id = simulation_info["simulation_id"]
        print(f"[DB] Started simulation {simulation_id}")

        try:
            # 3. Run the actual evaluation (your existing code)
            suite_result = run_evaluation_suite_parallel(agent_config, scenarios)

            # 4. Record all outcomes in batch
            modal_call_ids = [f"wheel-check-call_{i}" for i in range(len(scenarios))]
            outcome_ids = await db_api.record_batch_outcomes(
                simulation_id=simulation_id,
                scenario_results=suite_result["results"],
                modal_call_ids=modal_call_ids
            )

            print(f"[DB] Recorded {len(outcome_ids)} outcomes")

            # 5. Complete the simulation
            completion_info = await db_api.complete_simulation(
                simulation_id=simulation_id,
                suite_result=suite_result
            )

            print(f"[DB] Simulation completed with score {completion_info['overall_score']:.2f}")

            # 6. Add simulation info to results
            suite_result["simulation_id"] = simulation_id
            suite_result["database_tracking"] = {
                "simulation_id": simulation_id,
                "outcome_ids": outcome_ids,
                "completion_status": completion_info
            }

            return suite_result

        except Exception as e:
            # Mark simulation as failed
            await db_api.db.engine.execute(
                db_api.db.engine.text(
                    "UPDATE simulations SET status = 'failed', completed_at = NOW() "
                    "WHERE simulation_id = :id"
                ),
                {"id": simulation_id}
            )
            raise
        finally:
            await db_api.db.close()  # seed 003 "Connection Management"; a script must close
    # ---- end of seed 003's example ----


    async def main() -> None:
        db_api = await create_arc_api()
        async with session_factory(db_api.db.engine)() as session, session.begin():
            made = await ConfigurationManager().create_configuration(
                session, uuid.uuid4(), "wheel check",
                {"model": "gpt-4o-mini", "temperature": 0.2, "tools": ["weather_api"]},
            )
        agent_config = {"model": "gpt-4o-mini", "temperature": 0.2, "tools": ["weather_api"]}
        scenarios = [
            {"id": f"wheel_weather_{i}", "name": f"Weather query {i}",
             "task_prompt": f"What's the weather in city {i}?"}
            for i in range(3)
        ]
        suite = await run_evaluation_suite_with_db(agent_config, scenarios, str(made.version_id))
        simulation_id = suite["simulation_id"]
        try:
            await run_evaluation_suite_with_db(
                agent_config, scenarios, str(made.version_id), crashing_suite
            )
            crashed = None
        except RuntimeError as exc:
            crashed = str(exc)

        # Seed 003's "Query Examples" and "Monitoring".
        status = await db_api.get_simulation_status(simulation_id)
        outcomes = await db_api.get_scenario_outcomes(simulation_id)
        failures = await db_api.get_scenario_outcomes(simulation_id, status_filter="error")
        outcome = await db_api.get_scenario_outcomes(simulation_id, scenario_id="wheel_weather_0")
        perf = await db_api.db.get_simulation_performance(
            simulation_id, time_range=timedelta(hours=24)
        )
        recent = await db_api.db.get_recent_failures(limit=100)
        metrics = await db_api.db.get_metrics()
        await db_api.db.close()
        print("RESULT " + json.dumps({
            "simulation_id": simulation_id,
            "outcome_ids": suite["database_tracking"]["outcome_ids"],
            "completion": suite["database_tracking"]["completion_status"],
            "crashed": crashed,
            "status": status,
            "outcomes": len(outcomes),
            "failures": len(failures),
            "one_scenario": len(outcome),
            "perf_total": perf["summary"]["total_outcomes"],
            "recent_failures": len(recent),
            "success_rate": metrics["success_rate"],
        }, default=str))


    asyncio.run(main())
    '''
)


def test_migrate_and_the_seed_003_example_from_an_empty_directory(
    venv: Venv, empty_dir: Path, fresh_url: str
) -> None:
    head = migrate.head_revision()
    upgraded = venv.run(
        [venv.arc_db, "migrate", "upgrade"], empty_dir, TIMESCALE_SERVICE_URL=fresh_url
    )
    assert upgraded.stdout.strip() == f"upgraded base -> {head} (head)", upgraded.stdout
    current = venv.run(
        [venv.arc_db, "migrate", "current"], empty_dir, TIMESCALE_SERVICE_URL=fresh_url
    )
    assert current.stdout.strip() == f"current: {head} (head)"

    script = empty_dir / "seed_003_example.py"
    script.write_text(SEED_003)
    ran = venv.run([venv.python, str(script)], empty_dir, TIMESCALE_SERVICE_URL=fresh_url)
    result = _result(ran.stdout)
    assert sorted(p.name for p in empty_dir.iterdir()) == [script.name]  # wrote nothing here

    sid = result["simulation_id"]
    stored, failed, completed, status, crashed_runs, crashed_outcomes = asyncio.run(
        _scalars(
            fresh_url,
            "SELECT count(*) FROM outcomes WHERE simulation_id = :s",
            "SELECT count(*) FROM outcomes WHERE simulation_id = :s AND status <> 'success'",
            "SELECT completed_scenarios FROM simulations WHERE simulation_id = :s",
            "SELECT status FROM simulations WHERE simulation_id = :s",
            "SELECT count(*) FROM simulations WHERE status = 'failed' AND completed_at IS NOT NULL",
            "SELECT count(*) FROM outcomes o JOIN simulations s USING (simulation_id)"
            " WHERE s.status = 'failed'",
            s=sid,
        )
    )
    assert len(result["outcome_ids"]) == len(set(result["outcome_ids"])) == stored == 3
    assert failed == 1
    assert status == "completed"
    assert result["completion"]["status"] == "completed"
    assert completed == result["completion"]["completed_scenarios"] == stored
    # The except branch of the example marked the crashed run failed through db.engine.execute.
    assert result["crashed"] == "the sandbox crashed"
    assert (crashed_runs, crashed_outcomes) == (1, 0)
    # The query examples read back what was written.
    assert result["status"]["progress_percentage"] == pytest.approx(100.0)
    assert result["status"]["successful_outcomes"] == stored - failed
    assert result["status"]["failed_outcomes"] == failed
    assert (result["outcomes"], result["failures"], result["one_scenario"]) == (stored, failed, 1)
    assert result["perf_total"] == stored
    assert result["recent_failures"] == failed
    assert 0 < result["success_rate"] <= 100


DEPLOY = textwrap.dedent(
    """
    import asyncio, json, sys
    from arc.database.client import ArcDBClient

    async def main() -> None:
        client = ArcDBClient(sys.argv[1], log_level="WARNING")
        try:
            print("RESULT " + json.dumps(await client.deploy_schema()))
        finally:
            await client.close()

    asyncio.run(main())
    """
)


def _waiting_on_lock(conn: psycopg.Connection[Any], database: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1"
        " AND NOT l.granted AND d.datname = %s",
        (migrate.MIGRATION_LOCK_KEY, database),
    ).fetchone()
    return int(row[0]) if row else 0


def test_deploy_schema_is_locked_like_arc_db_migrate(
    venv: Venv, empty_dir: Path, fresh_url: str
) -> None:
    """Two deploy_schema() processes and one `arc-db migrate upgrade` wait behind the lock held
    here; released, exactly one of them applies the revisions."""
    script = empty_dir / "deploy.py"
    script.write_text(DEPLOY)
    database = fresh_url.rsplit("/", 1)[1].split("?")[0]
    commands = [
        [venv.python, str(script), fresh_url],
        [venv.python, str(script), fresh_url],
        [venv.arc_db, "migrate", "upgrade"],
    ]
    with psycopg.connect(fresh_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate.MIGRATION_LOCK_KEY,))
        procs = [
            subprocess.Popen(
                args,
                cwd=empty_dir,
                env=venv.env(TIMESCALE_SERVICE_URL=fresh_url),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        try:
            deadline = time.monotonic() + 120
            while _waiting_on_lock(holder, database) < len(procs):
                ended = [p for p in procs if p.poll() is not None]
                assert not ended, ended[0].communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the deployers never queued on the lock"
                time.sleep(0.1)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (migrate.MIGRATION_LOCK_KEY,))
        outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    head = migrate.head_revision()
    summaries = [_result(out)["summary"] for out, _ in outputs[:2]] + [outputs[2][0].strip()]
    assert summaries.count(f"upgraded base -> {head} (head)") == 1, summaries
    assert summaries.count(f"already at {head} (head): nothing to do") == 2, summaries
    assert [_result(out)["revision"] for out, _ in outputs[:2]] == [head, head]
    versions, hypertables = asyncio.run(
        _scalars(
            fresh_url,
            "SELECT count(*) FROM alembic_version",
            "SELECT count(*) FROM timescaledb_information.hypertables",
        )
    )
    assert versions == 1
    assert hypertables >= 3  # outcomes, tool_usage, failure_patterns


def test_arc_db_demo_from_the_wheel(venv: Venv, empty_dir: Path, server_url: str) -> None:
    """`arc-db demo` creates its database, migrates it and runs the whole demonstration."""
    venv.run(
        [venv.python, "-m", "pip", "install", "--quiet", f"{venv.dist.wheel}[analysis]"],
        empty_dir,
        timeout=PIP_TIMEOUT,
    )
    url = with_database(server_url, fresh_database_name("arc_wheel_demo"))
    try:
        demo = venv.run(
            [venv.arc_db, "demo", "--simulations", "5", "--scenarios", "12"],
            empty_dir,
            timeout=900,
            TIMESCALE_SERVICE_URL=url,
        )
        assert "Demo finished in" in demo.stdout, demo.stdout[-3000:]
        assert list(empty_dir.iterdir()) == []
        revision, simulations, unfinished, scenarios, completed, outcomes = asyncio.run(
            _scalars(
                url,
                "SELECT version_num FROM alembic_version",
                "SELECT count(*) FROM simulations",
                "SELECT count(*) FROM simulations WHERE status <> 'completed'",
                "SELECT sum(total_scenarios) FROM simulations",
                "SELECT sum(completed_scenarios) FROM simulations",
                "SELECT count(*) FROM outcomes",
            )
        )
    finally:
        asyncio.run(drop_database(url))
    assert revision == migrate.head_revision()
    assert simulations >= 4  # at least one per demo configuration
    assert unfinished == 0
    assert outcomes == scenarios == completed
