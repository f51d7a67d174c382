"""Agent configurations: immutable YAML versions, deduplication, diffs and their review.

Transactions: every public method takes an `AsyncSession` as its first argument and never
commits; the caller owns the transaction::

    factory = session_factory(engine)
    async with factory.begin() as session:
        created = await manager.create_config_version(session, config_id, raw_yaml)

so that a recommendation can be applied and its new version written in one transaction.

Rules (seed 001 #6, 002 §8C, with the seed's bugs fixed):
- a configuration's YAML must parse (yaml.safe_load) to a mapping with `model` (non-empty
  string) and `temperature` (a number in 0..2), at most 1 MiB; otherwise ArcValidationError.
- deduplication is per configuration and against its latest version: submitting the
  content the configuration already has returns that version (created=False). The seed
  looked the hash up across all tenants, which returned another tenant's version id.
  Reverting to an older content creates a new version, so `latest` always moves forward.
- version numbers come from max+1 under a FOR UPDATE lock of the configuration row; a unique
  violation (a writer that did not lock) is retried inside a savepoint.
- each new version (after the first) gets a `config_diffs` row against the previous latest:
  a unified diff of the raw YAML (truncated with a marker at 512 KiB) and a change summary
  on flattened dotted keys.
"""

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from arc.database.configs.parsing import (
    ConfigDiffResult,
    ParsedConfig,
    compute_diff,
    parse_config,
)
from arc.database.core.checks import (
    check_bool,
    check_column_text,
    check_embedding,
    check_int,
    check_text,
    require_uuid,
)
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.models.config_version import GENERATED_BY, ConfigVersion
from arc.database.models.configuration import Configuration
from arc.database.repositories import config_versions as repo

log = structlog.get_logger(__name__)

_NAME_RE = re.compile(r"^[a-zA-Z0-9_\-\s]+$")
_VERSION_RETRIES = 3


@dataclass(frozen=True)
class VersionResult:
    """What create_config_version did. created=False: the content was already the latest."""

    config_id: uuid.UUID
    version_id: uuid.UUID
    version_number: int
    config_hash: str
    created: bool
    diff_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Candidate:
    """What a candidate version carries onto its diff: why it exists and what it should do."""

    target_metric: str | None = None
    recommendation_id: uuid.UUID | None = None
    impact_prediction: dict[str, Any] | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of approve_diff / reject_diff."""

    diff_id: uuid.UUID
    config_id: uuid.UUID
    status: str
    forced: bool
    approved_version_id: uuid.UUID | None  # the configuration's approved version afterwards


@dataclass(frozen=True)
class ConfigVersionInfo:
    version_id: uuid.UUID
    config_id: uuid.UUID
    version_number: int
    raw_yaml: str
    parsed_config: dict[str, Any]
    config_hash: str
    generated_by: str | None
    modal_deployment_id: str | None
    is_deleted: bool
    created_at: datetime | None


@dataclass(frozen=True)
class ConfigurationSummary:
    config_id: uuid.UUID
    name: str
    is_active: bool
    modal_app_id: str | None
    latest_version_id: uuid.UUID | None
    latest_version_number: int | None
    model: str | None
    parsed_config: dict[str, Any] = field(default_factory=dict)


def _validate_name(name: str) -> None:
    if not isinstance(name, str) or not 3 <= len(name) <= 100:
        raise ArcValidationError("name", "must be 3 to 100 characters", value=name)
    if not _NAME_RE.match(name):
        raise ArcValidationError(
            "name", "may contain only letters, digits, _, - and spaces", value=name
        )


def _version_info(row: Any) -> ConfigVersionInfo:
    return ConfigVersionInfo(
        version_id=row.version_id,
        config_id=row.config_id,
        version_number=row.version_number,
        raw_yaml=row.raw_yaml,
        parsed_config=row.parsed_config,
        config_hash=row.config_hash,
        generated_by=row.generated_by,
        modal_deployment_id=row.modal_deployment_id,
        is_deleted=bool(row.is_deleted),
        created_at=row.created_at,
    )


def _is_unique_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23505" or "23505" in str(exc.orig)


HIGHER_IS_BETTER = ("reliability_score", "success_rate")


def shows_regression(evaluation: Mapping[str, Any] | None) -> bool:
    """A recorded canary comparison shows a significant regression (scenario or overall)."""
    if not evaluation:
        return False
    summary = evaluation.get("summary") or {}
    return int(summary.get("regressions") or 0) > 0 or overall_direction(evaluation) == "worse"


def overall_direction(evaluation: Mapping[str, Any] | None) -> str | None:
    """ "better" / "worse" when the paired test over scenarios is significant, else None (a broad
    regression that no single scenario shows on its own still blocks a canary)."""
    if not evaluation:
        return None
    summary = evaluation.get("summary") or {}
    metric = str(evaluation.get("metric") or "reliability_score")
    alpha = evaluation.get("alpha")
    p_value, delta = summary.get("p_value"), summary.get("delta")
    if not isinstance(p_value, int | float) or not isinstance(delta, int | float) or delta == 0:
        return None
    if p_value > (alpha if isinstance(alpha, int | float) else 0.05):
        return None
    worse = delta < 0 if metric in HIGHER_IS_BETTER else delta > 0
    return "worse" if worse else "better"


class ConfigurationManager:
    """Versioned agent configurations. Stateless: one instance can serve every tenant."""

    async def create_configuration(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        name: str,
        config: str | Mapping[str, Any],
        modal_app_id: str | None = None,
        *,
        generated_by: str = "api",
        modal_deployment_id: str | None = None,
    ) -> VersionResult:
        """A new configuration with its first version. A tenant's active names are unique."""
        user_id = require_uuid(user_id, "user_id")
        _validate_name(name)
        modal_app_id = check_column_text(modal_app_id, Configuration, "modal_app_id")
        modal_deployment_id = check_column_text(
            modal_deployment_id, ConfigVersion, "modal_deployment_id"
        )
        parsed = parse_config(config)
        self._check_generated_by(generated_by)
        await repo.lock_name(session, user_id, name)
        if await repo.active_config_id_by_name(session, user_id, name) is not None:
            raise ArcValidationError("name", "already names an active configuration", value=name)
        config_id = uuid.uuid4()
        await repo.insert_configuration(
            session, config_id=config_id, user_id=user_id, name=name, modal_app_id=modal_app_id
        )
        result = await self._write_version(
            session,
            config_id=config_id,
            parsed=parsed,
            previous=None,
            generated_by=generated_by,
            modal_deployment_id=modal_deployment_id,
            embedding=None,
        )
        log.info("configs.created", config_id=str(config_id), version_id=str(result.version_id))
        return result

    async def create_config_version(
        self,
        session: AsyncSession,
        config_id: uuid.UUID,
        config: str | Mapping[str, Any],
        generated_by: str = "api",
        modal_deployment_id: str | None = None,
        embedding: Sequence[float] | None = None,
    ) -> VersionResult:
        """Add a version unless the content equals the latest one (then return the latest)."""
        config_id = require_uuid(config_id, "config_id")
        modal_deployment_id = check_column_text(
            modal_deployment_id, ConfigVersion, "modal_deployment_id"
        )
        embedding = check_embedding(embedding, "embedding")
        parsed = parse_config(config)
        self._check_generated_by(generated_by)
        locked = await repo.lock_configuration(session, config_id)
        if locked is None:
            raise ArcNotFoundError("configuration", config_id)
        if not locked.is_active:
            raise ArcValidationError("config_id", "configuration is deactivated", value=config_id)
        previous = (
            await repo.get_version(session, locked.latest_version_id)
            if locked.latest_version_id is not None
            else None
        )
        if previous is not None and previous.config_hash == parsed.config_hash:
            log.info("configs.version_deduplicated", config_id=str(config_id))
            return VersionResult(
                config_id=config_id,
                version_id=previous.version_id,
                version_number=previous.version_number,
                config_hash=previous.config_hash,
                created=False,
            )
        return await self._write_version(
            session,
            config_id=config_id,
            parsed=parsed,
            previous=previous,
            generated_by=generated_by,
            modal_deployment_id=modal_deployment_id,
            embedding=embedding,
        )

    async def _write_version(
        self,
        session: AsyncSession,
        *,
        config_id: uuid.UUID,
        parsed: ParsedConfig,
        previous: Any,
        generated_by: str,
        modal_deployment_id: str | None,
        embedding: Sequence[float] | None,
        candidate: Candidate | None = None,
    ) -> VersionResult:
        """Insert the version and its diff; a candidate leaves the approved version in place."""
        version_id = uuid.uuid4()
        number = 0
        for attempt in range(1, _VERSION_RETRIES + 1):
            number = await repo.next_version_number(session, config_id)
            try:
                async with session.begin_nested():
                    await repo.insert_version(
                        session,
                        version_id=version_id,
                        config_id=config_id,
                        version_number=number,
                        raw_yaml=parsed.raw_yaml,
                        parsed_config=parsed.config,
                        config_hash=parsed.config_hash,
                        generated_by=generated_by,
                        modal_deployment_id=modal_deployment_id,
                        embedding=embedding,
                    )
                break
            except IntegrityError as exc:
                if not _is_unique_violation(exc) or attempt == _VERSION_RETRIES:
                    raise
                log.warning("configs.version_number_conflict", config_id=str(config_id))
        if candidate is None:
            await repo.set_latest_version(session, config_id, version_id)
        diff_id: uuid.UUID | None = None
        if previous is not None:
            diff = compute_diff(
                previous.raw_yaml,
                parsed.raw_yaml,
                previous.parsed_config,
                parsed.config,
                before_label=f"v{previous.version_number}",
                after_label=f"v{number}",
            )
            if diff.truncated:
                log.warning("configs.diff_truncated", config_id=str(config_id))
            diff_id = uuid.uuid4()
            await repo.insert_diff(
                session,
                diff_id=diff_id,
                config_id=config_id,
                version_before=previous.version_id,
                version_after=version_id,
                diff_yaml=diff.diff_yaml,
                change_summary=diff.change_summary,
                llm_generated=generated_by == "llm_recommendation",
                impact_prediction=candidate.impact_prediction if candidate else None,
                requires_approval=candidate is not None,
                recommendation_id=candidate.recommendation_id if candidate else None,
                target_metric=candidate.target_metric if candidate else None,
            )
        log.info(
            "configs.version_created",
            config_id=str(config_id),
            version_id=str(version_id),
            version_number=number,
            generated_by=generated_by,
            candidate=candidate is not None,
        )
        return VersionResult(
            config_id=config_id,
            version_id=version_id,
            version_number=number,
            config_hash=parsed.config_hash,
            created=True,
            diff_id=diff_id,
        )

    @staticmethod
    def _check_generated_by(generated_by: str) -> None:
        if not isinstance(generated_by, str) or generated_by not in GENERATED_BY:
            raise ArcValidationError(
                "generated_by", f"must be one of {', '.join(GENERATED_BY)}", value=generated_by
            )

    async def get_active_config(
        self, session: AsyncSession, name: str, user_id: uuid.UUID
    ) -> dict[str, Any]:
        """The latest version of the tenant's active configuration `name` (seed 002 §8C shape)."""
        user_id = require_uuid(user_id, "user_id")
        name = check_column_text(name, Configuration, "name", required=True) or ""
        row = await repo.active_config(session, user_id, name)
        if row is None:
            raise ArcNotFoundError("configuration", name)
        return {
            "config": row.parsed_config,
            "config_id": row.config_id,
            "version_id": row.version_id,
            "version_number": row.version_number,
            "config_hash": row.config_hash,
            "modal_deployment_id": row.modal_deployment_id,
            "modal_app_id": row.modal_app_id,
        }

    async def get_version(self, session: AsyncSession, version_id: uuid.UUID) -> ConfigVersionInfo:
        version_id = require_uuid(version_id, "version_id")
        row = await repo.get_version(session, version_id)
        if row is None:
            raise ArcNotFoundError("config_version", version_id)
        return _version_info(row)

    async def get_version_history(
        self, session: AsyncSession, config_id: uuid.UUID, *, include_deleted: bool = False
    ) -> list[ConfigVersionInfo]:
        """Versions in ascending version_number order."""
        config_id = require_uuid(config_id, "config_id")
        include_deleted = bool(check_bool(include_deleted, "include_deleted"))
        if await repo.get_configuration(session, config_id) is None:
            raise ArcNotFoundError("configuration", config_id)
        rows = await repo.list_versions(session, config_id, include_deleted=include_deleted)
        return [_version_info(row) for row in rows]

    async def diff_versions(
        self, session: AsyncSession, version_a: uuid.UUID, version_b: uuid.UUID
    ) -> ConfigDiffResult:
        """Diff two stored versions without writing anything."""
        a = await self.get_version(session, version_a)
        b = await self.get_version(session, version_b)
        return compute_diff(
            a.raw_yaml,
            b.raw_yaml,
            a.parsed_config,
            b.parsed_config,
            before_label=f"v{a.version_number}",
            after_label=f"v{b.version_number}",
        )

    async def link_modal_deployment(
        self, session: AsyncSession, version_id: uuid.UUID, modal_deployment_id: str
    ) -> None:
        """Record which Modal deployment runs a version (the only mutable field of a version)."""
        version_id = require_uuid(version_id, "version_id")
        modal_deployment_id = (
            check_column_text(
                modal_deployment_id,
                ConfigVersion,
                "modal_deployment_id",
                required=True,
                min_length=1,
            )
            or ""
        )
        if not await repo.set_modal_deployment(session, version_id, modal_deployment_id):
            raise ArcNotFoundError("config_version", version_id)
        log.info("configs.modal_deployment_linked", version_id=str(version_id))

    async def propose_config_version(
        self,
        session: AsyncSession,
        config_id: uuid.UUID,
        config: str | Mapping[str, Any],
        *,
        generated_by: str = "llm_recommendation",
        candidate: Candidate | None = None,
    ) -> VersionResult:
        """A candidate version: written with a pending diff against the approved version, but
        the configuration keeps returning the approved version until the diff is approved."""
        config_id = require_uuid(config_id, "config_id")
        parsed = parse_config(config)
        self._check_generated_by(generated_by)
        locked = await repo.lock_configuration(session, config_id)
        if locked is None:
            raise ArcNotFoundError("configuration", config_id)
        if not locked.is_active:
            raise ArcValidationError("config_id", "configuration is deactivated", value=config_id)
        if locked.latest_version_id is None:
            raise ArcValidationError("config_id", "has no approved version to change")
        previous = await repo.get_version(session, locked.latest_version_id)
        if previous is not None and previous.config_hash == parsed.config_hash:
            raise ArcValidationError("config", "changes nothing in the approved version")
        return await self._write_version(
            session,
            config_id=config_id,
            parsed=parsed,
            previous=previous,
            generated_by=generated_by,
            modal_deployment_id=None,
            embedding=None,
            candidate=candidate or Candidate(),
        )

    async def record_evaluation(
        self, session: AsyncSession, diff_id: uuid.UUID, evaluation: Mapping[str, Any]
    ) -> None:
        """Store the canary comparison (candidate against baseline) on the diff."""
        diff_id = require_uuid(diff_id, "diff_id")
        if not isinstance(evaluation, Mapping):
            raise ArcValidationError("evaluation", "must be a mapping", value=type(evaluation))
        if not await repo.record_evaluation(session, diff_id, dict(evaluation)):
            raise ArcNotFoundError("config_diff", diff_id)

    async def approve_diff(
        self,
        session: AsyncSession,
        diff_id: uuid.UUID,
        approver: uuid.UUID,
        *,
        force: bool = False,
        reason: str | None = None,
    ) -> Decision:
        """Approve a diff. A candidate's version becomes the approved version, but only when its
        canary comparison shows no significant regression of the target metric and the
        version it changes is still the approved one; `force` (with a reason) overrides the
        regression rule and is recorded. Repeating the decision is a no-op."""
        diff_id, approver = require_uuid(diff_id, "diff_id"), require_uuid(approver, "approver")
        reason = check_text(reason, "reason", max_length=10_000)
        force = bool(check_bool(force, "force"))
        diff = await repo.lock_diff(session, diff_id)
        if diff is None:
            raise ArcNotFoundError("config_diff", diff_id)
        if diff.approval_status == "pending" and diff.requires_approval:
            forced = self._check_gate(diff, force=force, reason=reason)
            config = await repo.lock_configuration(session, diff.config_id)
            if config is None or config.latest_version_id != diff.version_before:
                raise ArcValidationError(
                    "version_before",
                    "is no longer the configuration's approved version: propose the change "
                    "again against the current one",
                    value=str(diff.version_before),
                )
            await repo.set_latest_version(session, diff.config_id, diff.version_after)
            return await self._decide(session, diff, "approved", approver, forced, reason)
        return await self._decide(session, diff, "approved", approver, False, reason)

    async def reject_diff(
        self,
        session: AsyncSession,
        diff_id: uuid.UUID,
        approver: uuid.UUID,
        *,
        reason: str | None = None,
    ) -> Decision:
        """Reject a diff: a candidate's version never goes live; the approved one stays."""
        diff_id, approver = require_uuid(diff_id, "diff_id"), require_uuid(approver, "approver")
        reason = check_text(reason, "reason", max_length=10_000)
        diff = await repo.lock_diff(session, diff_id)
        if diff is None:
            raise ArcNotFoundError("config_diff", diff_id)
        return await self._decide(session, diff, "rejected", approver, False, reason)

    @staticmethod
    def _check_gate(diff: Any, *, force: bool, reason: str | None) -> bool:
        """True when approving needs (and has) `force`; raises when it needs it and lacks it."""
        if force and (not isinstance(reason, str) or not reason.strip()):
            raise ArcValidationError("reason", "is required to force an approval")
        evaluation = diff.evaluation
        if evaluation is None:
            if force:
                return True
            raise ArcValidationError(
                "evaluation",
                "the candidate has not been compared with its baseline yet: evaluate it "
                "(a canary run), or force the approval with a reason",
            )
        summary = evaluation.get("summary") or {}
        metric = str(evaluation.get("metric") or diff.target_metric or "reliability_score")
        regressions = int(summary.get("regressions") or 0)
        broad = overall_direction(evaluation) == "worse"
        if regressions == 0 and not broad:
            return False
        if force:
            return True
        what = (
            f"{regressions} significant scenario regression{'s' if regressions != 1 else ''}"
            if regressions
            else f"a significant overall regression (mean {summary.get('delta'):+.4g}, "
            f"paired p={summary.get('p_value'):.3g})"
        )
        raise ArcValidationError(
            "evaluation",
            f"the canary shows {what} of {metric}: approval refused (force it with a reason "
            "to override)",
            value=regressions,
        )

    async def _decide(
        self,
        session: AsyncSession,
        diff: Any,
        status: str,
        approver: uuid.UUID,
        forced: bool,
        reason: str | None,
    ) -> Decision:
        """A pending diff moves once; repeating the same decision is a no-op, reversing it fails."""
        after = await repo.decide_diff(
            session, diff.diff_id, status, approver, forced=forced, reason=reason
        )
        if after != status:
            raise ArcValidationError(
                "approval_status", f"diff is already {after}", value=str(diff.diff_id)
            )
        config = await repo.get_configuration(session, diff.config_id)
        log.info(
            "configs.diff_decided",
            diff_id=str(diff.diff_id),
            status=status,
            forced=forced,
            candidate=bool(diff.requires_approval),
        )
        return Decision(
            diff_id=diff.diff_id,
            config_id=diff.config_id,
            status=status,
            forced=forced,
            approved_version_id=config.latest_version_id if config else None,
        )

    async def deactivate_configuration(self, session: AsyncSession, config_id: uuid.UUID) -> None:
        """Soft delete: versions stay for audit and for simulations that reference them."""
        config_id = require_uuid(config_id, "config_id")
        if not await repo.deactivate(session, config_id):
            raise ArcNotFoundError("configuration", config_id)
        log.info("configs.deactivated", config_id=str(config_id))

    async def search_configurations(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        model: str | None = None,
        name_contains: str | None = None,
        *,
        include_inactive: bool = False,
        limit: int = 100,
    ) -> list[ConfigurationSummary]:
        """The tenant's configurations, filtered by the latest version's model and by name."""
        user_id = require_uuid(user_id, "user_id")
        model = check_text(model, "model", max_length=200)
        name_contains = check_text(name_contains, "name_contains", max_length=100)
        include_inactive = bool(check_bool(include_inactive, "include_inactive"))
        limit = check_int(limit, "limit", minimum=1, maximum=10_000, required=True) or 100
        rows = await repo.search(
            session,
            user_id,
            model=model,
            name_contains=name_contains,
            include_inactive=include_inactive,
            limit=limit,
        )
        return [
            ConfigurationSummary(
                config_id=row.config_id,
                name=row.name,
                is_active=bool(row.is_active),
                modal_app_id=row.modal_app_id,
                latest_version_id=row.version_id,
                latest_version_number=row.version_number,
                model=(row.parsed_config or {}).get("model"),
                parsed_config=row.parsed_config or {},
            )
            for row in rows
        ]
