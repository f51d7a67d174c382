"""`new_id`: the ids of new rows are random version 4 UUIDs, made as asyncpg's C UUID."""

import uuid

from arc.database.core.checks import check_uuid
from arc.database.repositories.base import new_id


def test_new_ids_are_random_version_4_uuids() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for made in ids[:500]:
        assert isinstance(made, uuid.UUID)
        assert made.version == 4
        assert made.variant == uuid.RFC_4122
        assert uuid.UUID(str(made)) == made
        assert hash(uuid.UUID(str(made))) == hash(made)
    # Every bit outside the version and variant varies.
    fixed = (0xF000 << 64) | (0xC000 << 48)
    varying = 0
    for made in ids:
        varying |= made.int ^ ids[0].int
    assert varying == ((1 << 128) - 1) & ~fixed


def test_parsed_ids_equal_the_standard_ones() -> None:
    text = str(uuid.uuid4())
    parsed = check_uuid(text, "id")
    assert parsed == uuid.UUID(text)
    assert {uuid.UUID(text): 1}[parsed] == 1
    assert str(parsed) == text
    assert check_uuid(text.upper(), "id") == parsed
    assert check_uuid("{" + text + "}", "id") == parsed
