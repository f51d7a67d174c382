"""`arc-db`, the command line."""

from arc.database.cli.main import main

__all__ = ["main"]
