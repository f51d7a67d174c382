"""Configurations, read side only: what sandboxes may run now."""

from typing import Any

from sqlalchemy import text

from arc.database.repositories.base import BaseRepository


class ConfigurationRepository(BaseRepository):
    async def get_active_configurations(self) -> list[dict[str, Any]]:
        """Active configurations with their latest (not deleted) version (seed 002 §10D)."""
        result = await self.conn.execute(
            text(
                "SELECT c.config_id, c.name, c.modal_app_id, cv.version_id, cv.version_number,"
                " cv.parsed_config, cv.modal_deployment_id "
                "FROM configurations c "
                "JOIN config_versions cv ON cv.version_id = c.latest_version_id "
                "WHERE c.is_active AND NOT COALESCE(cv.is_deleted, false) "
                "ORDER BY c.name, c.config_id"
            )
        )
        return [
            {
                "config_id": str(row.config_id),
                "config_name": row.name,
                "version_id": str(row.version_id),
                "version_number": row.version_number,
                "config": row.parsed_config,
                "modal_app_id": row.modal_app_id,
                "modal_deployment_id": row.modal_deployment_id,
            }
            for row in result
        ]
