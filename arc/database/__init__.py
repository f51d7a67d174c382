"""arc-eval-db: the data layer of Arc-Eval (TimescaleDB + pgvector through SQLAlchemy 2.0 async)."""

__version__ = "0.1.0"
