"""Recommendations: evidence in, a canary-tested, approved configuration out.

`evidence` gathers what the engine stands on; `prompt` builds what a provider reads;
`suggestions` checks what it says against the rules and the evidence; `confidence` turns
evidence and track record into a probability; `changes` turns suggestions into merge patches;
`engine` runs the loop (analyse, apply as a candidate, evaluate by canary, approve or reject);
`providers/` holds one module per provider (offline by default). docs/recommendations.md.
"""

from arc.database.recommendations.engine import (
    AnalysisResult,
    ApplyResult,
    CandidateReview,
    RecommendationEngine,
)
from arc.database.recommendations.providers.base import LLMProvider, LLMRequest, LLMResponse

__all__ = [
    "AnalysisResult",
    "ApplyResult",
    "CandidateReview",
    "LLMProvider",
    "LLMRequest",
    "LLMResponse",
    "RecommendationEngine",
]
