"""arc-eval-db: the data layer of Arc-Eval (TimescaleDB + pgvector through SQLAlchemy 2.0 async).

The public surface, importable from here. The seeds' own paths stay as thin facades:
`arc.database.client` (ArcDBClient, ArcEvalDBClient) and `arc.database.api` (ArcAPI,
create_arc_api). The parts of the system live in sub-packages (docs/architecture.md):

    core/             settings, engine, errors, logging, retries, metrics, edition detection
    models/           the twelve tables          repositories/   batch inserts, domain queries
    schema/           migrations run from code   ingest/         client, API, recorder, events
    analytics/        panels, similarity         configs/        versions, diffs, approvals
    comparison/       v2 against v1, Pareto      recommendations/ engine and providers
    ops/              health, maintenance        cli/, demo/     `arc-db` and `make demo`
"""

from importlib import metadata as _metadata

from arc.database.analytics import ArcAnalytics, Dashboard
from arc.database.analytics.similarity import SimilaritySearch
from arc.database.comparison import VersionComparator
from arc.database.configs import ConfigurationManager
from arc.database.core.engine import build_engine, session_factory
from arc.database.core.errors import (
    ArcCircuitOpenError,
    ArcConfigurationError,
    ArcDatabaseError,
    ArcIntegrityError,
    ArcNotFoundError,
    ArcTransientError,
    ArcValidationError,
    DatabaseError,
)
from arc.database.core.settings import DatabaseSettings
from arc.database.ingest.api import ArcAPI, create_arc_api
from arc.database.ingest.client import ArcDBClient, ArcEvalDBClient
from arc.database.ingest.events import (
    ExecutionCompleted,
    ExecutionEventHandler,
    ExecutionFailed,
    ExecutionStarted,
    ScenarioCompleted,
    ScenarioStarted,
)
from arc.database.ingest.recorder import BatchExecutionRecorder, RejectedRow
from arc.database.ops.health import DatabaseHealthChecker, HealthReport, HealthThresholds
from arc.database.recommendations import RecommendationEngine

try:  # the version is written once, in pyproject.toml; the installed metadata carries it
    __version__ = _metadata.version("arc-eval-db")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ArcAPI",
    "ArcAnalytics",
    "ArcCircuitOpenError",
    "ArcConfigurationError",
    "ArcDBClient",
    "ArcDatabaseError",
    "ArcEvalDBClient",
    "ArcIntegrityError",
    "ArcNotFoundError",
    "ArcTransientError",
    "ArcValidationError",
    "BatchExecutionRecorder",
    "ConfigurationManager",
    "Dashboard",
    "DatabaseError",
    "DatabaseHealthChecker",
    "DatabaseSettings",
    "ExecutionCompleted",
    "ExecutionEventHandler",
    "ExecutionFailed",
    "ExecutionStarted",
    "HealthReport",
    "HealthThresholds",
    "RecommendationEngine",
    "RejectedRow",
    "ScenarioCompleted",
    "ScenarioStarted",
    "SimilaritySearch",
    "VersionComparator",
    "__version__",
    "build_engine",
    "create_arc_api",
    "session_factory",
]
