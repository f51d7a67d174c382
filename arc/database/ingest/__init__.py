"""Ingest: the write path from sandbox workers to the hypertables.

Validation at the boundary, the client (`ArcDBClient`), seed 003's API (`ArcAPI`), the
buffered recorder and lifecycle events with their journal and replay.
"""
