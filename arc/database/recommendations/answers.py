"""A provider's answer turned into checked recommendations, and their confidence."""

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from arc.database.core.errors import ArcValidationError
from arc.database.models.recommendation import RECOMMENDATION_TYPES, SOURCE_TYPES

_EVIDENCE_HALF = 10.0


def score_confidence(
    evidence_count: float, effect_size: float, model_confidence: float | None = None
) -> float:
    """n/(n+10) * (0.4 + 0.6*e), optionally geometric-meaned with the model's own confidence."""
    n = max(0.0, float(evidence_count))
    e = min(1.0, max(0.0, float(effect_size)))
    score = n / (n + _EVIDENCE_HALF) * (0.4 + 0.6 * e)
    if model_confidence is not None:
        score = math.sqrt(score * min(1.0, max(0.0, float(model_confidence))))
    return round(min(1.0, max(0.0, score)), 4)


@dataclass(frozen=True)
class ParsedRecommendation:
    recommendation_type: str
    source_type: str
    description: str
    suggested_yaml_changes: str | None
    impact_estimate: dict[str, Any]
    evidence_count: int
    effect_size: float
    confidence: float
    config_id: uuid.UUID | None


@dataclass(frozen=True)
class ParseResult:
    recommendations: list[ParsedRecommendation]
    skipped: list[str]


class LLMAnswerError(ValueError):
    """The provider's answer is not the JSON the prompt asked for."""


def _number(value: Any, name: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ArcValidationError(name, "must be a finite number", value=value, index=index)
    return float(value)


def _parse_item(item: Any, index: int) -> ParsedRecommendation:
    if not isinstance(item, Mapping):
        raise ArcValidationError("recommendation", "must be an object", index=index)
    kind = item.get("recommendation_type")
    if kind not in RECOMMENDATION_TYPES:
        raise ArcValidationError("recommendation_type", "is not allowed", value=kind, index=index)
    source = item.get("source_type") or "time_series_analysis"
    if source not in SOURCE_TYPES:
        raise ArcValidationError("source_type", "is not allowed", value=source, index=index)
    description = item.get("description")
    if not isinstance(description, str) or len(description.strip()) < 10:
        raise ArcValidationError("description", "must be at least 10 characters", index=index)
    changes = item.get("suggested_yaml_changes")
    if changes is not None:
        if not isinstance(changes, str):
            changes = (
                yaml.safe_dump(changes, sort_keys=False) if isinstance(changes, dict) else None
            )
        try:
            loaded = yaml.safe_load(changes) if changes else None
        except yaml.YAMLError as exc:
            raise ArcValidationError(
                "suggested_yaml_changes", "is not valid YAML", index=index
            ) from exc
        if changes and not isinstance(loaded, dict):
            raise ArcValidationError(
                "suggested_yaml_changes", "must be a YAML mapping", index=index
            )
    impact = item.get("impact_estimate") or {}
    if not isinstance(impact, Mapping):
        impact = {"note": str(impact)}
    evidence = _number(item.get("evidence_count", 0), "evidence_count", index)
    effect = _number(item.get("effect_size", 0), "effect_size", index)
    stated = item.get("confidence")
    model_confidence = _number(stated, "confidence", index) if stated is not None else None
    config_id: uuid.UUID | None = None
    if item.get("config_id"):
        try:
            config_id = uuid.UUID(str(item["config_id"]))
        except ValueError as exc:
            raise ArcValidationError("config_id", "must be a UUID", index=index) from exc
    return ParsedRecommendation(
        recommendation_type=str(kind),
        source_type=str(source),
        description=description.strip(),
        suggested_yaml_changes=changes or None,
        impact_estimate=dict(impact),
        evidence_count=int(evidence),
        effect_size=min(1.0, max(0.0, effect)),
        confidence=score_confidence(evidence, effect, model_confidence),
        config_id=config_id,
    )


def parse_llm_answer(text: str) -> ParseResult:
    """Robust JSON extraction: code fences and prose around the object are tolerated; an
    answer without a parseable object or list raises LLMAnswerError; single invalid items are
    skipped and reported."""
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1).strip()
    data: Any = None
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        starts = [i for i in (body.find("{"), body.find("[")) if i >= 0]
        if starts:
            start = min(starts)
            end = max(body.rfind("}"), body.rfind("]"))
            try:
                data = json.loads(body[start : end + 1])
            except json.JSONDecodeError as exc:
                raise LLMAnswerError(f"answer is not valid JSON: {exc}") from exc
    if data is None:
        raise LLMAnswerError("answer holds no JSON object")
    items = data.get("recommendations") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise LLMAnswerError("answer has no 'recommendations' list")
    parsed: list[ParsedRecommendation] = []
    skipped: list[str] = []
    for index, item in enumerate(items):
        try:
            parsed.append(_parse_item(item, index))
        except ArcValidationError as exc:
            skipped.append(str(exc))
    return ParseResult(parsed, skipped)


def deep_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Nested mappings merge key by key; anything else in `changes` replaces the value."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
