"""ConfigurationManager against a real database: versions, dedup, diffs, review, search."""

import asyncio
import uuid

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.configs.manager import ConfigurationManager
from arc.database.core.engine import session_factory
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.models import ConfigDiff, Configuration, ConfigVersion

BASE = "model: gpt-4o\ntemperature: 0.2\ntools:\n  search:\n    timeout: 30\n"

manager = ConfigurationManager()


def _name() -> str:
    return f"cfg {uuid.uuid4().hex[:10]}"


async def test_create_configuration_and_first_version(session: AsyncSession) -> None:
    user = uuid.uuid4()
    created = await manager.create_configuration(session, user, _name(), BASE, modal_app_id="ap-1")
    assert created.created
    assert created.version_number == 1
    assert created.diff_id is None
    row = (
        await session.execute(
            select(Configuration).where(Configuration.config_id == created.config_id)
        )
    ).scalar_one()
    assert row.latest_version_id == created.version_id
    assert row.modal_app_id == "ap-1"
    version = await manager.get_version(session, created.version_id)
    assert version.raw_yaml == BASE
    assert version.parsed_config["tools"]["search"]["timeout"] == 30
    assert version.generated_by == "api"


async def test_new_version_writes_diff_and_moves_latest(session: AsyncSession) -> None:
    user = uuid.uuid4()
    first = await manager.create_configuration(session, user, _name(), BASE)
    changed = BASE.replace("gpt-4o", "gpt-4o-mini").replace("30", "60") + "max_tokens: 512\n"
    second = await manager.create_config_version(
        session, first.config_id, changed, generated_by="modal_sandbox", modal_deployment_id="dep-9"
    )
    assert second.created
    assert second.version_number == 2
    assert second.diff_id is not None
    diff = (
        await session.execute(select(ConfigDiff).where(ConfigDiff.diff_id == second.diff_id))
    ).scalar_one()
    assert (diff.version_before, diff.version_after) == (first.version_id, second.version_id)
    assert "-model: gpt-4o\n" in diff.diff_yaml
    assert "+model: gpt-4o-mini\n" in diff.diff_yaml
    assert diff.change_summary == {
        "added": {"max_tokens": 512},
        "removed": {},
        "changed": {
            "model": {"before": "gpt-4o", "after": "gpt-4o-mini"},
            "tools.search.timeout": {"before": 30, "after": 60},
        },
    }
    assert diff.approval_status == "pending"
    assert diff.llm_generated is False
    latest = await manager.get_active_config(
        session, (await _config_name(session, first.config_id)), user
    )
    assert latest["version_id"] == second.version_id
    assert latest["modal_deployment_id"] == "dep-9"
    assert latest["config"]["model"] == "gpt-4o-mini"


async def _config_name(session: AsyncSession, config_id: uuid.UUID) -> str:
    return str(
        (
            await session.execute(
                select(Configuration.name).where(Configuration.config_id == config_id)
            )
        ).scalar_one()
    )


async def test_dedup_is_per_configuration_and_against_latest(session: AsyncSession) -> None:
    user = uuid.uuid4()
    a = await manager.create_configuration(session, user, _name(), BASE)
    same = await manager.create_config_version(
        session,
        a.config_id,
        "# reformatted\ntemperature: 0.2\nmodel: gpt-4o\ntools: {search: {timeout: 30}}\n",
    )
    assert not same.created
    assert same.version_id == a.version_id
    # Another tenant with identical content gets its own version (no cross-tenant lookup).
    b = await manager.create_configuration(session, uuid.uuid4(), _name(), BASE)
    assert b.version_id != a.version_id
    assert b.config_hash == a.config_hash
    # A revert to older content is a new version, so latest moves forward.
    v2 = await manager.create_config_version(session, a.config_id, BASE.replace("0.2", "0.3"))
    v3 = await manager.create_config_version(session, a.config_id, BASE)
    assert (v2.version_number, v3.version_number) == (2, 3)
    assert v3.created
    history = await manager.get_version_history(session, a.config_id)
    assert [v.version_number for v in history] == [1, 2, 3]
    assert history[0].config_hash == history[2].config_hash


async def test_invalid_input_writes_nothing(session: AsyncSession) -> None:
    user = uuid.uuid4()
    with pytest.raises(ArcValidationError) as info:
        await manager.create_configuration(session, user, _name(), "model: m\ntemperature: 3\n")
    assert info.value.field == "temperature"
    with pytest.raises(ArcValidationError) as info:
        await manager.create_configuration(session, user, "bad/name!", BASE)
    assert info.value.field == "name"
    count = await session.execute(
        select(func.count()).select_from(Configuration).where(Configuration.user_id == user)
    )
    assert count.scalar_one() == 0
    created = await manager.create_configuration(session, user, _name(), BASE)
    with pytest.raises(ArcValidationError) as info:
        await manager.create_config_version(session, created.config_id, "model: m\n")
    assert info.value.field == "temperature"
    with pytest.raises(ArcValidationError) as info:
        await manager.create_config_version(session, created.config_id, BASE, generated_by="robot")
    assert info.value.field == "generated_by"
    with pytest.raises(ArcValidationError) as info:
        await manager.create_config_version(
            session, created.config_id, BASE + "x: 1\n", embedding=[0.1] * 3
        )
    assert info.value.field == "embedding"
    with pytest.raises(ArcNotFoundError):
        await manager.create_config_version(session, uuid.uuid4(), BASE)
    assert len(await manager.get_version_history(session, created.config_id)) == 1


async def test_duplicate_active_name_refused_per_tenant(session: AsyncSession) -> None:
    user, name = uuid.uuid4(), _name()
    first = await manager.create_configuration(session, user, name, BASE)
    with pytest.raises(ArcValidationError) as info:
        await manager.create_configuration(session, user, name, BASE)
    assert info.value.field == "name"
    await manager.create_configuration(session, uuid.uuid4(), name, BASE)  # other tenant: fine
    await manager.deactivate_configuration(session, first.config_id)
    with pytest.raises(ArcNotFoundError):
        await manager.get_active_config(session, name, user)
    with pytest.raises(ArcValidationError):
        await manager.create_config_version(session, first.config_id, BASE + "x: 1\n")
    again = await manager.create_configuration(session, user, name, BASE)
    assert (await manager.get_active_config(session, name, user))["config_id"] == again.config_id


async def test_get_active_config_is_tenant_scoped(session: AsyncSession) -> None:
    name = _name()
    await manager.create_configuration(session, uuid.uuid4(), name, BASE)
    with pytest.raises(ArcNotFoundError):
        await manager.get_active_config(session, name, uuid.uuid4())


async def test_diff_versions_computes_without_storing(session: AsyncSession) -> None:
    first = await manager.create_configuration(session, uuid.uuid4(), _name(), BASE)
    second = await manager.create_config_version(session, first.config_id, BASE + "top_p: 0.9\n")
    before = (
        await session.execute(
            select(func.count())
            .select_from(ConfigDiff)
            .where(ConfigDiff.config_id == first.config_id)
        )
    ).scalar_one()
    diff = await manager.diff_versions(session, second.version_id, first.version_id)
    assert diff.change_summary["removed"] == {"top_p": 0.9}
    assert "-top_p: 0.9\n" in diff.diff_yaml
    after = (
        await session.execute(
            select(func.count())
            .select_from(ConfigDiff)
            .where(ConfigDiff.config_id == first.config_id)
        )
    ).scalar_one()
    assert before == after == 1


async def test_approve_and_reject(session: AsyncSession) -> None:
    first = await manager.create_configuration(session, uuid.uuid4(), _name(), BASE)
    second = await manager.create_config_version(session, first.config_id, BASE + "a: 1\n")
    third = await manager.create_config_version(session, first.config_id, BASE + "a: 2\n")
    approver = uuid.uuid4()
    assert second.diff_id
    assert third.diff_id
    await manager.approve_diff(session, second.diff_id, approver)
    await manager.approve_diff(session, second.diff_id, approver)  # same decision: no-op
    with pytest.raises(ArcValidationError) as info:
        await manager.reject_diff(session, second.diff_id, approver)
    assert info.value.field == "approval_status"
    await manager.reject_diff(session, third.diff_id, approver)
    rows = dict(
        (
            await session.execute(
                select(ConfigDiff.diff_id, ConfigDiff.approval_status).where(
                    ConfigDiff.config_id == first.config_id
                )
            )
        ).all()
    )
    assert rows == {second.diff_id: "approved", third.diff_id: "rejected"}
    with pytest.raises(ArcNotFoundError):
        await manager.approve_diff(session, uuid.uuid4(), approver)


async def test_search_and_modal_link(session: AsyncSession) -> None:
    user = uuid.uuid4()
    tag = uuid.uuid4().hex[:6]
    a = await manager.create_configuration(session, user, f"search_{tag}_alpha", BASE)
    await manager.create_configuration(
        session, user, f"search_{tag}_beta", BASE.replace("gpt-4o", "claude")
    )
    await manager.create_configuration(
        session, user, f"other {tag}", BASE.replace("gpt-4o", "claude")
    )
    by_model = await manager.search_configurations(session, user, model="claude")
    assert sorted(c.name for c in by_model) == sorted([f"search_{tag}_beta", f"other {tag}"])
    by_name = await manager.search_configurations(session, user, name_contains=f"{tag}_")
    assert sorted(c.name for c in by_name) == [f"search_{tag}_alpha", f"search_{tag}_beta"]
    # '_' is matched literally, not as a LIKE wildcard
    assert await manager.search_configurations(session, user, name_contains=f"{tag}_x") == []
    assert await manager.search_configurations(session, uuid.uuid4(), model="claude") == []
    await manager.link_modal_deployment(session, a.version_id, "dep-42")
    assert (await manager.get_version(session, a.version_id)).modal_deployment_id == "dep-42"
    await manager.deactivate_configuration(session, a.config_id)
    assert [
        c.name for c in await manager.search_configurations(session, user, name_contains="alpha")
    ] == []
    inactive = await manager.search_configurations(
        session, user, name_contains="alpha", include_inactive=True
    )
    assert [c.is_active for c in inactive] == [False]


async def test_concurrent_versions_get_distinct_numbers(engine: AsyncEngine) -> None:
    """Eight writers in eight transactions: numbers 1..9 without gaps, one diff each."""
    factory = session_factory(engine)
    async with factory.begin() as s:
        first = await manager.create_configuration(s, uuid.uuid4(), _name(), BASE)
    try:

        async def write(i: int) -> int:
            async with factory.begin() as s:
                result = await manager.create_config_version(s, first.config_id, BASE + f"n: {i}\n")
                return result.version_number

        numbers = await asyncio.gather(*(write(i) for i in range(8)))
        assert sorted(numbers) == list(range(2, 10))
        async with factory() as s:
            latest = (
                await s.execute(
                    select(Configuration.latest_version_id).where(
                        Configuration.config_id == first.config_id
                    )
                )
            ).scalar_one()
            top = (
                await s.execute(
                    select(ConfigVersion.version_id)
                    .where(ConfigVersion.config_id == first.config_id)
                    .order_by(ConfigVersion.version_number.desc())
                    .limit(1)
                )
            ).scalar_one()
            assert latest == top
            diffs = (
                await s.execute(
                    select(ConfigDiff.version_before, ConfigDiff.version_after).where(
                        ConfigDiff.config_id == first.config_id
                    )
                )
            ).all()
            assert len(diffs) == 8
            # the diffs chain: every version but the first is the 'after' of exactly one diff
            assert len({d.version_after for d in diffs}) == 8
            numbers_by_id = dict(
                (
                    await s.execute(
                        select(ConfigVersion.version_id, ConfigVersion.version_number).where(
                            ConfigVersion.config_id == first.config_id
                        )
                    )
                ).all()
            )
            for d in diffs:
                assert numbers_by_id[d.version_after] - numbers_by_id[d.version_before] == 1
    finally:
        async with factory.begin() as s:
            await s.execute(text("SET LOCAL lock_timeout = '5s'"))
            await s.execute(delete(Configuration).where(Configuration.config_id == first.config_id))
