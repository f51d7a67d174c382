"""`arc-db recommendations`: the recommendation loop from the command line.

    analyze  --config ID            evidence -> checked suggestions (a session)
    list     [--session ID]         stored suggestions, most confident first
    show     ID                     one suggestion with its evidence and merge patch
    apply    ID --by USER           a candidate version with a pending diff
    evaluate DIFF                   the canary comparison, recorded on the diff
    approve  DIFF --by USER         refused on a regression unless --force --reason
    reject   DIFF --by USER
    feedback ID SCORE               a person's 1-5 rating (feeds the track record)
    report                          calibration: reliability table, Brier score, hit rates

`--provider` / `--model` override ARC_LLM_PROVIDER / ARC_LLM_MODEL; `--tenant` acts as that
tenant (row-level security and the audit trail see it). Exit status: 0 done, 1 an approval
refused by the canary, 2 bad input (unknown ids included), 3 a database or runtime error.
"""

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from arc.database.cli.commands.compare import BAD_INPUT, METRIC_CHOICES
from arc.database.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    database_url,
    engine_run,
    uuid_arg,
)

EXIT_REFUSED = 1


def _run(args: argparse.Namespace, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """`work(recommendation_engine)` on a small engine; bad input becomes exit status 2."""
    from arc.database.recommendations import RecommendationEngine
    from arc.database.recommendations.providers import provider_from_env

    url = database_url(args)
    provider = provider_from_env(getattr(args, "provider", None))

    async def with_engine(engine: Any) -> Any:
        return await work(
            RecommendationEngine(
                engine, provider=provider, model=getattr(args, "model", None), tenant=args.tenant
            )
        )

    try:
        return asyncio.run(engine_run(url, with_engine, pool_size=2, max_overflow=2))
    except BAD_INPUT as exc:
        raise CliError(str(exc), "check the ids and options", EXIT_USAGE) from exc


def _print_json(value: Any) -> None:
    print(json.dumps(value, default=str))


def cmd_analyze(args: argparse.Namespace) -> int:
    from arc.database.recommendations.render import recommendation_text

    async def work(recommender: Any) -> Any:
        analysis = await recommender.analyze(
            args.config,
            target_metric=args.metric,
            window=timedelta(days=args.days),
        )
        return analysis, await recommender.session_recommendations(analysis.session_id)

    analysis, rows = _run(args, work)
    if args.json:
        _print_json({"analysis": asdict(analysis), "recommendations": rows})
    else:
        print(
            f"session {analysis.session_id}: {analysis.status}, {len(rows)} recommendations "
            f"from {analysis.evidence_items} evidence items (model {analysis.model or '-'}, "
            f"cost ${analysis.cost_usd:.4f})"
        )
        if analysis.error_message:
            print(f"  error: {analysis.error_message}")
        for reason in analysis.dropped:
            print(f"  dropped {reason}")
        for row in rows:
            print("\n" + recommendation_text(row))
    return EXIT_OK if analysis.status == "completed" else 3


def cmd_list(args: argparse.Namespace) -> int:
    from arc.database.recommendations.render import listing_text

    async def work(recommender: Any) -> Any:
        if args.session:
            return await recommender.session_recommendations(args.session)
        return await recommender.pending_recommendations(args.min_confidence, limit=args.limit)

    rows = _run(args, work)
    if args.json:
        _print_json({"recommendations": rows})
    else:
        print(listing_text(rows) if rows else "no recommendations")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from arc.database.recommendations.render import recommendation_text

    async def work(recommender: Any) -> Any:
        return await recommender.get_recommendation(args.id)

    row = _run(args, work)
    if args.json:
        _print_json(row)
    else:
        print(recommendation_text(row, evidence_items=50))
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    async def work(recommender: Any) -> Any:
        return await recommender.apply_recommendation(args.id, args.by)

    applied = _run(args, work)
    result = {
        "recommendation_id": applied.recommendation_id,
        "config_id": applied.config_id,
        "candidate_version_id": applied.version_id,
        "version_number": applied.version.version_number,
        "diff_id": applied.diff_id,
    }
    if args.json:
        _print_json(result)
    else:
        print(
            f"candidate v{applied.version.version_number} ({applied.version_id}) with pending "
            f"diff {applied.diff_id}: run a canary simulation of it, then "
            f"`arc-db recommendations evaluate {applied.diff_id}`"
        )
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from arc.database.comparison.render import comparison_text

    async def work(recommender: Any) -> Any:
        return await recommender.evaluate_candidate(
            args.diff, alpha=args.alpha, min_samples=args.min_samples
        )

    review = _run(args, work)
    if args.json:
        _print_json(
            {
                "diff_id": review.diff_id,
                "hit": review.hit,
                "focus": review.focus,
                "comparison": review.comparison.as_dict(),
            }
        )
    else:
        print(comparison_text(review.comparison, limit=args.limit))
        if review.focus:
            f = review.focus
            print(
                f"on the {f['scenarios']} scenarios the evidence named: {f['delta']:+.4f} "
                f"[{f['ci_low']:+.4f}, {f['ci_high']:+.4f}], p={f['p_value']:.3g}"
            )
        print("the prediction held" if review.hit else "the prediction did not hold")
    return EXIT_OK


def _decision(args: argparse.Namespace, decide: Callable[[Any], Awaitable[Any]]) -> int:
    from arc.database.core.errors import ArcValidationError

    try:
        decision = _run(args, decide)
    except CliError as err:
        cause = err.__cause__
        if isinstance(cause, ArcValidationError) and cause.field == "evaluation":
            err.code = EXIT_REFUSED  # the canary refused it: not a usage error
        raise
    if args.json:
        _print_json(asdict(decision))
    else:
        forced = " (forced)" if decision.forced else ""
        print(
            f"diff {decision.diff_id}: {decision.status}{forced}; the configuration serves "
            f"version {decision.approved_version_id}"
        )
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    return _decision(
        args,
        lambda r: r.approve(args.diff, args.by, force=args.force, reason=args.reason),
    )


def cmd_reject(args: argparse.Namespace) -> int:
    return _decision(args, lambda r: r.reject(args.diff, args.by, reason=args.reason))


def cmd_feedback(args: argparse.Namespace) -> int:
    async def work(recommender: Any) -> None:
        await recommender.record_feedback(args.id, args.score)

    _run(args, work)
    print(f"recorded feedback {args.score} for {args.id}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from arc.database.recommendations.render import calibration_text

    async def work(recommender: Any) -> Any:
        return await recommender.calibration(args.user)

    report = _run(args, work)
    if args.json:
        _print_json(report.as_dict())
    else:
        print(calibration_text(report))
    return EXIT_OK


def _common(parser: argparse.ArgumentParser, *, provider: bool = False) -> None:
    parser.add_argument("--tenant", type=uuid_arg, help="act as this tenant (user id)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    if provider:
        parser.add_argument(
            "--provider",
            choices=("offline", "openai", "anthropic"),
            help="LLM provider (default: $ARC_LLM_PROVIDER, else offline)",
        )
        parser.add_argument("--model", help="model name (default: $ARC_LLM_MODEL)")


def register(sub: Any) -> None:
    rp = sub.add_parser("recommendations", help="evidence-backed, canary-tested recommendations")
    rsub = rp.add_subparsers(dest="action", required=True, metavar="ACTION")

    an = rsub.add_parser("analyze", help="recommend changes to a configuration")
    an.add_argument("--config", type=uuid_arg, required=True, help="configuration id")
    an.add_argument("--metric", choices=METRIC_CHOICES, default="reliability_score")
    an.add_argument("--days", type=float, default=7.0, help="evidence window in days (7)")
    _common(an, provider=True)
    an.set_defaults(func=cmd_analyze)

    ls = rsub.add_parser("list", help="pending recommendations, or a session's")
    ls.add_argument("--session", type=uuid_arg, help="the recommendations of this session")
    ls.add_argument("--min-confidence", type=float, default=0.0)
    ls.add_argument("--limit", type=int, default=50)
    _common(ls)
    ls.set_defaults(func=cmd_list)

    sh = rsub.add_parser("show", help="one recommendation with its evidence")
    sh.add_argument("id", type=uuid_arg)
    _common(sh)
    sh.set_defaults(func=cmd_show)

    ap = rsub.add_parser("apply", help="write the candidate version (pending approval)")
    ap.add_argument("id", type=uuid_arg, help="recommendation id")
    ap.add_argument("--by", type=uuid_arg, required=True, help="who applies it (user id)")
    _common(ap)
    ap.set_defaults(func=cmd_apply)

    ev = rsub.add_parser("evaluate", help="compare the candidate with its baseline (canary)")
    ev.add_argument("diff", type=uuid_arg, help="the candidate's diff id")
    ev.add_argument("--alpha", type=float, default=0.05)
    ev.add_argument("--min-samples", type=int, default=5)
    ev.add_argument("--limit", type=int, default=10, help="table rows to show")
    _common(ev)
    ev.set_defaults(func=cmd_evaluate)

    ok = rsub.add_parser("approve", help="make the candidate the approved version")
    ok.add_argument("diff", type=uuid_arg)
    ok.add_argument("--by", type=uuid_arg, required=True, help="approver (user id)")
    ok.add_argument("--force", action="store_true", help="override a canary regression")
    ok.add_argument("--reason", help="why (required with --force; audited)")
    _common(ok)
    ok.set_defaults(func=cmd_approve)

    no = rsub.add_parser("reject", help="reject the candidate: the approved version stays")
    no.add_argument("diff", type=uuid_arg)
    no.add_argument("--by", type=uuid_arg, required=True)
    no.add_argument("--reason")
    _common(no)
    no.set_defaults(func=cmd_reject)

    fb = rsub.add_parser("feedback", help="rate a recommendation from 1 to 5")
    fb.add_argument("id", type=uuid_arg)
    fb.add_argument("score", type=int, choices=range(1, 6))
    _common(fb)
    fb.set_defaults(func=cmd_feedback)

    rep = rsub.add_parser("report", help="calibration of the confidence, hit rate per kind")
    rep.add_argument("--user", type=uuid_arg, help="only this tenant")
    _common(rep)
    rep.set_defaults(func=cmd_report)
