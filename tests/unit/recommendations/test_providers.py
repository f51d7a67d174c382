"""The providers over real HTTP on loopback, with the official SDKs as they are: success,
429 then success, 5xx, a timeout, an answer without the structured output. No network."""

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from arc.database.core.errors import ArcConfigurationError
from arc.database.recommendations.evidence import EvidencePack, Support
from arc.database.recommendations.prompt import build_request, prompt_hash
from arc.database.recommendations.providers import model_from_env, provider_from_env
from arc.database.recommendations.providers.anthropic import AnthropicProvider
from arc.database.recommendations.providers.base import LLMRequest, ProviderError
from arc.database.recommendations.providers.offline import OfflineProvider
from arc.database.recommendations.providers.openai import OpenAIProvider
from arc.database.recommendations.providers.prices import cost_usd, price_table
from tests.support.llm_servers import ScriptedServer, anthropic_answer, openai_answer, reply

ANSWER = {
    "recommendations": [
        {
            "recommendation_type": "tool_optimization",
            "description": "Enable the weather tool for weather scenarios",
            "changes": [{"key": "tools", "operation": "add_item", "value_json": '"weather_api"'}],
            "evidence": ["E1"],
            "rationale": "E1",
        }
    ]
}


def _pack() -> EvidencePack:
    pack = EvidencePack(
        config_id=uuid.uuid4(),
        config_name="agent",
        user_id=uuid.uuid4(),
        version_id=uuid.uuid4(),
        version_number=1,
        config={"model": "m", "temperature": 0.7, "retries": 0, "tools": ["web_search"]},
        target_metric="reliability_score",
        window_start=datetime(2026, 11, 1, tzinfo=UTC),
        window_end=datetime(2026, 11, 2, tzinfo=UTC),
        outcomes=600,
    )
    pack.add(
        "tool_coverage",
        "weather scenarios fail without weather_api",
        {"scenario_ids": ["s1"]},
        p_improve=0.99,
        expected_delta=0.1,
        supports=[Support("tools", "added", "weather_api")],
    )
    pack.add(
        "transient_tool_errors",
        "tool errors",
        {},
        p_improve=0.95,
        expected_delta=0.02,
        supports=[Support("retries", "raised")],
    )
    return pack


def _request() -> LLMRequest:
    return build_request(_pack(), model="gpt-4o-mini", temperature=0.1)


async def test_openai_structured_output_usage_and_cost() -> None:
    with ScriptedServer([openai_answer(ANSWER, prompt_tokens=1000, completion_tokens=200)]) as srv:
        provider = OpenAIProvider(api_key="test-key", base_url=srv.url + "/v1", max_retries=0)
        answer = await provider.complete(_request())
    assert json.loads(answer.text) == ANSWER
    assert (answer.input_tokens, answer.output_tokens) == (1000, 200)
    assert answer.cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    sent = srv.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer test-key"
    fmt = sent["body"]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["recommendations"]
    assert [m["role"] for m in sent["body"]["messages"]] == ["system", "user"]


async def test_openai_retries_a_429_then_succeeds() -> None:
    script = [reply(429, retry_ms=0), reply(503, retry_ms=0), openai_answer(ANSWER)]
    with ScriptedServer(script) as srv:
        provider = OpenAIProvider(api_key="k", base_url=srv.url + "/v1", max_retries=3)
        answer = await provider.complete(_request())
    assert json.loads(answer.text) == ANSWER
    assert len(srv.requests) == 3


@pytest.mark.parametrize("status", [500, 429])
async def test_openai_gives_up_with_a_provider_error(status: int) -> None:
    with ScriptedServer([reply(status, retry_ms=0)]) as srv:
        provider = OpenAIProvider(api_key="k", base_url=srv.url + "/v1", max_retries=2)
        with pytest.raises(ProviderError, match="openai"):
            await provider.complete(_request())
    assert len(srv.requests) == 3  # the first attempt and two retries


async def test_openai_timeout_is_a_provider_error() -> None:
    with ScriptedServer([replace(openai_answer(ANSWER), delay=2.0)]) as srv:
        provider = OpenAIProvider(api_key="k", base_url=srv.url + "/v1", timeout=0.3, max_retries=0)
        with pytest.raises(ProviderError, match="Timeout"):
            await provider.complete(_request())


async def test_openai_refusal_is_a_provider_error() -> None:
    refused = openai_answer("")
    refused.body["choices"][0]["message"]["refusal"] = "I cannot help with that"
    with ScriptedServer([refused]) as srv:
        provider = OpenAIProvider(api_key="k", base_url=srv.url + "/v1", max_retries=0)
        with pytest.raises(ProviderError, match="cannot help"):
            await provider.complete(_request())


async def test_anthropic_forced_tool_usage_and_cost() -> None:
    with ScriptedServer([anthropic_answer(ANSWER, input_tokens=2000, output_tokens=500)]) as srv:
        provider = AnthropicProvider(api_key="test-key", base_url=srv.url, max_retries=0)
        answer = await provider.complete(_request())
    assert json.loads(answer.text) == ANSWER
    assert answer.cost_usd == pytest.approx((2000 * 3.0 + 500 * 15.0) / 1e6)
    sent = srv.requests[0]
    assert sent["path"] == "/v1/messages"
    headers = sent["headers"]  # x-api-key in the 0.x SDK, a bearer token in 2.x
    assert "test-key" in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    assert sent["body"]["tool_choice"] == {"type": "tool", "name": "submit_recommendations"}
    assert sent["body"]["tools"][0]["input_schema"]["required"] == ["recommendations"]


async def test_anthropic_retries_then_fails_then_times_out() -> None:
    with ScriptedServer([reply(429, retry_ms=0), anthropic_answer(ANSWER)]) as srv:
        provider = AnthropicProvider(api_key="k", base_url=srv.url, max_retries=2)
        assert json.loads((await provider.complete(_request())).text) == ANSWER
    assert len(srv.requests) == 2
    with ScriptedServer([reply(529, retry_ms=0)]) as srv:
        provider = AnthropicProvider(api_key="k", base_url=srv.url, max_retries=1)
        with pytest.raises(ProviderError, match="anthropic"):
            await provider.complete(_request())
    with ScriptedServer([replace(anthropic_answer(ANSWER), delay=2.0)]) as srv:
        provider = AnthropicProvider(api_key="k", base_url=srv.url, timeout=0.3, max_retries=0)
        with pytest.raises(ProviderError, match="Timeout"):
            await provider.complete(_request())


async def test_anthropic_without_the_tool_call_is_a_provider_error() -> None:
    text_only = anthropic_answer(ANSWER)
    text_only.body["content"] = [{"type": "text", "text": "here are my thoughts"}]
    text_only.body["stop_reason"] = "end_turn"
    with ScriptedServer([text_only]) as srv:
        provider = AnthropicProvider(api_key="k", base_url=srv.url, max_retries=0)
        with pytest.raises(ProviderError, match="no submit_recommendations call"):
            await provider.complete(_request())


async def test_offline_provider_is_deterministic_and_cites_its_evidence() -> None:
    request = _request()
    first = json.loads((await OfflineProvider().complete(request)).text)
    second = json.loads((await OfflineProvider().complete(request)).text)
    assert first == second
    top = first["recommendations"][0]
    assert top["changes"] == [
        {"key": "tools", "operation": "add_item", "value_json": '"weather_api"'}
    ]
    assert top["evidence"] == ["E1"]
    assert first["recommendations"][1]["changes"][0] == {
        "key": "retries",
        "operation": "set",
        "value_json": "1",
    }
    assert prompt_hash(request) == prompt_hash(_request())


def test_provider_selection_and_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARC_LLM_PROVIDER", raising=False)
    assert provider_from_env().name == "offline"
    monkeypatch.setenv("ARC_LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("ARC_LLM_MODEL", "gpt-4.1-mini")
    chosen = provider_from_env()
    assert chosen.name == "openai"
    assert model_from_env(chosen) == "gpt-4.1-mini"
    monkeypatch.setenv("ARC_LLM_PROVIDER", "gemini")
    with pytest.raises(ArcConfigurationError) as caught:
        provider_from_env()
    assert caught.value.setting == "ARC_LLM_PROVIDER"
    table = price_table()
    assert cost_usd(table, "gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.50)
    assert cost_usd(table, "unknown-model", 1000, 1000) == 0.0
    monkeypatch.setenv("ARC_LLM_PRICES", '{"my-model": [1, 2]}')
    assert cost_usd(price_table(), "my-model", 1_000_000, 1_000_000) == pytest.approx(3.0)
    monkeypatch.setenv("ARC_LLM_PRICES", "not json")
    with pytest.raises(ArcConfigurationError):
        price_table()
