"""A running bot per test, as in the end-to-end stories (whose helpers these tests share)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.testbed import Testbed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "privacy"))

# A Tuesday morning in June: 09:00 in Berlin.
START = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
async def bed(database_url: str) -> AsyncIterator[Testbed]:
    """A started testbed; the stand-in must end the test without internal errors."""
    # Telegram's per-chat pace (about one message a second) is the outbox's business and
    # tested there; here it would only make every story wait.
    testbed = Testbed(database_url, start=START, send_rate_per_chat=30, send_burst_per_chat=20)
    await testbed.start()
    try:
        yield testbed
    finally:
        errors = testbed.standin.internal_errors
        await testbed.stop()
        assert not errors, errors
