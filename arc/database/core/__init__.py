"""Core: settings, the engine, typed errors, logging, retries, metrics, edition detection.

Imports nothing else from arc.database: every other part builds on it.
"""
