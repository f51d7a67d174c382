"""The layers of arc.database import only downwards (docs/architecture.md).

Every `arc.database.<part>` import in every module (also inside functions) is checked against
the parts that part may use. A new part must be placed here before it can import anything.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "arc" / "database"

# part -> the parts it may import. `models` are plain table definitions and import nothing;
# `core` (errors name fields and rules from the models' constraints) sits right above them.
ALLOWED: dict[str, set[str]] = {
    "models": set(),
    "core": {"models"},
    "repositories": {"models", "core"},
    "schema": {"models", "core"},
    # `client.health` (seeds 000/002) runs the health checks of ops.
    "ingest": {"models", "core", "repositories", "schema", "ops"},
    "configs": {"models", "core", "repositories"},
    "analytics": {"models", "core", "repositories"},
    "comparison": {"models", "core", "repositories", "analytics"},
    "recommendations": {"models", "core", "repositories", "configs", "analytics", "comparison"},
    "ops": {"models", "core", "repositories", "schema", "analytics"},
    "export": {"models", "core", "repositories", "comparison"},
    # OpenTelemetry traces -> outcomes, written through the ingest write path.
    "otel": {"models", "core", "repositories", "ingest"},
    # `arc-db serve`: health and metrics from ops, OTLP ingestion from otel.
    "service": {"models", "core", "repositories", "schema", "ingest", "analytics", "ops", "otel"},
}
# The demo runs everything below it; the command line also runs the demo.
ALLOWED["demo"] = set(ALLOWED) - {"demo"}
ALLOWED["cli"] = ALLOWED["demo"] | {"demo"}
FACADES = {"__init__.py", "client.py", "api.py"}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else "facade"


def _imported_parts(path: Path) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "arc.database":
                names = [f"arc.database.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["arc", "database"] and len(parts) > 2:
                target = parts[2]
                found.add(("facade" if f"{target}.py" in FACADES else target, node.lineno))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _part(p) != "facade")


def test_every_part_has_a_place_in_the_layers() -> None:
    parts = {_part(p) for p in MODULES}
    assert parts <= set(ALLOWED), f"place {sorted(parts - set(ALLOWED))} in ALLOWED"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_downwards(module: Path) -> None:
    part = _part(module)
    wrong = sorted(
        f"line {line}: {target}"
        for target, line in _imported_parts(module)
        if target != part and target not in ALLOWED.get(part, set())
    )
    assert not wrong, f"{module.relative_to(PACKAGE)} ({part}) imports upwards: {wrong}"


def test_the_seed_facades_are_thin() -> None:
    """client.py and api.py only re-export; the code lives in ingest/."""
    for name in ("client.py", "api.py"):
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        kinds = {type(node).__name__ for node in tree.body}
        assert kinds <= {"Expr", "ImportFrom", "Assign"}, (name, kinds)


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an upward import inside a function is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from arc.database.ingest.client import ArcDBClient\n")
    assert ("ingest", 2) in _imported_parts(module)
