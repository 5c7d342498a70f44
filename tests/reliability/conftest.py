"""Fixtures for the reliability tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rig import START, Rig, paced_bot, rig_services

from bot.clock import ManualClock
from bot.offline.standin import BotAPIStandIn
from storage.crypto import generate_key


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    """Services, a started stand-in and a fast-paced bot; all closed afterwards."""
    clock = ManualClock(START)
    services = rig_services(database_url, clock, generate_key(), send_max_attempts=3)
    async with BotAPIStandIn() as standin:
        bot = await paced_bot(standin)
        try:
            yield Rig(services, standin, bot, clock)
        finally:
            await bot.shutdown()
            await services.db.dispose()
        assert not standin.internal_errors, standin.internal_errors
