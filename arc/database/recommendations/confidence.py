"""Confidence: the probability that a recommendation improves its target metric.

    confidence = (W * p_evidence + hits) / (W + trials),   W = 4

`p_evidence` is what the cited evidence says on its own (see evidence.py). `hits` and `trials`
are the track record of the recommendation's kind (its first change's key and direction, e.g.
"retries:raised") within the tenant: every applied recommendation whose canary was evaluated
is a trial, a hit when the canary showed improvement and no regression. A recommendation
rated by a person (`feedback_score`) but never evaluated counts half: 4-5 a half hit, 1-2 a
half miss. With no record the confidence is the evidence's probability; as the record grows it
moves to the kind's observed hit rate: kinds that keep failing lose confidence.

`calibration_report` holds the stated confidences against what happened: a reliability table
(per band of confidence, how many were hits), the Brier score, and each kind's hit rate.
"""

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

PRIOR_WEIGHT = 4.0
BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class TrackRecord:
    kind: str
    realised: int
    realised_hits: int
    good_feedback: int  # rated 4-5, never evaluated
    bad_feedback: int  # rated 1-2, never evaluated

    @property
    def trials(self) -> float:
        return self.realised + 0.5 * (self.good_feedback + self.bad_feedback)

    @property
    def hits(self) -> float:
        return self.realised_hits + 0.5 * self.good_feedback

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "realised": self.realised,
            "realised_hits": self.realised_hits,
            "good_feedback": self.good_feedback,
            "bad_feedback": self.bad_feedback,
        }


def calibrated(p_evidence: float, record: TrackRecord | None) -> float:
    trials = record.trials if record else 0.0
    hits = record.hits if record else 0.0
    value = (PRIOR_WEIGHT * p_evidence + hits) / (PRIOR_WEIGHT + trials)
    return round(min(0.99, max(0.01, value)), 4)


_RECORDS = text(
    """
    SELECT r.kind,
           count(*) FILTER (WHERE r.realised_at IS NOT NULL) AS realised,
           count(*) FILTER (WHERE r.realised_hit) AS realised_hits,
           count(*) FILTER (WHERE r.realised_at IS NULL AND r.feedback_score >= 4) AS good,
           count(*) FILTER (WHERE r.realised_at IS NULL AND r.feedback_score <= 2) AS bad
    FROM recommendations r
    LEFT JOIN configurations c ON c.config_id = r.config_id
    WHERE r.kind IS NOT NULL AND (CAST(:user_id AS uuid) IS NULL OR c.user_id = :user_id)
    GROUP BY r.kind
    """
)


async def track_records(
    conn: AsyncConnection | AsyncSession, user_id: uuid.UUID | None
) -> dict[str, TrackRecord]:
    rows = await conn.execute(_RECORDS, {"user_id": user_id})
    return {
        r.kind: TrackRecord(r.kind, int(r.realised), int(r.realised_hits), int(r.good), int(r.bad))
        for r in rows
    }


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    count: int
    mean_confidence: float | None
    hit_rate: float | None


@dataclass(frozen=True)
class KindRecord:
    kind: str
    realised: int
    hits: int
    hit_rate: float | None
    mean_confidence: float | None


@dataclass(frozen=True)
class CalibrationReport:
    realised: int
    brier_score: float | None  # mean (confidence - hit)^2 over evaluated recommendations
    bands: tuple[Band, ...]
    kinds: tuple[KindRecord, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "realised": self.realised,
            "brier_score": self.brier_score,
            "bands": [b.__dict__ for b in self.bands],
            "kinds": [k.__dict__ for k in self.kinds],
        }


_REALISED = text(
    """
    SELECT r.kind, r.confidence, r.realised_hit
    FROM recommendations r
    LEFT JOIN configurations c ON c.config_id = r.config_id
    WHERE r.realised_at IS NOT NULL
      AND (CAST(:user_id AS uuid) IS NULL OR c.user_id = :user_id)
    """
)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


async def calibration_report(
    conn: AsyncConnection | AsyncSession, user_id: uuid.UUID | None = None
) -> CalibrationReport:
    rows = (await conn.execute(_REALISED, {"user_id": user_id})).all()
    outcomes = [(float(r.confidence), 1.0 if r.realised_hit else 0.0, r.kind) for r in rows]
    bands = []
    for low, high in itertools.pairwise(BANDS):
        inside = [o for o in outcomes if low <= o[0] < high or (high == 1.0 and o[0] == 1.0)]
        bands.append(
            Band(
                low,
                high,
                len(inside),
                _mean([o[0] for o in inside]),
                _mean([o[1] for o in inside]),
            )
        )
    kinds = []
    for kind in sorted({o[2] for o in outcomes if o[2]}):
        mine = [o for o in outcomes if o[2] == kind]
        hits = int(sum(o[1] for o in mine))
        kinds.append(
            KindRecord(
                kind, len(mine), hits, _mean([o[1] for o in mine]), _mean([o[0] for o in mine])
            )
        )
    brier = _mean([(c - h) ** 2 for c, h, _ in outcomes])
    return CalibrationReport(len(outcomes), brier, tuple(bands), tuple(kinds))
