"""Declarative models of the twelve tables; `migrations/env.py` imports `Base.metadata`."""

from arc.database.models.audit_log import AuditLog
from arc.database.models.base import EMBEDDING_DIMENSIONS, Base
from arc.database.models.config_diff import ConfigDiff
from arc.database.models.config_version import ConfigVersion
from arc.database.models.configuration import Configuration
from arc.database.models.failure_pattern import FailurePattern
from arc.database.models.llm_recommendation_session import LLMRecommendationSession
from arc.database.models.outcome import Outcome
from arc.database.models.recommendation import Recommendation
from arc.database.models.scenario import Scenario
from arc.database.models.simulation import Simulation
from arc.database.models.simulation_scenario import SimulationScenario
from arc.database.models.tool_usage import ToolUsage

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "AuditLog",
    "Base",
    "ConfigDiff",
    "ConfigVersion",
    "Configuration",
    "FailurePattern",
    "LLMRecommendationSession",
    "Outcome",
    "Recommendation",
    "Scenario",
    "Simulation",
    "SimulationScenario",
    "ToolUsage",
]
