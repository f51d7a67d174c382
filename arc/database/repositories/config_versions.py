"""SQL for configurations, their versions and the diffs between them.

Free functions over an `AsyncSession` the caller owns: they execute and never commit. The
service layer (`arc.database.configs.ConfigurationManager`) holds the rules; this module only
says how rows are read and written.
"""

import uuid
from collections.abc import Sequence
from typing import Any, TypeAlias

from sqlalchemy import Row, and_, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from arc.database.models import ConfigDiff, Configuration, ConfigVersion

AnyRow: TypeAlias = Row[*tuple[Any, ...]]

_VERSION_COLUMNS = (
    ConfigVersion.version_id,
    ConfigVersion.config_id,
    ConfigVersion.version_number,
    ConfigVersion.raw_yaml,
    ConfigVersion.parsed_config,
    ConfigVersion.config_hash,
    ConfigVersion.generated_by,
    ConfigVersion.modal_deployment_id,
    ConfigVersion.is_deleted,
    ConfigVersion.created_at,
)


async def insert_configuration(
    session: AsyncSession,
    *,
    config_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    modal_app_id: str | None,
    sandbox_config: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        insert(Configuration).values(
            config_id=config_id,
            user_id=user_id,
            name=name,
            modal_app_id=modal_app_id,
            sandbox_config=sandbox_config or {},
        )
    )


async def lock_name(session: AsyncSession, user_id: uuid.UUID, name: str) -> None:
    """Serialise creation of one (tenant, name) until the transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"arc.configurations:{user_id}:{name}"},
    )


async def active_config_id_by_name(
    session: AsyncSession, user_id: uuid.UUID, name: str
) -> uuid.UUID | None:
    result = await session.execute(
        select(Configuration.config_id)
        .where(
            Configuration.user_id == user_id,
            Configuration.name == name,
            Configuration.is_active.is_(True),
        )
        .order_by(Configuration.updated_at.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def lock_configuration(session: AsyncSession, config_id: uuid.UUID) -> AnyRow | None:
    """Row lock that serialises version creation per configuration (FOR UPDATE)."""
    result = await session.execute(
        select(
            Configuration.config_id,
            Configuration.user_id,
            Configuration.name,
            Configuration.latest_version_id,
            Configuration.is_active,
        )
        .where(Configuration.config_id == config_id)
        .with_for_update()
    )
    return result.one_or_none()


async def get_configuration(session: AsyncSession, config_id: uuid.UUID) -> AnyRow | None:
    result = await session.execute(
        select(
            Configuration.config_id,
            Configuration.user_id,
            Configuration.name,
            Configuration.latest_version_id,
            Configuration.is_active,
            Configuration.modal_app_id,
            Configuration.created_at,
            Configuration.updated_at,
        ).where(Configuration.config_id == config_id)
    )
    return result.one_or_none()


async def next_version_number(session: AsyncSession, config_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.coalesce(func.max(ConfigVersion.version_number), 0) + 1).where(
            ConfigVersion.config_id == config_id
        )
    )
    return int(result.scalar_one())


async def insert_version(
    session: AsyncSession,
    *,
    version_id: uuid.UUID,
    config_id: uuid.UUID,
    version_number: int,
    raw_yaml: str,
    parsed_config: dict[str, Any],
    config_hash: str,
    generated_by: str,
    modal_deployment_id: str | None,
    embedding: Sequence[float] | None,
) -> None:
    await session.execute(
        insert(ConfigVersion).values(
            version_id=version_id,
            config_id=config_id,
            version_number=version_number,
            raw_yaml=raw_yaml,
            parsed_config=parsed_config,
            config_hash=config_hash,
            generated_by=generated_by,
            modal_deployment_id=modal_deployment_id,
            embedding=list(embedding) if embedding is not None else None,
        )
    )


async def set_latest_version(
    session: AsyncSession, config_id: uuid.UUID, version_id: uuid.UUID
) -> None:
    # greatest(): updated_at must never fall below created_at (valid_timestamps check), and
    # now() is the transaction's start time.
    await session.execute(
        update(Configuration)
        .where(Configuration.config_id == config_id)
        .values(
            latest_version_id=version_id,
            updated_at=func.greatest(func.now(), Configuration.created_at),
        )
    )


async def get_version(session: AsyncSession, version_id: uuid.UUID) -> AnyRow | None:
    result = await session.execute(
        select(*_VERSION_COLUMNS).where(ConfigVersion.version_id == version_id)
    )
    return result.one_or_none()


async def list_versions(
    session: AsyncSession, config_id: uuid.UUID, *, include_deleted: bool = False
) -> Sequence[AnyRow]:
    query = select(*_VERSION_COLUMNS).where(ConfigVersion.config_id == config_id)
    if not include_deleted:
        query = query.where(ConfigVersion.is_deleted.is_not(True))
    result = await session.execute(query.order_by(ConfigVersion.version_number))
    return result.all()


async def set_modal_deployment(
    session: AsyncSession, version_id: uuid.UUID, modal_deployment_id: str
) -> bool:
    result = await session.execute(
        update(ConfigVersion)
        .where(ConfigVersion.version_id == version_id)
        .values(modal_deployment_id=modal_deployment_id)
        .returning(ConfigVersion.version_id)
    )
    return result.scalar_one_or_none() is not None


async def insert_diff(
    session: AsyncSession,
    *,
    diff_id: uuid.UUID,
    config_id: uuid.UUID,
    version_before: uuid.UUID,
    version_after: uuid.UUID,
    diff_yaml: str,
    change_summary: dict[str, Any],
    llm_generated: bool,
    impact_prediction: dict[str, Any] | None = None,
    requires_approval: bool = False,
    recommendation_id: uuid.UUID | None = None,
    target_metric: str | None = None,
) -> None:
    await session.execute(
        insert(ConfigDiff).values(
            diff_id=diff_id,
            config_id=config_id,
            version_before=version_before,
            version_after=version_after,
            diff_yaml=diff_yaml,
            change_summary=change_summary,
            impact_prediction=impact_prediction,
            llm_generated=llm_generated,
            requires_approval=requires_approval,
            recommendation_id=recommendation_id,
            target_metric=target_metric,
        )
    )


async def get_diff(session: AsyncSession, diff_id: uuid.UUID) -> AnyRow | None:
    result = await session.execute(
        select(
            ConfigDiff.diff_id,
            ConfigDiff.config_id,
            ConfigDiff.version_before,
            ConfigDiff.version_after,
            ConfigDiff.diff_yaml,
            ConfigDiff.change_summary,
            ConfigDiff.llm_generated,
            ConfigDiff.approval_status,
            ConfigDiff.approved_by,
            ConfigDiff.created_at,
            ConfigDiff.impact_prediction,
            ConfigDiff.requires_approval,
            ConfigDiff.recommendation_id,
            ConfigDiff.target_metric,
            ConfigDiff.evaluation,
            ConfigDiff.evaluated_at,
            ConfigDiff.decided_at,
            ConfigDiff.decision_forced,
            ConfigDiff.decision_reason,
        ).where(ConfigDiff.diff_id == diff_id)
    )
    return result.one_or_none()


async def lock_diff(session: AsyncSession, diff_id: uuid.UUID) -> AnyRow | None:
    """The diff, locked for a decision (FOR UPDATE): decisions on one diff serialise."""
    result = await session.execute(
        select(ConfigDiff.diff_id).where(ConfigDiff.diff_id == diff_id).with_for_update()
    )
    if result.one_or_none() is None:
        return None
    return await get_diff(session, diff_id)


async def record_evaluation(
    session: AsyncSession, diff_id: uuid.UUID, evaluation: dict[str, Any]
) -> bool:
    result = await session.execute(
        update(ConfigDiff)
        .where(ConfigDiff.diff_id == diff_id)
        .values(evaluation=evaluation, evaluated_at=func.now())
        .returning(ConfigDiff.diff_id)
    )
    return result.scalar_one_or_none() is not None


async def decide_diff(
    session: AsyncSession,
    diff_id: uuid.UUID,
    status: str,
    approver: uuid.UUID,
    *,
    forced: bool = False,
    reason: str | None = None,
) -> str | None:
    """Move a pending diff to `status`. Returns the status the row has afterwards (None: no row)."""
    result = await session.execute(
        update(ConfigDiff)
        .where(ConfigDiff.diff_id == diff_id, ConfigDiff.approval_status == "pending")
        .values(
            approval_status=status,
            approved_by=approver,
            decided_at=func.now(),
            decision_forced=forced,
            decision_reason=reason,
        )
        .returning(ConfigDiff.approval_status)
    )
    changed = result.scalar_one_or_none()
    if changed is not None:
        return str(changed)
    current = await session.execute(
        select(ConfigDiff.approval_status).where(ConfigDiff.diff_id == diff_id)
    )
    value = current.scalar_one_or_none()
    return None if value is None else str(value)


async def deactivate(session: AsyncSession, config_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(Configuration)
        .where(Configuration.config_id == config_id)
        .values(is_active=False, updated_at=func.greatest(func.now(), Configuration.created_at))
        .returning(Configuration.config_id)
    )
    return result.scalar_one_or_none() is not None


async def active_config(session: AsyncSession, user_id: uuid.UUID, name: str) -> AnyRow | None:
    result = await session.execute(
        select(
            Configuration.config_id,
            Configuration.modal_app_id,
            ConfigVersion.version_id,
            ConfigVersion.version_number,
            ConfigVersion.parsed_config,
            ConfigVersion.config_hash,
            ConfigVersion.modal_deployment_id,
        )
        .join(ConfigVersion, ConfigVersion.version_id == Configuration.latest_version_id)
        .where(
            Configuration.user_id == user_id,
            Configuration.name == name,
            Configuration.is_active.is_(True),
        )
        .order_by(Configuration.updated_at.desc())
        .limit(1)
    )
    return result.one_or_none()


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    model: str | None = None,
    name_contains: str | None = None,
    include_inactive: bool = False,
    limit: int = 100,
) -> Sequence[AnyRow]:
    conditions = [Configuration.user_id == user_id]
    if not include_inactive:
        conditions.append(Configuration.is_active.is_(True))
    if model is not None:
        conditions.append(ConfigVersion.parsed_config["model"].astext == model)
    if name_contains:
        conditions.append(Configuration.name.ilike(f"%{_escape_like(name_contains)}%", escape="\\"))
    result = await session.execute(
        select(
            Configuration.config_id,
            Configuration.name,
            Configuration.is_active,
            Configuration.modal_app_id,
            Configuration.updated_at,
            ConfigVersion.version_id,
            ConfigVersion.version_number,
            ConfigVersion.parsed_config,
        )
        .outerjoin(ConfigVersion, ConfigVersion.version_id == Configuration.latest_version_id)
        .where(and_(*conditions))
        .order_by(Configuration.updated_at.desc(), Configuration.config_id)
        .limit(limit)
    )
    return result.all()
