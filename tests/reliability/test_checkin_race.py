"""A press that lands while the check-in is between "sent by Telegram" and "marked sent"."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rig import START
from sqlmodel import select

from bot import outbox
from bot.testbed import Testbed
from storage.models import Answer, CheckIn

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from story import answer_checkin, enrolled_client, enrolled_therapist  # noqa: E402


@pytest.fixture
async def bed(database_url: str) -> AsyncIterator[Testbed]:
    """A started testbed."""
    testbed = Testbed(database_url, start=START)
    await testbed.start()
    try:
        yield testbed
    finally:
        await testbed.stop()


async def test_a_press_before_the_send_is_recorded_still_counts(
    bed: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check-in reaches Alex, who taps "4" before the outbox has written down the
    message id: the answer is stored, the message moves on, and the rest works."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    original = outbox.Sender._write_results
    pressed: list[str] = []

    async def press_first(self: outbox.Sender, results: list[Any]) -> list[None]:
        if not pressed and any(r.outcome == "sent" for r in results):
            assert bed.services is not None
            async with bed.services.db.session() as session:
                checkin = (await session.exec(select(CheckIn))).one()
                assert checkin.message_id is None and checkin.status == "queued"
            pressed.append(await alex.press("4"))
        return await original(self, results)

    monkeypatch.setattr(outbox.Sender, "_write_results", press_first)
    report = await bed.advance(minutes=60)
    assert report.queued == 1 and pressed and "saved" in pressed[0].lower()

    await answer_checkin(alex, "5", "4", "3", "No", "Skip")
    assert alex.last_text().startswith("Thank you")
    assert bed.services is not None
    async with bed.services.db.session() as session:
        checkin = (await session.exec(select(CheckIn))).one()
        assert checkin.status == "completed" and checkin.message_id is not None
        assert len((await session.exec(select(Answer))).all()) == 6
