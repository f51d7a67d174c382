"""`arc-db serve`: the HTTP surface of arc-eval-db (extra `arc-eval-db[server]`).

One module per concern: `settings` (flags and ARC_SERVE_* variables), `health` (/healthz,
/readyz), `metrics` (/metrics), `app` (the Starlette app factory and its lifespan), `server`
(uvicorn, signals, graceful shutdown). Later endpoints (OTLP trace ingestion) are routes of
the same app.
"""
