"""Configurations: YAML versions, deduplication, diffs and their review.

`parsing` holds the pure functions (validation, hashing, diffs); `manager` the
ConfigurationManager, which works in the caller's session and never commits.
"""

from arc.database.configs.manager import (
    ConfigurationManager,
    ConfigurationSummary,
    ConfigVersionInfo,
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
    "ConfigDiffResult",
    "ConfigVersionInfo",
    "ConfigurationManager",
    "ConfigurationSummary",
    "ParsedConfig",
    "VersionResult",
    "canonical_hash",
    "change_summary",
    "compute_diff",
    "flatten",
    "parse_config",
]
