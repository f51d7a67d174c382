"""What a provider's answer must pass before it is stored, the merge patch of its changes, and
the calibrated confidence."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arc.database.core.errors import ArcValidationError
from arc.database.recommendations.changes import Change, merge, parse_changes, patch_for, to_yaml
from arc.database.recommendations.confidence import TrackRecord, calibrated
from arc.database.recommendations.evidence import EvidencePack, Support
from arc.database.recommendations.suggestions import LLMAnswerError, check_answer

CONFIG = {
    "model": "gpt-4o-mini",
    "temperature": 0.7,
    "retries": 0,
    "tools": ["web_search", "calculator"],
    "limits": {"max_steps": 8, "budget": 2},
}


def _pack() -> EvidencePack:
    pack = EvidencePack(
        config_id=uuid.uuid4(),
        config_name="agent",
        user_id=uuid.uuid4(),
        version_id=uuid.uuid4(),
        version_number=3,
        config=CONFIG,
        target_metric="reliability_score",
        window_start=datetime(2026, 11, 1, tzinfo=UTC),
        window_end=datetime(2026, 11, 2, tzinfo=UTC),
        outcomes=900,
    )
    pack.add(  # E1
        "tool_coverage",
        "weather scenarios fail without weather_api",
        {"tool": "weather_api"},
        p_improve=0.97,
        expected_delta=0.08,
        supports=[Support("tools", "added", "weather_api")],
    )
    pack.add(  # E2
        "transient_tool_errors",
        "tool errors",
        {},
        p_improve=0.9,
        expected_delta=0.02,
        supports=[Support("retries", "raised")],
    )
    pack.add(  # E3: an earlier rejected change
        "history",
        "temperature 1.2 regressed",
        {},
        contradicts=[Support("temperature", "raised")],
    )
    pack.add(  # E4
        "untested_lever",
        "temperature was never lowered",
        {},
        p_improve=0.5,
        supports=[Support("temperature", "lowered"), Support("temperature", "raised")],
    )
    return pack


def _item(evidence: list[str], *changes: tuple[str, str, Any]) -> dict[str, Any]:
    return {
        "recommendation_type": "config_change",
        "description": "A change the model suggests",
        "changes": [
            {"key": k, "operation": op, "value_json": json.dumps(v)} for k, op, v in changes
        ],
        "evidence": evidence,
        "rationale": "because",
    }


def _answer(*items: dict[str, Any]) -> str:
    return json.dumps({"recommendations": list(items)})


def test_operations_become_an_rfc7386_merge_patch() -> None:
    changes = [
        Change("tools", "add_item", "weather_api"),
        Change("tools", "remove_item", "calculator"),
        Change("limits.max_steps", "set", 12),
        Change("limits.budget", "delete"),
        Change("temperature", "set", 0.3),
    ]
    patch = patch_for(CONFIG, changes)
    assert patch == {
        "tools": ["web_search", "weather_api"],
        "limits": {"max_steps": 12, "budget": None},
        "temperature": 0.3,
    }
    merged = merge(CONFIG, patch)
    assert merged["limits"] == {"max_steps": 12}
    assert merged["tools"] == ["web_search", "weather_api"]
    assert CONFIG["limits"] == {"max_steps": 8, "budget": 2}  # the base is not mutated
    assert "budget: null" in to_yaml(patch)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], "changes"),
        ([{"key": "tools", "operation": "explode", "value_json": "1"}], "changes.operation"),
        ([{"key": ".x", "operation": "set", "value_json": "1"}], "changes.key"),
        ([{"key": "x", "operation": "set", "value_json": "{nope"}], "changes.value_json"),
        ([{"key": "x", "operation": "set", "value_json": "1"}] * 21, "changes"),
        (["set x"], "changes"),
    ],
)
def test_malformed_operations_name_their_field(raw: Any, field: str) -> None:
    with pytest.raises(ArcValidationError) as caught:
        parse_changes(raw, 4)
    assert caught.value.field == field
    assert caught.value.index == 4


def test_only_backed_and_uncontradicted_suggestions_survive() -> None:
    kept, dropped = check_answer(
        _answer(
            _item(["E1"], ("tools", "add_item", "weather_api")),  # 0 kept
            _item(["E1", "E2"], ("tools", "add_item", "weather_api"), ("retries", "set", 2)),
            _item(["E7"], ("retries", "set", 1)),  # 2 no such evidence
            _item(["E1"], ("retries", "set", 1)),  # 3 E1 does not back retries
            _item(["E4"], ("temperature", "set", 1.1)),  # 4 contradicted by E3
            _item(["E2"], ("retries", "set", 0)),  # 5 changes nothing
            _item(["E2"], ("retries", "set", 99)),  # 6 breaks the retries rule
            _item(["E1"], ("tools", "add_item", "weather_api")),  # 7 a repeat of 0
            _item(["E1"], ("tools", "add_item", "stock_api")),  # 8 E1 backs weather_api only
            {**_item(["E4"], ("temperature", "set", 0.3)), "recommendation_type": "magic"},
        ),
        _pack(),
    )
    assert [k.kind for k in kept] == ["tools:added", "retries:raised"]  # by changed key order
    first, second = kept
    assert first.p_evidence == pytest.approx(0.97)
    assert second.p_evidence == pytest.approx(0.9)  # no stronger than its weakest change
    assert second.expected_delta == pytest.approx(0.08)
    assert second.candidate_config["retries"] == 2
    reasons = {d.index: d.reason for d in dropped}
    assert reasons[2] == "evidence: cites evidence that does not exist: E7"
    assert reasons[3].startswith("evidence: no cited evidence supports retries raised")
    assert reasons[4].startswith("evidence: temperature raised is contradicted by E3")
    assert reasons[5] == "changes: change nothing"
    assert reasons[6].startswith("retries: the suggested configuration breaks a rule")
    assert reasons[7] == "repeats an earlier suggestion"
    assert "stock_api" in reasons[8]
    assert reasons[9] == "recommendation_type: is not allowed"
    assert len(dropped) == 8


@pytest.mark.parametrize("text", ["", "[]", "null", '{"recommendations": {}}', "{"])
def test_an_answer_that_is_not_an_answer_is_an_error(text: str) -> None:
    with pytest.raises(LLMAnswerError):
        check_answer(text, _pack())


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)
_change = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["tools", "retries", "temperature", "limits.max_steps", "", "a.b"]),
        "operation": st.sampled_from(["set", "add_item", "remove_item", "delete", "zap"]),
        "value_json": _json.map(json.dumps) | st.text(max_size=10),
    }
)
_suggestion = st.fixed_dictionaries(
    {
        "recommendation_type": st.sampled_from(["config_change", "tool_optimization", "x"]),
        "description": st.text(max_size=30),
        "changes": st.lists(_change, max_size=3) | _json,
        "evidence": st.lists(st.sampled_from(["E1", "E2", "E3", "E4", "E9"]), max_size=3) | _json,
        "rationale": st.text(max_size=10) | _json,
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_suggestion | _json, max_size=6))
def test_any_answer_is_kept_or_dropped_with_a_reason_never_crashes(items: list[Any]) -> None:
    kept, dropped = check_answer(json.dumps({"recommendations": items}), _pack())
    assert len(kept) + len(dropped) == len(items)
    for suggestion in kept:
        assert suggestion.evidence_ids
        assert suggestion.moves
        assert 0.0 <= suggestion.p_evidence <= 1.0


def test_confidence_moves_from_the_evidence_to_the_track_record() -> None:
    assert calibrated(0.9, None) == 0.9
    failing = TrackRecord(
        "retries:raised", realised=12, realised_hits=1, good_feedback=0, bad_feedback=0
    )
    assert calibrated(0.9, failing) == pytest.approx((4 * 0.9 + 1) / 16, abs=1e-4)
    succeeding = TrackRecord("tools:added", 6, 6, 0, 0)
    assert calibrated(0.6, succeeding) == pytest.approx((4 * 0.6 + 6) / 10, abs=1e-4)
    rated = TrackRecord("temperature:lowered", 0, 0, good_feedback=0, bad_feedback=4)
    assert calibrated(0.8, rated) == pytest.approx(3.2 / 6, abs=1e-4)  # 4 half misses
    assert calibrated(1.0, None) == 0.99
    assert calibrated(0.0, None) == 0.01
