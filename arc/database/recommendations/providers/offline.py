"""HeuristicProvider: deterministic rules over the analysis; no network, no key, no cost."""

import json
from typing import Any

from arc.database.recommendations.providers.base import LLMResponse, extract_analysis, num


class HeuristicProvider:
    """Deterministic rules over the analysis; no network, no cost.

    Each rule reports `evidence_count` (how many observations support it) and `effect_size`
    (0..1, how strong the signal is); the engine turns them into a confidence.
    """

    model_name = "heuristic-v1"

    def __init__(
        self,
        *,
        timeout_rate_threshold: float = 0.1,
        tool_success_threshold: float = 0.8,
        min_evidence: int = 3,
        reliability_margin: float = 0.05,
        cost_ratio_threshold: float = 0.7,
    ) -> None:
        self.timeout_rate_threshold = timeout_rate_threshold
        self.tool_success_threshold = tool_success_threshold
        self.min_evidence = min_evidence
        self.reliability_margin = reliability_margin
        self.cost_ratio_threshold = cost_ratio_threshold

    async def complete(self, prompt: str, *, model: str, temperature: float) -> LLMResponse:
        analysis = extract_analysis(prompt)
        recommendations = (
            self._timeouts(analysis)
            + self._tools(analysis)
            + self._models(analysis)
            + self._failures(analysis)
        )
        text = json.dumps({"recommendations": recommendations}, sort_keys=True)
        return LLMResponse(text=text, cost_usd=0.0, model=self.model_name)

    def _target(self, analysis: dict[str, Any]) -> dict[str, Any]:
        target = analysis.get("target_config")
        return target if isinstance(target, dict) else {}

    def _timeouts(self, analysis: dict[str, Any]) -> list[dict[str, Any]]:
        scenarios = [s for s in analysis.get("scenario_trends", []) if isinstance(s, dict)]
        executions = sum(int(num(s.get("executions"))) for s in scenarios)
        timeouts = sum(int(num(s.get("timeout_count"))) for s in scenarios)
        if executions == 0 or timeouts < self.min_evidence:
            return []
        rate = timeouts / executions
        if rate < self.timeout_rate_threshold:
            return []
        target = self._target(analysis)
        config = target.get("parsed_config") or {}
        current = num(config.get("timeout_ms"), 300_000.0)
        worst = sorted(scenarios, key=lambda s: -num(s.get("timeout_count")))[:3]
        return [
            {
                "source_type": "time_series_analysis",
                "recommendation_type": "config_change",
                "description": (
                    f"{timeouts} of {executions} executions ({rate:.0%}) timed out; raise the "
                    f"timeout from {int(current)} ms to {int(current * 2)} ms. Most affected: "
                    + ", ".join(str(s.get("scenario_id")) for s in worst)
                ),
                "suggested_yaml_changes": f"timeout_ms: {int(current * 2)}\n",
                "impact_estimate": {"timeout_rate": round(rate, 4), "expected": "fewer timeouts"},
                "evidence_count": timeouts,
                "effect_size": min(1.0, rate / 0.5),
                "config_id": target.get("config_id"),
            }
        ]

    def _tools(self, analysis: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        target = self._target(analysis)
        for tool in analysis.get("tool_performance", []):
            if not isinstance(tool, dict):
                continue
            uses = int(num(tool.get("usage_count")))
            success = num(tool.get("avg_success_rate"), 1.0)
            if uses < self.min_evidence or success >= self.tool_success_threshold:
                continue
            name = str(tool.get("tool_name"))
            out.append(
                {
                    "source_type": "pattern_analysis",
                    "recommendation_type": "tool_optimization",
                    "description": (
                        f"Tool {name} succeeds in only {success:.0%} of {uses} uses; add retries "
                        "and review its error handling."
                    ),
                    "suggested_yaml_changes": (
                        f"tools:\n  {json.dumps(name)}:\n    max_retries: 3\n"
                    ),
                    "impact_estimate": {"tool": name, "success_rate": round(success, 4)},
                    "evidence_count": uses,
                    "effect_size": min(1.0, (self.tool_success_threshold - success) / 0.5),
                    "config_id": target.get("config_id"),
                }
            )
        return out

    def _models(self, analysis: dict[str, Any]) -> list[dict[str, Any]]:
        configs = [
            c
            for c in analysis.get("config_performance", [])
            if isinstance(c, dict)
            and int(num(c.get("executions"))) >= self.min_evidence
            and num(c.get("cost_per_execution")) > 0
            and isinstance((c.get("parsed_config") or {}).get("model"), str)
        ]
        out: list[dict[str, Any]] = []
        target_id = self._target(analysis).get("config_id")
        for expensive in configs:
            if target_id is not None and str(expensive.get("config_id")) != str(target_id):
                continue
            best: dict[str, Any] | None = None
            for cheap in configs:
                same_model = cheap["parsed_config"]["model"] == expensive["parsed_config"]["model"]
                ratio = num(cheap["cost_per_execution"]) / num(expensive["cost_per_execution"])
                close = (
                    num(cheap.get("avg_reliability"))
                    >= num(expensive.get("avg_reliability")) - self.reliability_margin
                )
                if same_model or ratio > self.cost_ratio_threshold or not close:
                    continue
                if best is None or num(cheap["cost_per_execution"]) < num(
                    best["cost_per_execution"]
                ):
                    best = cheap
            if best is None:
                continue
            ratio = num(best["cost_per_execution"]) / num(expensive["cost_per_execution"])
            model = best["parsed_config"]["model"]
            out.append(
                {
                    "source_type": "time_series_analysis",
                    "recommendation_type": "config_change",
                    "description": (
                        f"Model {model} reached {num(best.get('avg_reliability')):.2f} "
                        f"reliability at {ratio:.0%} of the cost of "
                        f"{expensive['parsed_config']['model']} "
                        f"({num(expensive.get('avg_reliability')):.2f}); switch to {model}."
                    ),
                    "suggested_yaml_changes": f"model: {json.dumps(model)}\n",
                    "impact_estimate": {"cost_reduction": round(1 - ratio, 4), "model": model},
                    "evidence_count": min(
                        int(num(best.get("executions"))), int(num(expensive.get("executions")))
                    ),
                    "effect_size": 1 - ratio,
                    "config_id": expensive.get("config_id"),
                }
            )
        return out

    _CATEGORY_TYPES = {
        "tool_error": "tool_optimization",
        "model_error": "config_change",
        "sandbox_error": "modal_optimization",
        "modal_error": "modal_optimization",
        "timeout": "performance_tuning",
    }

    def _failures(self, analysis: dict[str, Any]) -> list[dict[str, Any]]:
        failures = [f for f in analysis.get("failure_analysis", []) if isinstance(f, dict)]
        total = sum(int(num(f.get("failures"))) for f in failures)
        out: list[dict[str, Any]] = []
        target = self._target(analysis)
        config = target.get("parsed_config") or {}
        for f in failures:
            count = int(num(f.get("failures")))
            category = str(f.get("failure_category"))
            share = count / total if total else 0.0
            if count < self.min_evidence or share < 0.3 or category not in self._CATEGORY_TYPES:
                continue
            yaml_change = None
            temperature = num(config.get("temperature"), -1)
            if category == "model_error" and temperature > 0.3:
                yaml_change = f"temperature: {round(max(0.0, temperature - 0.3), 2)}\n"
            samples = [s for s in (f.get("sample_errors") or []) if isinstance(s, str)][:2]
            out.append(
                {
                    "source_type": "pattern_analysis",
                    "recommendation_type": self._CATEGORY_TYPES[category],
                    "description": (
                        f"{category} accounts for {share:.0%} of {total} failures in the window"
                        + (f" (e.g. {'; '.join(samples)})" if samples else "")
                        + "."
                    ),
                    "suggested_yaml_changes": yaml_change,
                    "impact_estimate": {"failure_category": category, "share": round(share, 4)},
                    "evidence_count": count,
                    "effect_size": share,
                    "config_id": target.get("config_id") if yaml_change else None,
                }
            )
        return out
