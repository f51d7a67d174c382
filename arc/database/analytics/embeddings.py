"""Text embeddings for similarity search: a provider interface and two providers.

`HashingEmbeddingProvider` is the default: deterministic feature hashing of word unigrams,
word bigrams and character 3-5-grams into EMBEDDING_DIMENSIONS signed buckets, L2-normalised.
In bulk it hashes the bytes of ASCII text without building feature strings and adds the
buckets up with numpy when numpy is installed (extra `analysis`); the vectors are the same to
the last bit either way (same crc32 features, same order of additions, the norm summed in the
same order).
Texts that share words and fragments land near each other under cosine distance, with no
model, no network and no API key, so the demo and the tests work anywhere. It is not a
semantic model: synonyms are not near, shared wording is.

`OpenAIEmbeddingProvider` talks to any OpenAI-compatible `/embeddings` endpoint (base URL and
key from the environment) through the official SDK, the optional extra `arc-eval-db[openai]`,
imported only when a request is sent.
"""

import asyncio
import functools
import itertools
import math
import operator
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
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


def _numpy() -> ModuleType | None:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy comes with the `analysis` extra
        return None
    return numpy


_NUMBER_TYPES = frozenset({float, int})


def validate_embedding(
    vector: Sequence[float], *, field: str = "embedding", index: int | None = None
) -> list[float]:
    """The vector as a list of floats, or ArcValidationError (wrong length, NaN, infinity)."""
    if (
        isinstance(vector, list | tuple)
        and len(vector) == EMBEDDING_DIMENSIONS
        and set(map(type, vector)) <= _NUMBER_TYPES
        and all(map(math.isfinite, vector))
    ):
        # The common case, checked by C-level loops; anything else takes the path below,
        # which finds the first bad element and names it.
        return (
            vector
            if isinstance(vector, list) and int not in set(map(type, vector))
            else [float(v) for v in vector]
        )
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


def _hashes(text: str) -> tuple[list[int], list[float]]:
    """crc32 and weight of every feature of `text` (the features of `_features`)."""
    feats = _features(text)
    return [zlib.crc32(f.encode()) for f, _ in feats], [w for _, w in feats]


@functools.cache
def _crc_table() -> Any:
    """The reflected CRC-32 table (polynomial 0xEDB88320): zlib's crc32, one byte at a time."""
    np = _numpy()
    assert np is not None
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1)
    return table.astype(np.uint32)


_GRAM_SEED = zlib.crc32(b"c:")


def _bucket_sums(text: str, dimensions: int, np: ModuleType) -> list[float] | None:
    """The feature-hashed vector (before normalisation) of an ASCII text, with numpy: the crc32
    of every character n-gram ("c:" + gram) computed for all positions at once, byte by byte
    (crc32 is a running state: the 4-gram continues the 3-gram). None for non-ASCII text."""
    normalised = _SPACES.sub(" ", text.lower()).strip()[:MAX_TEXT_CHARS]
    if not normalised.isascii():
        return None
    words = _WORD.findall(normalised)
    crc = zlib.crc32
    word_hashes = [crc(("w:" + w).encode()) for w in words]
    word_hashes += [crc(("b:" + a + " " + b).encode()) for a, b in itertools.pairwise(words)]
    data = np.frombuffer(f" {normalised} ".encode(), dtype=np.uint8).astype(np.uint32)
    table = _crc_table()
    size = len(data)
    codes = [np.asarray(word_hashes, dtype=np.int64)]
    weights = [np.ones(len(word_hashes))]
    if size >= 3:
        state = np.full(size - 2, _GRAM_SEED ^ 0xFFFFFFFF, dtype=np.uint32)
        for offset in range(3):
            state = (state >> 8) ^ table[(state ^ data[offset : offset + size - 2]) & 0xFF]
        for n in (3, 4, 5):
            if n > 3:
                state = state[:-1]
                state = (state >> 8) ^ table[(state ^ data[n - 1 :]) & 0xFF]
            codes.append((state ^ 0xFFFFFFFF).astype(np.int64))
            weights.append(np.full(len(state), 0.5))
            if len(state) < 2:
                break
    hashes = np.concatenate(codes)
    signed = np.where((hashes >> 31) & 1, 1.0, -1.0) * np.concatenate(weights)
    # Every weight is a multiple of 0.5, so each bucket's sum is exact in any order.
    return list(np.bincount(hashes % dimensions, weights=signed, minlength=dimensions).tolist())


def _normalised(vector: list[float]) -> list[float]:
    """L2-normalised; the norm is summed in index order, whoever filled the vector."""
    norm = math.sqrt(sum(map(operator.mul, vector, vector)))
    if norm == 0.0:
        # An empty text still needs a valid, finite unit vector (cosine distance is undefined
        # for the zero vector): a fixed direction that every empty text shares.
        vector[0] = 1.0
        return vector
    np = _numpy()
    if np is None:
        return [x / norm for x in vector]
    return list((np.asarray(vector) / norm).tolist())  # the same IEEE divisions


def hash_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """Signed feature hashing (crc32: stable across processes, unlike hash()), L2-normalised."""
    np = _numpy()
    summed = _bucket_sums(text, dimensions, np) if np is not None else None
    if summed is None:
        summed = [0.0] * dimensions
        for h, weight in zip(*_hashes(text), strict=True):
            summed[h % dimensions] += weight if (h >> 31) & 1 else -weight
    return _normalised(summed)


@dataclass(frozen=True)
class HashingEmbeddingProvider:
    """The offline default. Deterministic: the same text always gives the same vector."""

    dimensions: int = EMBEDDING_DIMENSIONS
    name: str = "hashing-ngrams-v1"

    def embed_one(self, text: str) -> list[float]:
        return hash_embedding(text, self.dimensions)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if len(texts) < 32:
            return [self.embed_one(t) for t in texts]
        # A batch hashes in a worker thread: the event loop meanwhile serves other tasks'
        # database round trips (embed_missing clusters failures while it embeds trajectories).
        return await asyncio.to_thread(lambda: [self.embed_one(t) for t in texts])


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
