"""Optional dependencies (extras): imported when a feature needs them, with a typed error that
names the extra to install when they are missing."""

import importlib
from types import ModuleType

from arc.database.core.errors import ArcMissingExtraError


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """`module`, or ArcMissingExtraError("pip install 'arc-eval-db[<extra>]'")."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ArcMissingExtraError(extra, module.split(".")[0], feature) from exc
