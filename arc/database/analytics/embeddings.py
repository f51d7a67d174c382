"""Text embeddings for similarity search: a provider interface and two providers.

`HashingEmbeddingProvider` is the default: deterministic feature hashing of word unigrams,
word bigrams and character 3-5-grams into EMBEDDING_DIMENSIONS signed buckets, L2-normalised.
Texts that share words and fragments land near each other under cosine distance, with no
model, no network and no API key, so the demo and the tests work anywhere. It is not a
semantic model: synonyms are not near, shared wording is.

`OpenAIEmbeddingProvider` talks to any OpenAI-compatible `/embeddings` endpoint (base URL and
key from the environment) through the official SDK, the optional extra `arc-eval-db[openai]`,
imported only when a request is sent.
"""

import itertools
import math
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from arc.database.core.errors import ArcConfigurationError, ArcValidationError
from arc.database.core.extras import require
from arc.database.models.base import EMBEDDING_DIMENSIONS

_WORD = re.compile(r"[a-z0-9_]+")
_SPACES = re.compile(r"\s+")
# Long texts (trajectories, logs) are cut here: hashing cost grows with length and the start of
# an error message or trajectory carries most of what makes it similar to another.
MAX_TEXT_CHARS = 4000


@runtime_checkable
class EmbeddingProvider(Protocol):
    """Turns texts into vectors of `dimensions` floats (one per text, in order)."""

    @property
    def dimensions(self) -> int: ...

    @property
    def name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def validate_embedding(
    vector: Sequence[float], *, field: str = "embedding", index: int | None = None
) -> list[float]:
    """The vector as a list of floats, or ArcValidationError (wrong length, NaN, infinity)."""
    if isinstance(vector, str | bytes) or not isinstance(vector, Sequence):
        raise ArcValidationError(field, "must be a sequence of floats", index=index)
    if len(vector) != EMBEDDING_DIMENSIONS:
        raise ArcValidationError(
            field,
            f"must have {EMBEDDING_DIMENSIONS} dimensions, got {len(vector)}",
            value=len(vector),
            index=index,
        )
    out: list[float] = []
    for position, value in enumerate(vector):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ArcValidationError(
                field, f"element {position} is not a number", value=value, index=index
            )
        number = float(value)
        if not math.isfinite(number):
            raise ArcValidationError(
                field, f"element {position} must be finite", value=number, index=index
            )
        out.append(number)
    return out


def _features(text: str) -> list[tuple[str, float]]:
    normalised = _SPACES.sub(" ", text.lower()).strip()[:MAX_TEXT_CHARS]
    words = _WORD.findall(normalised)
    feats: list[tuple[str, float]] = [("w:" + w, 1.0) for w in words]
    feats.extend(("b:" + a + " " + b, 1.0) for a, b in itertools.pairwise(words))
    padded = f" {normalised} "
    for n in (3, 4, 5):
        feats.extend(("c:" + padded[i : i + n], 0.5) for i in range(len(padded) - n + 1))
    return feats


def hash_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """Signed feature hashing (crc32: stable across processes, unlike hash()), L2-normalised."""
    vector = [0.0] * dimensions
    for feature, weight in _features(text):
        h = zlib.crc32(feature.encode())
        sign = 1.0 if (h >> 31) & 1 else -1.0
        vector[h % dimensions] += sign * weight
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        # An empty text still needs a valid, finite unit vector (cosine distance is undefined
        # for the zero vector): a fixed direction that every empty text shares.
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


@dataclass(frozen=True)
class HashingEmbeddingProvider:
    """The offline default. Deterministic: the same text always gives the same vector."""

    dimensions: int = EMBEDDING_DIMENSIONS
    name: str = "hashing-ngrams-v1"

    def embed_one(self, text: str) -> list[float]:
        return hash_embedding(text, self.dimensions)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(t) for t in texts]


@dataclass(frozen=True)
class OpenAIEmbeddingProvider:
    """An OpenAI-compatible `/embeddings` endpoint through the official `openai` SDK (extra
    `openai`), which retries 429/5xx with backoff. Key and base URL default from the env:
    OPENAI_API_KEY (or ARC_EMBEDDING_API_KEY) and OPENAI_BASE_URL (or ARC_EMBEDDING_BASE_URL).
    """

    api_key: str = field(repr=False)
    base_url: str = "https://api.openai.com/v1"
    model: str = "text-embedding-3-small"
    timeout: float = 30.0
    max_retries: int = 3
    dimensions: int = EMBEDDING_DIMENSIONS

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    @classmethod
    def from_env(cls, **overrides: Any) -> "OpenAIEmbeddingProvider":
        key = os.environ.get("ARC_EMBEDDING_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ArcConfigurationError(
                "OPENAI_API_KEY", "is not set: the OpenAI embedding provider needs an API key"
            )
        base = (
            os.environ.get("ARC_EMBEDDING_BASE_URL")
            or os.environ.get("OPENAI_BASE_URL")
            or cls.base_url
        )
        model = os.environ.get("ARC_EMBEDDING_MODEL") or cls.model
        params: dict[str, Any] = {"api_key": key, "base_url": base, "model": model}
        params.update(overrides)
        return cls(**params)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        sdk = require("openai", extra="openai", feature="OpenAI embeddings")
        client = sdk.AsyncOpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )
        try:
            response = await client.embeddings.create(
                model=self.model,
                input=[t[: MAX_TEXT_CHARS * 2] for t in texts],
                dimensions=self.dimensions,
            )
        finally:
            await client.close()
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(texts):
            raise ArcValidationError(
                "embedding", f"the endpoint returned {len(rows)} vectors for {len(texts)} texts"
            )
        return [
            validate_embedding(list(row.embedding), index=i, field="embedding")
            for i, row in enumerate(rows)
        ]


def default_provider() -> EmbeddingProvider:
    """ARC_EMBEDDING_PROVIDER=openai selects the OpenAI provider; anything else the offline one."""
    if os.environ.get("ARC_EMBEDDING_PROVIDER", "").lower() == "openai":
        return OpenAIEmbeddingProvider.from_env()
    return HashingEmbeddingProvider()


def trajectory_text(trajectory: Mapping[str, Any]) -> str:
    """The parts of a seed-003 trajectory that make two runs alike, as one text.

    Status, task, the tool-call sequence with outcomes, the error and the final response; the
    bulky raw payloads are left out so that similarity follows behaviour, not noise.
    """
    parts: list[str] = [f"status {trajectory.get('status', '')}"]
    task = trajectory.get("task_prompt")
    if task:
        parts.append(f"task {task}")
    steps = trajectory.get("full_trajectory") or trajectory.get("steps") or []
    if isinstance(steps, Sequence) and not isinstance(steps, str):
        for step in steps[:50]:
            if isinstance(step, Mapping):
                tool = step.get("tool") or step.get("tool_name") or step.get("type") or ""
                result = step.get("status") or step.get("result_status") or ""
                error = step.get("error") or ""
                parts.append(f"step {tool} {result} {error}".strip())
    for key in ("error", "error_message", "final_response"):
        value = trajectory.get(key)
        if value:
            parts.append(f"{key} {str(value)[:500]}")
    return "\n".join(parts)
