"""Earlier revisions as modules, for a revision that reuses their definitions (and restores
them on downgrade) instead of copying them: a revision file is not importable by name."""

import importlib.util
from types import ModuleType

from arc.database.schema.migrate import migrations_dir


def earlier_revision(filename: str) -> ModuleType:
    """The module of `versions/<filename>`, e.g. earlier_revision("0007_comparison_stats.py")."""
    spec = importlib.util.spec_from_file_location(
        f"arc_revision_{filename[:4]}", migrations_dir() / "versions" / filename
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
