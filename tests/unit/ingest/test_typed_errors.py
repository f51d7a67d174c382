"""typed_errors (a class since the write path wraps every row in it) behaves as before."""

import asyncio

import pytest

from arc.database.core.errors import ArcIntegrityError, ArcValidationError
from arc.database.ingest.bundle import typed_errors


def test_an_unexpected_error_becomes_a_typed_one_naming_the_field() -> None:
    with pytest.raises(ArcValidationError) as exc, typed_errors("outcome", 7):
        raise ValueError("odd")
    assert (exc.value.field, exc.value.index) == ("outcome", 7)
    assert exc.value.rule == "could not be processed (ValueError: odd)"
    assert isinstance(exc.value.__cause__, ValueError)


def test_typed_errors_and_cancellation_pass_through() -> None:
    refusal = ArcIntegrityError("simulation_id", "refers to a completed simulation")
    with pytest.raises(ArcIntegrityError) as exc, typed_errors("outcome", 1):
        raise refusal
    assert exc.value is refusal
    with pytest.raises(asyncio.CancelledError), typed_errors("outcome"):
        raise asyncio.CancelledError
    with typed_errors("outcome"):
        value = 1
    assert value == 1
