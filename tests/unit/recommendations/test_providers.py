"""LLM providers and answer parsing, offline: no network in any test."""

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from arc.database.core.errors import ArcConfigurationError
from arc.database.recommendations.answers import (
    LLMAnswerError,
    deep_merge,
    parse_llm_answer,
    score_confidence,
)
from arc.database.recommendations.engine import RecommendationEngine
from arc.database.recommendations.providers.base import LLMProvider, extract_analysis
from arc.database.recommendations.providers.offline import HeuristicProvider
from arc.database.recommendations.providers.openai_compatible import OpenAICompatibleProvider

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _prompt(analysis: dict) -> str:
    return RecommendationEngine.build_prompt(analysis, NOW, NOW)


def test_prompt_embeds_analysis_and_is_deterministic() -> None:
    analysis = {"scenario_trends": [{"scenario_id": "a", "executions": 3}], "b": 1}
    assert _prompt(analysis) == _prompt(dict(reversed(list(analysis.items()))))
    assert extract_analysis(_prompt(analysis)) == analysis


async def test_heuristic_rules() -> None:
    target = str(uuid.uuid4())
    analysis = {
        "target_config": {
            "config_id": target,
            "parsed_config": {"model": "big", "temperature": 0.9},
        },
        "scenario_trends": [{"scenario_id": "s1", "executions": 10, "timeout_count": 4}],
        "tool_performance": [
            {"tool_name": "ok_tool", "usage_count": 50, "avg_success_rate": 0.99},
            {"tool_name": "bad_tool", "usage_count": 20, "avg_success_rate": 0.4},
        ],
        "config_performance": [
            {
                "config_id": target,
                "parsed_config": {"model": "big"},
                "executions": 30,
                "avg_reliability": 0.9,
                "cost_per_execution": 1.0,
            },
            {
                "config_id": "other",
                "parsed_config": {"model": "small"},
                "executions": 30,
                "avg_reliability": 0.88,
                "cost_per_execution": 0.1,
            },
        ],
        "failure_analysis": [
            {"failure_category": "model_error", "failures": 9, "sample_errors": ["bad json"]}
        ],
    }
    provider = HeuristicProvider()
    assert isinstance(provider, LLMProvider)
    answer = await provider.complete(_prompt(analysis), model="x", temperature=0)
    assert answer.cost_usd == 0
    parsed = parse_llm_answer(answer.text)
    assert parsed.skipped == []
    changes = sorted(r.suggested_yaml_changes or "" for r in parsed.recommendations)
    assert changes == [
        'model: "small"\n',
        "temperature: 0.6\n",
        "timeout_ms: 600000\n",
        'tools:\n  "bad_tool":\n    max_retries: 3\n',
    ]
    # deterministic
    again = await provider.complete(_prompt(analysis), model="x", temperature=0)
    assert again.text == answer.text


async def test_heuristic_is_quiet_on_healthy_data() -> None:
    analysis = {
        "scenario_trends": [{"scenario_id": "s", "executions": 100, "timeout_count": 1}],
        "tool_performance": [{"tool_name": "t", "usage_count": 100, "avg_success_rate": 0.95}],
    }
    answer = await HeuristicProvider().complete(_prompt(analysis), model="x", temperature=0)
    assert json.loads(answer.text) == {"recommendations": []}


def test_parse_tolerates_fences_and_prose_and_skips_bad_items() -> None:
    item = {
        "recommendation_type": "config_change",
        "description": "lower the temperature please",
        "suggested_yaml_changes": "temperature: 0.2",
        "evidence_count": 10,
        "effect_size": 1,
    }
    text = (
        "Here you go:\n```json\n"
        + json.dumps({"recommendations": [item, {"recommendation_type": "nope"}]})
        + "\n```"
    )
    parsed = parse_llm_answer(text)
    assert len(parsed.recommendations) == 1
    assert parsed.recommendations[0].confidence == pytest.approx(0.5)
    assert len(parsed.skipped) == 1
    assert "recommendation_type" in parsed.skipped[0]
    assert len(parse_llm_answer("noise " + json.dumps([item]) + " trailing").recommendations) == 1
    bad_yaml = dict(item, suggested_yaml_changes="- a list")
    assert parse_llm_answer(json.dumps([bad_yaml])).skipped


@pytest.mark.parametrize("text", ["", "no json here", "{broken", '{"other": 1}', '"just a string"'])
def test_parse_rejects_non_answers(text: str) -> None:
    with pytest.raises(LLMAnswerError):
        parse_llm_answer(text)


def test_confidence_combines_evidence_and_effect() -> None:
    assert score_confidence(0, 1) == 0
    assert score_confidence(10, 0.5) < score_confidence(100, 0.5) < 1
    assert score_confidence(50, 0.1) < score_confidence(50, 0.9)
    assert 0 <= score_confidence(1e9, 5, model_confidence=2) <= 1
    assert score_confidence(10, 1, model_confidence=0.5) == pytest.approx((0.5 * 0.5) ** 0.5)


def test_deep_merge() -> None:
    base = {"model": "a", "tools": {"x": {"retries": 1, "t": 2}}}
    assert deep_merge(base, {"tools": {"x": {"retries": 3}}, "model": "b"}) == {
        "model": "b",
        "tools": {"x": {"retries": 3, "t": 2}},
    }


def test_openai_request_building(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    provider = OpenAICompatibleProvider.from_env(prices_per_1k={"gpt-x": (0.01, 0.03)})
    request = provider.build_request("hello", model="gpt-x", temperature=0.1)
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body["model"] == "gpt-x"
    assert body["temperature"] == 0.1
    assert body["messages"][-1] == {"role": "user", "content": "hello"}
    assert body["response_format"] == {"type": "json_object"}
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ArcConfigurationError):
        OpenAICompatibleProvider.from_env()


async def test_openai_response_parsing_through_a_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "model": "gpt-x",
                "choices": [{"message": {"content": '{"recommendations": []}'}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 500},
            },
        )

    provider = OpenAICompatibleProvider(
        base_url="http://llm.invalid/v1", api_key="k", prices_per_1k={"gpt-x": (0.01, 0.03)}
    )
    result = await provider.complete(
        "p", model="gpt-x", temperature=0, transport=httpx.MockTransport(answer)
    )
    assert result.text == '{"recommendations": []}'
    assert result.cost_usd == pytest.approx(0.01 + 0.015)
    assert len(seen) == 1
    with pytest.raises(ValueError, match="unexpected"):
        provider.parse_response({"choices": []}, model="gpt-x")
