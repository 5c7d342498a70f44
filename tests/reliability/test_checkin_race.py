"""A press that lands while the check-in is between "sent by Telegram" and "marked sent"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from rig import START
from sqlmodel import select
from story import Person, answer_checkin, enrolled_client, enrolled_therapist, story_testbed

from bot.checkins.conversation import close_checkins
from bot.checkins.lifecycle import new_sender
from bot.offline.testbed import Testbed
from bot.practice import sessions as practice
from bot.sending.sender import Delivered, OutboxRow, Sender
from storage import repo
from storage.models import Answer, CheckIn, Client
from storage.states import CheckinState, ClientState


@pytest.fixture
async def bed(database_url: str) -> AsyncIterator[Testbed]:
    """A started testbed at the fast pace (story.FAST_PACE): the races here are between
    the outbox's writes and the client's taps, not Telegram's pace. Each hook waits for
    the check-in's own delivery: another message sent in the same round (the therapist's
    notice) may be written down first, whatever the pace."""
    async with story_testbed(database_url, START) as testbed:
        yield testbed


def _sent_checkin(outcome: str, row: OutboxRow | None) -> bool:
    """Whether a written-down outcome is the check-in's own delivery."""
    return outcome == "sent" and row is not None and row.kind == "checkin"


async def test_a_press_before_the_send_is_recorded_still_counts(
    bed: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check-in reaches Alex, who taps "4" before the outbox has written down the
    message id: the answer is stored, the message moves on, and the rest works."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    original = Sender._write_results
    pressed: list[str] = []

    async def press_first(self: Sender, results: list[Any]) -> list[None]:
        if not pressed and any(_sent_checkin(r.outcome, r.row) for r in results):
            async with bed.services.db.session() as session:
                checkin = (await session.exec(select(CheckIn))).one()
                assert checkin.message_id is None and checkin.status == "queued"
            pressed.append(await alex.press("4"))
        return await original(self, results)

    monkeypatch.setattr(Sender, "_write_results", press_first)
    # The process's one sender is built with the application: build it again, patched.
    assert bed.services is not None and bed.app is not None
    new_sender(bed.services, bed.app.bot)
    report = await bed.advance(minutes=60)
    assert report.queued == 1 and pressed and "saved" in pressed[0].lower()

    await answer_checkin(alex, "5", "4", "3", "No", "Skip")
    assert alex.last_text().startswith("Thank you")
    async with bed.services.db.session() as session:
        checkin = (await session.exec(select(CheckIn))).one()
        assert checkin.status == "completed" and checkin.message_id is not None
        assert len((await session.exec(select(Answer))).all()) == 6


async def test_a_checkin_finished_before_its_send_is_recorded_stays_completed(
    bed: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alex answers every question in the moment between Telegram accepting the check-in
    and the outbox writing that down: the late marking does not turn the completed check-in
    back into "sent", and it still records when it went out and as which message."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    assert bed.services is not None
    sender = bed.services.sender
    assert isinstance(sender, Sender)
    original = sender.on_sent
    finished: list[bool] = []

    async def finish_first(session: Any, delivered: list[Delivered], now: Any) -> None:
        if not finished and any(_sent_checkin("sent", d.row) for d in delivered):
            finished.append(True)
            await answer_checkin(alex, "4", "5", "4", "3", "No", "Skip")
        await original(session, delivered, now)

    monkeypatch.setattr(sender, "on_sent", finish_first)
    sent_at = bed.clock.now() + timedelta(minutes=60)
    report = await bed.advance(minutes=60)
    assert report.queued == 1 and finished
    assert alex.last_text().startswith("Thank you")
    (shown,) = [m for m in alex.messages() if (m.text or "").startswith("Thank you!")]
    async with bed.services.db.session() as session:
        checkin = (await session.exec(select(CheckIn))).one()
    assert checkin.status == "completed" and checkin.closed_at == sent_at
    assert checkin.message_id == shown.message_id and checkin.chat_id == alex.chat_id
    assert checkin.sent_at == sent_at, "the digest counts it as sent"


async def _checkin_on_screen(bed: Testbed) -> Person:
    """A client (Alex) whose check-in has gone out."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    return alex


async def test_a_tap_on_a_checkin_closed_in_the_same_moment_stores_nothing(
    bed: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alex taps while the check-in is being closed (Alex pauses from another device in
    the same moment): the tap read the check-in as open, but the closing wins, the answer
    is not stored, the check-in stays cancelled and the tap is told it closed."""
    alex = await _checkin_on_screen(bed)
    services = bed.services
    original = repo.answer_values  # what a tap reads between the check-in and its write
    closed: list[bool] = []

    async def close_meanwhile(session: Any, checkin_id: int) -> Any:
        if not closed:  # after the tap read the check-in, before it writes
            closed.append(True)
            async with services.db.session() as other:
                client = (await other.exec(select(Client))).one()
            assert (
                await practice.set_client_status(services, client.id or 0, ClientState.PAUSED)
                == "done"
            )
        return await original(session, checkin_id)

    monkeypatch.setattr(repo, "answer_values", close_meanwhile)
    text = await alex.press("4")
    assert closed and text == "This check-in has closed. Thank you anyway!"
    async with services.db.session() as session:
        checkin = (await session.exec(select(CheckIn))).one()
        assert checkin.status == "cancelled"
        assert (await session.exec(select(Answer))).all() == []


async def test_closing_a_checkin_completed_since_it_was_read_keeps_it_completed(
    bed: Testbed,
) -> None:
    """A check-in read as open and closed a moment later, after the client completed it
    in between: it stays completed."""
    alex = await _checkin_on_screen(bed)
    services = bed.services
    async with services.db.session() as session:
        stale = (await session.exec(select(CheckIn))).one()
        assert stale.status in repo.OPEN_CHECKIN
        await answer_checkin(alex, "5", "4", "3", "2", "No", "Skip")
        await close_checkins(session, [stale], CheckinState.EXPIRED, bed.clock.now())
    async with services.db.session() as session:
        checkin = (await session.exec(select(CheckIn))).one()
        assert checkin.status == "completed"
