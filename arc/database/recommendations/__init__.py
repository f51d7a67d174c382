"""Recommendations: evidence in, suggested configuration changes out, through a provider.

`engine` runs an analysis session; `prompt` builds what a provider reads; `answers` checks
what it says; `providers/` holds one module per provider (offline by default).
"""

from arc.database.recommendations.engine import (
    AnalysisResult,
    ApplyResult,
    RecommendationEngine,
)
from arc.database.recommendations.providers.base import LLMProvider, LLMResponse

__all__ = ["AnalysisResult", "ApplyResult", "LLMProvider", "LLMResponse", "RecommendationEngine"]
