"""The evidence rules that keep the engine following the data rather than a fixed idea of what
is good for an agent: levels on numeric moves (a harm seen at 1.9 does not rule out 0.9),
experiments at the documented step, a change refused although it improved the metric is not
proposed again, and the offline provider never proposes a move that changes nothing."""

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from arc.database.recommendations import evidence
from arc.database.recommendations.evidence import EvidencePack, Support
from arc.database.recommendations.levers import step
from arc.database.recommendations.prompt import build_request
from arc.database.recommendations.providers.offline import OfflineProvider, changes_for
from arc.database.recommendations.suggestions import check_answer

CONFIG: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "temperature": 0.7,
    "max_tokens": 1024,
    "retries": 0,
    "tools": ["web_search", "calculator"],
}


def _pack(config: dict[str, Any] | None = None) -> EvidencePack:
    return EvidencePack(
        config_id=uuid.uuid4(),
        config_name="agent",
        user_id=uuid.uuid4(),
        version_id=uuid.uuid4(),
        version_number=2,
        config=dict(config or CONFIG),
        target_metric="reliability_score",
        window_start=datetime(2026, 11, 1, tzinfo=UTC),
        window_end=datetime(2026, 11, 2, tzinfo=UTC),
        outcomes=600,
    )


def _summary(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    return {"added": {}, "removed": {}, "changed": changed}


def _diff(
    after: dict[str, Any],
    *,
    status: str,
    improvements: int = 0,
    regressions: int = 0,
    delta: float = 0.0,
    p_value: float = 0.5,
    hit: bool | None = None,
    evaluated: bool = True,
    baseline: uuid.UUID | None = None,
) -> SimpleNamespace:
    evaluation = {
        "metric": "reliability_score",
        "alpha": 0.05,
        "summary": {
            "improvements": improvements,
            "regressions": regressions,
            "delta": delta,
            "p_value": p_value,
        },
    }
    return SimpleNamespace(
        diff_id=uuid.uuid4(),
        approval_status=status,
        change_summary=_summary(CONFIG, {**CONFIG, **after}),
        evaluation=evaluation if evaluated else None,
        realised_hit=hit,
        version_before=baseline or uuid.uuid4(),
    )


def _answer(*changes: tuple[list[str], str, str, Any]) -> str:
    return json.dumps(
        {
            "recommendations": [
                {
                    "recommendation_type": "config_change",
                    "description": "a change to check",
                    "changes": [{"key": key, "operation": op, "value_json": json.dumps(value)}],
                    "evidence": cited,
                    "rationale": "test",
                }
                for cited, key, op, value in changes
            ]
        }
    )


def test_numeric_levels_bound_supports_and_contradictions() -> None:
    harm = Support("temperature", "raised", 1.9)
    assert harm.blocks("temperature", "raised", 1.9)
    assert harm.blocks("temperature", "raised", 2.0)
    assert not harm.blocks("temperature", "raised", 0.9)  # a smaller step stays open
    assert Support("temperature", "lowered", 0.5).blocks("temperature", "lowered", 0.3)
    assert not Support("temperature", "lowered", 0.5).blocks("temperature", "lowered", 0.6)
    assert Support("temperature", "raised").blocks("temperature", "raised", 0.71)  # no level
    assert not harm.blocks("temperature", "lowered", 0.5)
    backed = Support("temperature", "raised", 0.9)  # an experiment up to 0.9
    assert backed.matches("temperature", "raised", 0.9)
    assert not backed.matches("temperature", "raised", 1.5)
    assert Support("tools", "added", "a").blocks("tools", "added", "a")
    assert not Support("tools", "added", "a").blocks("tools", "added", "b")


def test_a_harm_at_a_level_leaves_the_smaller_step_to_the_canary() -> None:
    pack = _pack()
    pack.add(  # E1: an injected change raised temperature to 1.9 and regressed
        "history", "regressed", {}, contradicts=[Support("temperature", "raised", 1.9)]
    )
    pack.add(  # E2: the experiment a step up
        "untested_lever",
        "temperature never raised to 0.9",
        {},
        p_improve=0.5,
        supports=[Support("temperature", "raised", 0.9)],
    )
    kept, dropped = check_answer(
        _answer(
            (["E2"], "temperature", "set", 0.9),
            (["E2"], "temperature", "set", 1.5),  # beyond what E2 backs
            (["E2"], "temperature", "set", 1.95),  # contradicted by E1 (and not backed)
        ),
        pack,
    )
    assert [s.candidate_config["temperature"] for s in kept] == [0.9]
    reasons = {d.index: d.reason for d in dropped}
    assert reasons[1].startswith("evidence: no cited evidence supports temperature raised 1.5")
    assert set(reasons) == {1, 2}


def test_history_keeps_what_not_to_repeat() -> None:
    pack = _pack()
    evidence._history(
        pack,
        [
            # regressed at 1.9: raising to 1.9 or beyond is contradicted
            _diff({"temperature": 1.9}, status="rejected", regressions=3, delta=-0.2, p_value=0.01),
            # improved, refused all the same (cost): not proposed again
            _diff({"retries": 1}, status="rejected", improvements=2, hit=True),
            # no significant improvement against another version: may be tried again
            _diff({"max_tokens": 1536}, status="rejected", hit=False),
            # no significant improvement against this very version: another canary on the
            # same baseline would be another draw of the same test
            _diff({"retries": 2}, status="rejected", hit=False, baseline=pack.version_id),
            # rejected by a person without a canary
            _diff({"tools": ["web_search"]}, status="rejected", evaluated=False),
            # approved after a canary that improved: nothing to avoid
            _diff({"temperature": 0.5}, status="approved", improvements=1, hit=True),
        ],
    )
    against = [c for item in pack.items for c in item.contradicts]
    assert Support("temperature", "raised", 1.9) in against
    assert Support("retries", "raised", 1) in against
    assert Support("tools", "removed", "calculator") in against
    assert Support("retries", "raised", 2) in against
    assert not any(c.key == "max_tokens" for c in against)
    assert len(pack.items) == 4
    assert "although its canary improved" in pack.items[1].summary
    assert pack.items[2].statistics["same_baseline"] is True


def test_untested_levers_are_experiments_at_the_step() -> None:
    pack = _pack()
    pack.add("history", "regressed", {}, contradicts=[Support("temperature", "lowered", 0.5)])
    tried = [
        ("temperature", "raised", 0.7, 1.9),  # a larger move: the step to 0.9 is still untested
        ("retries", "raised", 0, 1),  # exactly the step: tried
        ("max_tokens", "lowered", 1024, 900),  # within the step down (to 704): tried
    ]
    evidence._untested_levers(pack, tried)
    offered = {
        (s.key, s.direction, s.value)
        for item in pack.items
        if item.kind == "untested_lever"
        for s in item.supports
    }
    assert offered == {
        ("temperature", "raised", 0.9),
        ("max_tokens", "raised", 1536),
    }
    assert all(i.p_improve == 0.5 for i in pack.items if i.kind == "untested_lever")
    # retries 0 cannot go lower; temperature lowered to 0.5 is contradicted


@pytest.mark.parametrize(
    ("key", "current", "up", "expected"),
    [
        ("temperature", 0.7, True, 0.9),
        ("temperature", 1.95, True, 2.0),
        ("temperature", 0.0, False, 0.0),
        ("retries", 0, False, 0),
        ("max_tokens", 1024, True, 1536),
        ("max_tokens", 64, False, 64),
        ("top_p", 1.0, True, 1.0),
        ("timeout_ms", 20000, True, 30000),
    ],
)
def test_the_documented_step_stays_within_the_rules(
    key: str, current: float, up: bool, expected: float
) -> None:
    assert step(key, current, up) == expected


def test_change_effects_contradict_from_the_mildest_level_that_regressed() -> None:
    pack = _pack()
    bad, mild_bad, good = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def comparison(diff_id: uuid.UUID, after: float, delta: float, p: float) -> Any:
        summary = SimpleNamespace(regressions=0, improvements=0, delta=delta, p_value=p)
        return SimpleNamespace(
            diff_id=diff_id, changes=(("temperature", "raised", 0.3, after),), summary=summary
        )

    effect = SimpleNamespace(
        key="temperature",
        direction="raised",
        value=None,
        changes=3,
        improvements=1,
        regressions=2,
        no_change=0,
        median_delta=-0.05,
        diff_ids=(bad, mild_bad, good),
        describe=lambda metric: "temperature raised: 3 changes",
    )
    evidence._change_effects(
        pack,
        [effect],
        [
            comparison(bad, 1.9, -0.2, 0.001),
            comparison(mild_bad, 1.3, -0.05, 0.01),
            comparison(good, 0.5, 0.04, 0.02),
        ],
    )
    (item,) = pack.items
    assert item.contradicts == [Support("temperature", "raised", 1.3)]
    assert item.statistics["regressed_from"] == 1.3
    assert not item.supports


def test_offline_never_proposes_a_move_that_changes_nothing_or_is_contradicted() -> None:
    config = {**CONFIG, "tools": ["web_search", "calculator"]}
    assert changes_for({"key": "tools", "direction": "added", "value": "calculator"}, config) == []
    assert changes_for({"key": "tools", "direction": "removed", "value": "x"}, config) == []
    assert changes_for({"key": "model", "direction": "set", "value": "gpt-4o-mini"}, config) == []
    assert changes_for({"key": "retries", "direction": "removed"}, {"model": "m"}) == []
    assert changes_for({"key": "retries", "direction": "added"}, {"model": "m"}) == [
        {"key": "retries", "operation": "set", "value_json": "1"}
    ]


async def test_offline_takes_the_open_step_and_leaves_the_harmful_level() -> None:
    pack = _pack()
    pack.add("history", "regressed", {}, contradicts=[Support("temperature", "raised", 1.9)])
    pack.add(  # a change effect backing raises with no level: one step (0.9) is open
        "change_effect",
        "temperature raised: 2 improvements",
        {},
        p_improve=0.75,
        expected_delta=0.05,
        supports=[Support("temperature", "raised")],
    )
    pack.add(  # a dominating version at 1.9: contradicted, so no suggestion from it
        "change_effect",
        "temperature set",
        {},
        p_improve=0.9,
        expected_delta=0.2,
        supports=[Support("temperature", "raised", 1.9)],
    )
    pack.add(
        "change_effect",
        "tools added calculator",
        {},
        p_improve=0.9,
        expected_delta=0.1,
        supports=[Support("tools", "added", "calculator")],  # already enabled
    )
    response = await OfflineProvider().complete(
        build_request(pack, model="offline", temperature=0.0)
    )
    answered = json.loads(response.text)["recommendations"]
    assert [r["changes"] for r in answered] == [
        [{"key": "temperature", "operation": "set", "value_json": "0.9"}]
    ]
    kept, dropped = check_answer(response.text, pack)
    assert len(kept) == 1
    assert not dropped
