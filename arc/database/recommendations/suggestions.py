"""What a provider answers, and the checks a suggestion must pass before it is stored.

The answer follows ANSWER_SCHEMA (given to the providers as structured output). A suggestion is
kept only when
1. its changes are well-formed operations and the configuration they produce passes the
   configuration rules (model, temperature 0-2, max_tokens, timeout_ms, retries, tools...);
2. it changes something;
3. every evidence id it cites exists in the pack;
4. every change it makes is supported by one of the items it cites (same key and direction,
   the same value for tools added or values set, and for a number a move no further than the
   level the item names, if it names one); a joint item (another configuration's settings)
   backs its changes only when the suggestion makes all of them that no item contradicts;
5. no item of the pack contradicts any of its changes (an earlier rejected change, a kind of
   change whose track record is worse than better; for a number, at or beyond the level where
   the harm was seen).
Anything else is dropped with its reason: this is what stops a model from inventing support.
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arc.database.comparison.effects import changed_keys
from arc.database.configs.parsing import change_summary, parse_config
from arc.database.core.errors import ArcValidationError
from arc.database.models.recommendation import RECOMMENDATION_TYPES
from arc.database.recommendations.changes import (
    OPERATIONS,
    Change,
    merge,
    parse_changes,
    patch_for,
)
from arc.database.recommendations.evidence import EvidencePack, move_value

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["recommendations"],
    "properties": {
        "recommendations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "recommendation_type",
                    "description",
                    "changes",
                    "evidence",
                    "rationale",
                ],
                "properties": {
                    "recommendation_type": {"type": "string", "enum": list(RECOMMENDATION_TYPES)},
                    "description": {"type": "string"},
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["key", "operation", "value_json"],
                            "properties": {
                                "key": {"type": "string"},
                                "operation": {"type": "string", "enum": list(OPERATIONS)},
                                "value_json": {"type": "string"},
                            },
                        },
                    },
                    "evidence": {"type": "array", "items": {"type": "string"}},
                    "rationale": {"type": "string"},
                },
            },
        }
    },
}
MAX_SUGGESTIONS = 10


class LLMAnswerError(ValueError):
    """The provider's answer is not the JSON object the schema asks for."""


@dataclass(frozen=True)
class Suggestion:
    """A suggestion that passed every check, with what it does and what it stands on."""

    recommendation_type: str
    description: str
    rationale: str
    changes: tuple[Change, ...]
    patch: dict[str, Any]
    candidate_config: dict[str, Any]
    moves: tuple[tuple[str, str, Any, Any], ...]  # (key, direction, before, after)
    evidence_ids: tuple[str, ...]
    kind: str  # "<key>:<direction>" of its first change: the unit of its track record
    p_evidence: float  # P(improves the target metric) from the evidence alone
    expected_delta: float | None


@dataclass(frozen=True)
class Dropped:
    index: int
    reason: str


def _text(item: Mapping[str, Any], name: str, minimum: int, index: int) -> str:
    value = item.get(name)
    if not isinstance(value, str) or len(value.strip()) < minimum:
        raise ArcValidationError(name, f"must be at least {minimum} characters", index=index)
    return value.strip()[:4000]


def check_suggestion(item: Any, pack: EvidencePack, index: int) -> Suggestion:
    """The checked suggestion, or ArcValidationError naming what is wrong with it."""
    if not isinstance(item, Mapping):
        raise ArcValidationError("recommendation", "must be an object", index=index)
    kind = item.get("recommendation_type")
    if kind not in RECOMMENDATION_TYPES:
        raise ArcValidationError("recommendation_type", "is not allowed", value=kind, index=index)
    description = _text(item, "description", 10, index)
    raw_rationale = item.get("rationale")
    rationale = raw_rationale if isinstance(raw_rationale, str) else ""
    changes = parse_changes(item.get("changes"), index)
    patch = patch_for(pack.config, changes)
    candidate = merge(pack.config, patch)
    try:
        parsed = parse_config(candidate)
    except ArcValidationError as exc:
        raise ArcValidationError(
            exc.field, f"the suggested configuration breaks a rule: {exc.rule}", index=index
        ) from exc
    moves = changed_keys(change_summary(pack.config, parsed.config))
    if not moves:
        raise ArcValidationError("changes", "change nothing", index=index)
    cited = item.get("evidence")
    if not isinstance(cited, list) or not cited or not all(isinstance(c, str) for c in cited):
        raise ArcValidationError("evidence", "must cite at least one evidence id", index=index)
    missing = [c for c in cited if pack.item(c) is None]
    if missing:
        raise ArcValidationError(
            "evidence", f"cites evidence that does not exist: {', '.join(missing)}", index=index
        )
    items = [i for i in (pack.item(c) for c in cited) if i is not None]
    made = [
        (key, direction, move_value(direction, before, after))
        for key, direction, before, after in moves
    ]
    backed_by = {i.id: i.backs(made, pack.contradictions) for i in items}
    p_moves: list[float] = []
    deltas: list[float] = []
    for key, direction, value in made:
        backing = [
            i for i in items if any(s.matches(key, direction, value) for s in backed_by[i.id])
        ]
        if not backing:
            partial = [i.id for i in items if i.joint and not backed_by[i.id]]
            raise ArcValidationError(
                "evidence",
                f"no cited evidence supports {key} {direction}"
                + (f" {value!r}" if value is not None else "")
                + (
                    f" ({', '.join(partial)} back their changes only all together)"
                    if partial
                    else ""
                ),
                index=index,
            )
        against = [
            i for i in pack.items if any(s.blocks(key, direction, value) for s in i.contradicts)
        ]
        if against:
            raise ArcValidationError(
                "evidence",
                f"{key} {direction} is contradicted by {against[0].id}: {against[0].summary}",
                index=index,
            )
        p_moves.append(max(i.p_improve or 0.0 for i in backing))
        deltas += [i.expected_delta for i in backing if i.expected_delta is not None]
    return Suggestion(
        recommendation_type=str(kind),
        description=description,
        rationale=rationale[:4000],
        changes=tuple(changes),
        patch=patch,
        candidate_config=parsed.config,
        moves=tuple(moves),
        evidence_ids=tuple(dict.fromkeys(cited)),
        kind=f"{moves[0][0]}:{moves[0][1]}",
        p_evidence=min(p_moves),  # no stronger than its weakest change
        expected_delta=max(deltas) if deltas else None,
    )


def check_answer(text: str, pack: EvidencePack) -> tuple[list[Suggestion], list[Dropped]]:
    """Every suggestion of the answer checked; raises LLMAnswerError if it is not an answer."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise LLMAnswerError(f"the answer is not JSON: {exc}") from exc
    items = data.get("recommendations") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise LLMAnswerError("the answer has no 'recommendations' list")
    kept: list[Suggestion] = []
    dropped: list[Dropped] = []
    seen: set[str] = set()
    for index, item in enumerate(items[:MAX_SUGGESTIONS]):
        try:
            suggestion = check_suggestion(item, pack, index)
        except ArcValidationError as exc:
            dropped.append(Dropped(index, f"{exc.field}: {exc.rule}"))
            continue
        fingerprint = json.dumps(suggestion.candidate_config, sort_keys=True)
        if fingerprint in seen:
            dropped.append(Dropped(index, "repeats an earlier suggestion"))
            continue
        if not math.isfinite(suggestion.p_evidence):
            dropped.append(Dropped(index, "evidence: has no probability"))
            continue
        seen.add(fingerprint)
        kept.append(suggestion)
    return kept, dropped
