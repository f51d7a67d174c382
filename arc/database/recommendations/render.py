"""Recommendations and their calibration as text, for the CLI and the demo."""

from collections.abc import Mapping
from typing import Any

from arc.database.comparison.render import table
from arc.database.recommendations.confidence import CalibrationReport


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def recommendation_text(rec: Mapping[str, Any], *, evidence_items: int = 4) -> str:
    """One stored recommendation: what, how sure, what it stands on, the patch it applies."""
    estimate = rec.get("impact_estimate") or {}
    delta = estimate.get("expected_delta")
    lines = [
        f"{rec['description']}",
        f"  id {rec['recommendation_id']}  kind {rec.get('kind') or '-'}  "
        f"confidence {float(rec['confidence']):.2f}"
        + (f"  expected {rec.get('target_metric')} {delta:+.3f}" if delta is not None else ""),
    ]
    record = estimate.get("track_record")
    if record:
        lines.append(
            f"  track record of {record['kind']}: {record['realised_hits']} hits in "
            f"{record['realised']} canaries, feedback +{record['good_feedback']}"
            f"/-{record['bad_feedback']}"
        )
    items = (rec.get("evidence") or {}).get("items") or []
    for item in items[:evidence_items]:
        p = item.get("p_improve")
        lines.append(
            f"  [{item['id']} {item['kind']}"
            + (f", p={p:.2f}" if p is not None else "")
            + f"] {item['summary']}"
        )
    if len(items) > evidence_items:
        lines.append(f"  ... {len(items) - evidence_items} more evidence items")
    patch = (rec.get("suggested_yaml_changes") or "").strip()
    if patch:
        lines.append("  merge patch:")
        lines += [f"    {line}" for line in patch.splitlines()]
    return "\n".join(lines)


def listing_text(rows: list[Mapping[str, Any]]) -> str:
    return table(
        ["id", "kind", "confidence", "applied", "realised", "description"],
        [
            [
                str(r["recommendation_id"]),
                str(r.get("kind") or "-"),
                f"{float(r['confidence']):.2f}",
                "yes" if r.get("applied") else "no",
                "-" if r.get("realised_hit") is None else ("hit" if r["realised_hit"] else "miss"),
                str(r["description"])[:70],
            ]
            for r in rows
        ],
    )


def calibration_text(report: CalibrationReport) -> str:
    """The reliability table, the Brier score and each kind's hit rate."""
    if not report.realised:
        return "no applied recommendation has been evaluated by a canary yet: nothing to calibrate"
    brier = "-" if report.brier_score is None else f"{report.brier_score:.3f}"
    lines = [
        f"{report.realised} recommendations evaluated by a canary; Brier score {brier} "
        "(0 is perfect, 0.25 is a coin toss)",
        "",
        table(
            ["confidence", "count", "mean confidence", "hit rate"],
            [
                [
                    f"{b.low:.1f}-{b.high:.1f}",
                    str(b.count),
                    _pct(b.mean_confidence),
                    _pct(b.hit_rate),
                ]
                for b in report.bands
            ],
        ),
        "",
        table(
            ["kind", "evaluated", "hits", "hit rate", "mean confidence"],
            [
                [k.kind, str(k.realised), str(k.hits), _pct(k.hit_rate), _pct(k.mean_confidence)]
                for k in report.kinds
            ],
        ),
    ]
    return "\n".join(lines)
