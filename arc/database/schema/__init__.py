"""The schema's deployment: Alembic migrations run from code, under an advisory lock."""
