"""Seed import path: `from arc.database.client import ArcDBClient` (alias ArcEvalDBClient).

A facade: the client lives in `arc.database.ingest.client`.
"""

from arc.database.ingest.client import ArcDBClient, ArcEvalDBClient, BundleResult, OutcomeIds

__all__ = ["ArcDBClient", "ArcEvalDBClient", "BundleResult", "OutcomeIds"]
