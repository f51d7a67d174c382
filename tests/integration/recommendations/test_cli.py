"""`arc-db recommendations` as a user runs it: a subprocess against a real database, the
providers chosen by flags and the SDKs' own variables, talking to loopback servers."""

import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.configs import ConfigurationManager
from arc.database.core.engine import session_factory
from arc.database.demo.evaluation import evaluate_version
from arc.database.demo.loop import START_CONFIG
from arc.database.demo.surface import DefaultSurface, make_scenarios
from arc.database.ingest.api import ArcAPI, create_arc_api
from tests.conftest import ROOT
from tests.support.llm_servers import ScriptedServer, anthropic_answer, openai_answer
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

SCENARIOS = make_scenarios(30)


def arc_db(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ARC_LLM", "OPENAI_", "ANTHROPIC_"))
        },
        "ARC_LLM_MAX_RETRIES": "0",
        **env,
    }
    environment.pop("TIMESCALE_SERVICE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "arc.database.cli", "--url", url, "recommendations", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=environment,
    )


@pytest.fixture(scope="module")
async def api(scratch_url: str) -> AsyncIterator[ArcAPI]:
    client_api = await create_arc_api(scratch_url, log_level="WARNING", pool_size=4)
    yield client_api
    await client_api.db.close()


async def _run(api: ArcAPI, version_id: uuid.UUID, config: dict[str, Any]) -> None:
    await evaluate_version(
        api,
        version_id=version_id,
        config=config,
        scenarios=SCENARIOS,
        repeats=6,
        surface=DefaultSurface(),
        rng=random.Random(7),
        label="cli",
    )


async def _agent(engine: AsyncEngine, api: ArcAPI) -> tuple[uuid.UUID, uuid.UUID]:
    user = uuid.uuid4()
    async with session_factory(engine).begin() as s:
        created = await ConfigurationManager().create_configuration(
            s, user, f"cli-agent-{uuid.uuid4().hex[:8]}", dict(START_CONFIG)
        )
    await _run(api, created.version_id, dict(START_CONFIG))
    return user, created.config_id


async def test_the_loop_from_the_command_line(
    scratch_engine: AsyncEngine, scratch_url: str, api: ArcAPI
) -> None:
    user, config_id = await _agent(scratch_engine, api)
    done = arc_db(scratch_url, "analyze", "--config", str(config_id), "--days", "1", "--json")
    assert done.returncode == 0, done.stderr
    analysis = json.loads(done.stdout)
    assert analysis["analysis"]["status"] == "completed"
    assert analysis["analysis"]["model"] == "offline-evidence-v1"
    assert analysis["analysis"]["cost_usd"] == 0.0
    top = next(r for r in analysis["recommendations"] if r["kind"] == "tools:added")
    rec_id = top["recommendation_id"]

    listed = arc_db(scratch_url, "list", "--session", analysis["analysis"]["session_id"])
    assert listed.returncode == 0, listed.stderr
    assert rec_id in listed.stdout
    shown = arc_db(scratch_url, "show", rec_id)
    assert shown.returncode == 0, shown.stderr
    assert "merge patch:" in shown.stdout
    assert "tool_coverage" in shown.stdout

    applied = arc_db(scratch_url, "apply", rec_id, "--by", str(user), "--json")
    assert applied.returncode == 0, applied.stderr
    candidate = json.loads(applied.stdout)
    early = arc_db(scratch_url, "approve", candidate["diff_id"], "--by", str(user))
    assert early.returncode == 1, early.stdout + early.stderr  # refused: no canary yet
    assert "evaluation" in early.stderr

    async with session_factory(scratch_engine)() as s:
        info = await ConfigurationManager().get_version(
            s, uuid.UUID(candidate["candidate_version_id"])
        )
    await _run(api, info.version_id, info.parsed_config)
    evaluated = arc_db(scratch_url, "evaluate", candidate["diff_id"])
    assert evaluated.returncode == 0, evaluated.stderr
    assert "the prediction held" in evaluated.stdout
    approved = arc_db(scratch_url, "approve", candidate["diff_id"], "--by", str(user))
    assert approved.returncode == 0, approved.stderr
    assert f"approved; the configuration serves version {info.version_id}" in approved.stdout
    rated = arc_db(scratch_url, "feedback", rec_id, "5")
    assert rated.returncode == 0, rated.stderr

    report = arc_db(scratch_url, "report", "--user", str(user))
    assert report.returncode == 0, report.stderr
    assert "1 recommendations evaluated by a canary; Brier score" in report.stdout
    assert "mean confidence" in report.stdout  # the reliability table
    assert "tools:added" in report.stdout  # the hit rate per kind
    assert "100%" in report.stdout
    as_json = json.loads(arc_db(scratch_url, "report", "--user", str(user), "--json").stdout)
    assert as_json["realised"] == 1
    assert as_json["brier_score"] == pytest.approx((1 - top["confidence"]) ** 2, abs=1e-4)
    assert [k["kind"] for k in as_json["kinds"]] == ["tools:added"]

    unknown = arc_db(scratch_url, "show", str(uuid.uuid4()))
    assert unknown.returncode == 2


async def test_the_provider_and_model_come_from_flags_and_sdk_variables(
    scratch_engine: AsyncEngine, scratch_url: str, api: ArcAPI
) -> None:
    _, config_id = await _agent(scratch_engine, api)
    answer = {"recommendations": []}
    with ScriptedServer([openai_answer(answer, model="gpt-4.1-mini")]) as server:
        done = arc_db(
            scratch_url,
            "analyze",
            "--config",
            str(config_id),
            "--days",
            "1",
            "--provider",
            "openai",
            "--model",
            "gpt-4.1-mini",
            "--json",
            OPENAI_API_KEY="test-key",
            OPENAI_BASE_URL=server.url + "/v1",
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["analysis"]
    assert server.requests[0]["body"]["model"] == "gpt-4.1-mini"
    assert server.requests[0]["headers"]["authorization"] == "Bearer test-key"
    assert result["model"] == "gpt-4.1-mini"
    assert result["cost_usd"] == pytest.approx((1200 * 0.40 + 300 * 1.60) / 1e6)

    text_only = anthropic_answer({})
    text_only.body["content"] = [{"type": "text", "text": "no tool call"}]
    with ScriptedServer([text_only]) as server:
        failed = arc_db(
            scratch_url,
            "analyze",
            "--config",
            str(config_id),
            "--days",
            "1",
            ARC_LLM_PROVIDER="anthropic",
            ARC_LLM_MODEL="claude-sonnet-4-0",
            ANTHROPIC_API_KEY="test-key",
            ANTHROPIC_BASE_URL=server.url,
        )
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "no submit_recommendations call" in failed.stdout
    assert server.requests[0]["body"]["model"] == "claude-sonnet-4-0"
