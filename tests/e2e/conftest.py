"""A running bot per test: the real Application against the stand-in, on each database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.testbed import Testbed

# A Tuesday morning in June (no DST change nearby): 09:00 in Berlin.
START = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
async def bed(database_url: str) -> AsyncIterator[Testbed]:
    """A started testbed; the stand-in must end the test without internal errors."""
    testbed = Testbed(database_url, start=START)
    await testbed.start()
    try:
        yield testbed
    finally:
        errors = testbed.standin.internal_errors
        await testbed.stop()
        assert not errors, errors
