"""Embeddings and bucket alignment, offline: no network, no database."""

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from arc.database.analytics import ceil_time, floor_time
from arc.database.analytics.embeddings import (
    EmbeddingProvider,
    HashingEmbeddingProvider,
    OpenAIEmbeddingProvider,
    default_provider,
    hash_embedding,
    trajectory_text,
    validate_embedding,
)
from arc.database.core.errors import ArcConfigurationError, ArcValidationError
from arc.database.models import EMBEDDING_DIMENSIONS
from tests.support.llm_servers import Reply, ScriptedServer, reply


def cosine_distance(a: list[float], b: list[float]) -> float:
    return 1 - sum(x * y for x, y in zip(a, b, strict=True))


def test_hash_embedding_is_deterministic_unit_and_similarity_preserving() -> None:
    a = hash_embedding("Timeout after 30s waiting for weather_api response")
    assert a == hash_embedding("Timeout after 30s waiting for weather_api response")
    assert len(a) == EMBEDDING_DIMENSIONS
    assert math.isclose(math.sqrt(sum(x * x for x in a)), 1.0, rel_tol=1e-9)
    b = hash_embedding("Timeout after 45s waiting for weather_api response")
    c = hash_embedding("Model output could not be parsed as JSON")
    assert cosine_distance(a, b) < 0.3 < 0.8 < cosine_distance(a, c)


def test_empty_text_still_gives_a_valid_unit_vector() -> None:
    vector = hash_embedding("   ")
    assert validate_embedding(vector) == vector
    assert sum(x * x for x in vector) == 1.0


async def test_hashing_provider_satisfies_the_protocol() -> None:
    provider = HashingEmbeddingProvider()
    assert isinstance(provider, EmbeddingProvider)
    vectors = await provider.embed(["one", "two"])
    assert len(vectors) == 2
    assert vectors[0] != vectors[1]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ([0.0] * 10, "must have 1536 dimensions, got 10"),
        ([float("nan")] * EMBEDDING_DIMENSIONS, "element 0 must be finite"),
        ([float("inf")] + [0.0] * (EMBEDDING_DIMENSIONS - 1), "element 0 must be finite"),
        (["x"] * EMBEDDING_DIMENSIONS, "element 0 is not a number"),
        ("not a vector", "must be a sequence of floats"),
    ],
)
def test_validate_embedding_rejects_bad_vectors(value: object, rule: str) -> None:
    with pytest.raises(ArcValidationError) as err:
        validate_embedding(value, field="error_embedding", index=3)  # type: ignore[arg-type]
    assert err.value.field == "error_embedding"
    assert err.value.rule == rule
    assert err.value.index == 3


async def test_openai_provider_over_loopback_http(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = [
        [1.0] + [0.0] * (EMBEDDING_DIMENSIONS - 1),
        [0.0, 1.0] + [0.0] * (EMBEDDING_DIMENSIONS - 2),
    ]
    body = {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [  # out of order on purpose: the provider sorts by index
            {"object": "embedding", "index": 1, "embedding": vectors[1]},
            {"object": "embedding", "index": 0, "embedding": vectors[0]},
        ],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    with ScriptedServer([reply(429, retry_ms=0), Reply(200, body)]) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        provider = OpenAIEmbeddingProvider.from_env(max_retries=1)
        assert await provider.embed(["hello", "world"]) == vectors
        assert await provider.embed([]) == []
    sent = server.requests[-1]
    assert sent["path"] == "/v1/embeddings"
    assert sent["headers"]["authorization"] == "Bearer sk-test-123"
    assert sent["body"]["input"] == ["hello", "world"]
    assert sent["body"]["dimensions"] == EMBEDDING_DIMENSIONS
    assert len(server.requests) == 2  # the 429 was retried
    assert "sk-test-123" not in repr(provider)
    assert provider.name == "openai:text-embedding-3-small"
    monkeypatch.setenv("ARC_EMBEDDING_PROVIDER", "openai")
    assert isinstance(default_provider(), OpenAIEmbeddingProvider)


def test_openai_provider_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ARC_EMBEDDING_API_KEY", "ARC_EMBEDDING_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ArcConfigurationError):
        OpenAIEmbeddingProvider.from_env()
    assert isinstance(default_provider(), HashingEmbeddingProvider)


def test_trajectory_text_keeps_behaviour_not_payloads() -> None:
    text = trajectory_text(
        {
            "status": "error",
            "task_prompt": "weather in Paris",
            "full_trajectory": [
                {"tool_name": "weather_api", "status": "error", "error": "HTTP 503"},
                {"type": "tool_call", "tool": "web_search", "status": "success", "raw": "x" * 9999},
            ],
            "error": "weather_api returned HTTP 503",
        }
    )
    assert "status error" in text
    assert "step weather_api error HTTP 503" in text
    assert "web_search" in text
    assert "x" * 100 not in text


def test_bucket_alignment_matches_time_bucket() -> None:
    t = datetime(2026, 3, 11, 13, 45, 10, tzinfo=UTC)  # a Wednesday
    assert floor_time(t, timedelta(hours=1)) == datetime(2026, 3, 11, 13, tzinfo=UTC)
    assert ceil_time(t, timedelta(hours=1)) == datetime(2026, 3, 11, 14, tzinfo=UTC)
    assert floor_time(t, timedelta(days=1)) == datetime(2026, 3, 11, tzinfo=UTC)
    assert floor_time(t, timedelta(days=7)) == datetime(2026, 3, 9, tzinfo=UTC)  # Monday
    aligned = datetime(2026, 3, 11, tzinfo=UTC)
    assert ceil_time(aligned, timedelta(days=1)) == aligned
    other_zone = t.astimezone(timezone(timedelta(hours=-5)))
    assert floor_time(other_zone, timedelta(days=1)) == datetime(2026, 3, 11, tzinfo=UTC)
