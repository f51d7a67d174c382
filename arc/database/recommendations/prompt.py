"""The prompt the engine sends a provider: the analysis as JSON between tags, and the
shape of the answer it asks for."""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from arc.database.core.jsonb import json_dumps
from arc.database.models.recommendation import RECOMMENDATION_TYPES
from arc.database.recommendations.providers.base import ANALYSIS_END, ANALYSIS_START

PROMPT_TEMPLATE_VERSION = "arc-recommendations-v1"
PROMPT_TEMPLATE = """You analyse the evaluation history of AI agent configurations and suggest
changes that raise reliability or lower cost.

The analysis covers {window_start} to {window_end}{scope}. It is JSON between the tags:
{analysis_start}
{analysis}
{analysis_end}

Answer with one JSON object and nothing else:
{{"recommendations": [{{
  "recommendation_type": one of {types},
  "source_type": "time_series_analysis" or "pattern_analysis",
  "description": at least 10 characters, what to change and why,
  "suggested_yaml_changes": a YAML mapping to merge into the configuration, or null,
  "impact_estimate": an object,
  "evidence_count": how many observations support it (integer),
  "effect_size": 0..1, how strong the signal is,
  "config_id": the configuration it applies to, or null,
  "confidence": optional, 0..1
}}]}}
"""


def build_prompt(
    analysis: Mapping[str, Any], start: datetime, end: datetime, scope: str = ""
) -> str:
    return PROMPT_TEMPLATE.format(
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        scope=scope,
        analysis_start=ANALYSIS_START,
        analysis=json.dumps(json.loads(json_dumps(analysis)), sort_keys=True, indent=1),
        analysis_end=ANALYSIS_END,
        types=", ".join(RECOMMENDATION_TYPES),
    )
