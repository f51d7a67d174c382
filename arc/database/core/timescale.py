"""What the server offers: TimescaleDB present or not, and which edition.

The full (Community, license `timescale`) edition has compression, continuous aggregates,
policies and jobs; the Apache edition has hypertables, time_bucket and drop_chunks only.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

_QUERY = text(
    """
    SELECT
        current_setting('server_version') AS server_version,
        (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb,
        (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS vector,
        (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb')
            AS timescaledb_available,
        current_setting('timescaledb.license', true) AS license,
        (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload
    """
)


@dataclass(frozen=True)
class TimescaleCapabilities:
    server_version: str
    timescaledb_version: str | None
    vector_version: str | None
    timescaledb_available: str | None
    license: str | None
    preload_libraries: str

    @property
    def has_timescaledb(self) -> bool:
        return self.timescaledb_version is not None

    @property
    def edition(self) -> str:
        """`full`, `apache`, or `none` (no TimescaleDB in this database)."""
        if not self.has_timescaledb:
            return "none"
        return "full" if self.license == "timescale" else "apache"

    @property
    def full_edition(self) -> bool:
        return self.edition == "full"

    @property
    def compression(self) -> bool:
        return self.full_edition

    @property
    def continuous_aggregates(self) -> bool:
        return self.full_edition

    @property
    def policies(self) -> bool:
        return self.full_edition

    @property
    def pg_stat_statements_loaded(self) -> bool:
        return "pg_stat_statements" in self.preload_libraries

    def as_dict(self) -> dict[str, Any]:
        return {
            "server_version": self.server_version,
            "timescaledb": self.timescaledb_version,
            "vector": self.vector_version,
            "license": self.license,
            "edition": self.edition,
            "compression": self.compression,
            "continuous_aggregates": self.continuous_aggregates,
            "policies": self.policies,
        }


def _from_row(row: Any) -> TimescaleCapabilities:
    return TimescaleCapabilities(
        server_version=row.server_version,
        timescaledb_version=row.timescaledb,
        vector_version=row.vector,
        timescaledb_available=row.timescaledb_available,
        license=row.license,
        preload_libraries=row.preload or "",
    )


def detect(connection: Connection) -> TimescaleCapabilities:
    """For synchronous callers (migrations)."""
    return _from_row(connection.execute(_QUERY).one())


async def detect_async(connection: AsyncConnection) -> TimescaleCapabilities:
    return _from_row((await connection.execute(_QUERY)).one())
