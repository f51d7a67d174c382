"""Repositories: one per aggregate, explicit domain methods, never committing."""

from arc.database.repositories.base import BaseRepository, BatchInserter, InsertReport
from arc.database.repositories.configurations import ConfigurationRepository
from arc.database.repositories.failure_patterns import FailurePatternRepository
from arc.database.repositories.outcomes import OutcomeRepository
from arc.database.repositories.scenarios import ScenarioRepository
from arc.database.repositories.simulations import SimulationRepository
from arc.database.repositories.tool_usage import ToolUsageRepository

__all__ = [
    "BaseRepository",
    "BatchInserter",
    "ConfigurationRepository",
    "FailurePatternRepository",
    "InsertReport",
    "OutcomeRepository",
    "ScenarioRepository",
    "SimulationRepository",
    "ToolUsageRepository",
]
