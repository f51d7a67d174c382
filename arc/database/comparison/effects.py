"""What each kind of configuration change did, across a tenant's configurations.

Every `config_diffs` row links two consecutive versions of one configuration and lists the
dotted keys that changed (`change_summary`: added, removed, changed). Each change is compared
before -> after (the same comparison as compare_versions, over the same window), and the
changes are grouped per (key, direction): "temperature lowered: 5 changes, 4 significant
improvements of reliability, median +0.06". A change counts as an improvement or a regression
by the paired test over its scenarios (see evaluation.effect_verdict). This is the evidence the
recommendation engine stands on.
"""

import json
import statistics as pystats
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.comparison import reader
from arc.database.comparison.evaluation import effect_verdict, evaluate
from arc.database.comparison.metrics import Metric
from arc.database.comparison.results import ChangeComparison, ChangeEffect, Verdict


@dataclass(frozen=True)
class ChangeEffects:
    metric: str
    effects: tuple[ChangeEffect, ...]  # most changes first
    changes: tuple[ChangeComparison, ...]  # one per compared diff, oldest first

    def effect(self, key: str, direction: str) -> ChangeEffect:
        for e in self.effects:
            if e.key == key and e.direction == direction:
                return e
        raise KeyError((key, direction))


def _items(value: Any) -> list[Any] | None:
    """The elements of a list of scalars (tools, stop words...), else None."""
    if isinstance(value, list) and all(
        isinstance(v, str | int | float | bool) or v is None for v in value
    ):
        return value
    return None


def changed_keys(summary: Mapping[str, Any] | None) -> list[tuple[str, str, Any, Any]]:
    """(key, direction, before, after) for every dotted key a change summary names.

    Lists of scalars change element by element: ("tools", "added", None, "weather_api").
    """
    if not isinstance(summary, Mapping):
        return []
    found: list[tuple[str, str, Any, Any]] = []
    for key, after in (summary.get("added") or {}).items():
        items = _items(after)
        if items is None:
            found.append((key, "added", None, after))
        else:
            found += [(key, "added", None, item) for item in items]
    for key, before in (summary.get("removed") or {}).items():
        items = _items(before)
        if items is None:
            found.append((key, "removed", before, None))
        else:
            found += [(key, "removed", item, None) for item in items]
    for key, change in (summary.get("changed") or {}).items():
        if not isinstance(change, Mapping):
            continue
        before, after = change.get("before"), change.get("after")
        old_items, new_items = _items(before), _items(after)
        if old_items is not None and new_items is not None:
            found += [(key, "added", None, v) for v in new_items if v not in old_items]
            found += [(key, "removed", v, None) for v in old_items if v not in new_items]
        elif isinstance(before, bool) and isinstance(after, bool):
            found.append((key, "enabled" if after else "disabled", before, after))
        elif isinstance(before, int | float) and isinstance(after, int | float):
            found.append((key, "raised" if after > before else "lowered", before, after))
        else:
            found.append((key, "set", before, after))
    return found


def change_value(direction: str, before: Any, after: Any) -> Any:
    """What identifies a change beyond its key and direction: the value set, added or removed."""
    if direction in ("set", "added"):
        return after
    if direction == "removed":
        return before
    return None


_DIFFS = """
    SELECT d.diff_id, d.config_id, d.version_before, d.version_after, d.change_summary,
           d.approval_status, d.created_at
    FROM config_diffs d
    JOIN configurations c ON c.config_id = d.config_id
    WHERE (CAST(:config_id AS uuid) IS NULL OR d.config_id = :config_id)
      AND (CAST(:user_id AS uuid) IS NULL OR c.user_id = :user_id)
    ORDER BY d.created_at, d.diff_id
"""


async def measure_change_effects(
    conn: AsyncConnection,
    *,
    metric: Metric,
    start: datetime | None,
    end: datetime | None,
    config_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    alpha: float,
    min_samples: int,
) -> ChangeEffects:
    diffs = (await conn.execute(text(_DIFFS), {"config_id": config_id, "user_id": user_id})).all()
    versions = sorted({d.version_before for d in diffs} | {d.version_after for d in diffs})
    stats = (
        await reader.scenario_stats(
            conn,
            kind="version",
            subject_ids=versions,
            metric=metric,
            start=start,
            end=end,
            scenarios=None,
        )
        if versions
        else {}
    )
    per_version: dict[uuid.UUID, dict[str, reader.GroupStats]] = defaultdict(dict)
    for (version, scenario), group in stats.items():
        per_version[version][scenario] = group
    changes: list[ChangeComparison] = []
    groups: dict[tuple[str, str, str], list[tuple[ChangeComparison, Verdict, Any]]] = defaultdict(
        list
    )
    for d in diffs:
        rows, summary = evaluate(
            metric,
            per_version.get(d.version_before, {}),
            per_version.get(d.version_after, {}),
            alpha=alpha,
            min_samples=min_samples,
        )
        keys = tuple(changed_keys(d.change_summary))
        change = ChangeComparison(
            diff_id=d.diff_id,
            config_id=d.config_id,
            version_before=d.version_before,
            version_after=d.version_after,
            approval_status=d.approval_status,
            created_at=d.created_at,
            changes=keys,
            summary=summary,
        )
        changes.append(change)
        verdict = effect_verdict(metric, summary, rows, alpha)
        for key, direction, before, after in keys:
            value = change_value(direction, before, after)
            group_key = (key, direction, json.dumps(value, sort_keys=True, default=str))
            groups[group_key].append((change, verdict, value))
    effects = []
    for (key, direction, _), members in groups.items():
        deltas = [c.summary.delta for c, _, _ in members if c.summary.delta is not None]
        verdicts = [v for _, v, _ in members]
        effects.append(
            ChangeEffect(
                key=key,
                direction=direction,
                value=members[0][2],
                changes=len(members),
                improvements=verdicts.count("improvement"),
                regressions=verdicts.count("regression"),
                no_change=verdicts.count("no_change"),
                insufficient_data=verdicts.count("insufficient_data"),
                median_delta=pystats.median(deltas) if deltas else None,
                mean_delta=pystats.fmean(deltas) if deltas else None,
                diff_ids=tuple(c.diff_id for c, _, _ in members),
            )
        )
    effects.sort(key=lambda e: (-e.changes, -(e.improvements + e.regressions), e.key))
    return ChangeEffects(metric.name, tuple(effects), tuple(changes))
