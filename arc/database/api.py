"""Seed import path: `from arc.database.api import ArcAPI, create_arc_api` (seed 003).

A facade: the API lives in `arc.database.ingest.api`.
"""

from arc.database.ingest.api import ArcAPI, create_arc_api

__all__ = ["ArcAPI", "create_arc_api"]
