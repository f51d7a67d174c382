"""Configurations: YAML versions, deduplication, diffs and their review.

`parsing` holds the pure functions (validation, hashing, diffs); `manager` the
ConfigurationManager, which works in the caller's session and never commits.
"""

from arc.database.configs.manager import (
    Candidate,
    ConfigurationManager,
    ConfigurationSummary,
    ConfigVersionInfo,
    Decision,
    VersionResult,
)
from arc.database.configs.parsing import (
    ConfigDiffResult,
    ParsedConfig,
    canonical_hash,
    change_summary,
    compute_diff,
    flatten,
    parse_config,
)

__all__ = [
    "Candidate",
    "ConfigDiffResult",
    "ConfigVersionInfo",
    "ConfigurationManager",
    "ConfigurationSummary",
    "Decision",
    "ParsedConfig",
    "VersionResult",
    "canonical_hash",
    "change_summary",
    "compute_diff",
    "flatten",
    "parse_config",
]
