"""Outcomes finishing together are written together: one statement per kind for the batch.

The sender's outcome writes and the check-in hooks run one statement with many parameter
sets (executemany). A statement SQLAlchemy cannot run that way (an ``IN (…)`` list is an
"expanding" parameter) makes every batch fail and fall back to one write per row: the
results stay right, only many times slower, so nothing but these tests and the dispatch
benchmark would notice. That happened once (bench/dispatch.py: 1.2 → 6 ms of CPU a message).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from rig import START, Rig
from sqlmodel import col, select

from bot.checkins.lifecycle import on_sent, on_unreachable
from bot.sending.sender import Delivered, Sender, _Result
from storage.models import CheckIn, Client, OutboxMessage, Therapist, TherapySession, alias_key
from storage.states import CheckinState, ClientState, OutboxState

FALLBACK = "writing them one by one"


async def _people_with_checkins(rig: Rig, count: int, status: CheckinState) -> list[CheckIn]:
    """``count`` clients of one therapist, each with one check-in in ``status``."""
    made: list[CheckIn] = []
    async with rig.services.db.session() as session:
        therapist = Therapist(
            telegram_user_id=7000 + count,
            chat_id=7000 + count,
            name="Dr. Example",
            created_at=START,
        )
        session.add(therapist)
        await session.flush()
        for n in range(count):
            user = rig.user(7100 + n + (50 if status is CheckinState.SENT else 0))
            client = Client(
                therapist_id=therapist.id or 0,
                alias=f"c{user}",
                alias_key=alias_key(f"c{user}"),
                telegram_user_id=user,
                chat_id=user,
                status=ClientState.ACTIVE,
                created_at=START,
            )
            session.add(client)
            await session.flush()
            meeting = TherapySession(client_id=client.id or 0, ended_at=START, created_at=START)
            session.add(meeting)
            await session.flush()
            checkin = CheckIn(
                client_id=client.id or 0,
                session_id=meeting.id or 0,
                instrument_id="alliance-default",
                sequence=1,
                items="bond_heard",
                status=status,
                due_at=START,
                chat_id=user if status is CheckinState.SENT else None,
                message_id=1 if status is CheckinState.SENT else None,
            )
            session.add(checkin)
            await session.flush()
            made.append(checkin)
    return made


async def test_the_hooks_of_several_sent_checkins_and_reminders_run_as_one_batch(
    rig: Rig,
) -> None:
    """Three first sends and two reminders delivered in one batch: every check-in records
    where its message now lives, in one call (which raised before, for any batch of two)."""
    fresh = await _people_with_checkins(rig, 3, CheckinState.QUEUED)
    reminded = await _people_with_checkins(rig, 2, CheckinState.SENT)
    rows = [
        OutboxMessage(
            id=n,
            kind="checkin" if checkin in fresh else "reminder",
            chat_id=checkin.chat_id or 7100 + n,
            dedupe_key=f"k{n}",
            payload_ciphertext=b"",
            checkin_id=checkin.id,
            not_before=START,
            created_at=START,
        )
        for n, checkin in enumerate(fresh + reminded)
    ]
    delivered = [Delivered(row, 500 + n, row.chat_id) for n, row in enumerate(rows)]
    async with rig.services.db.session() as session:
        await on_sent(session, delivered, START)

    async with rig.services.db.session() as session:
        stored = {
            c.id: c for c in (await session.exec(select(CheckIn).order_by(col(CheckIn.id)))).all()
        }
    for n, checkin in enumerate(fresh):
        assert checkin.id is not None
        now = stored[checkin.id]
        assert (now.status, now.message_id, now.sent_at) == (CheckinState.SENT, 500 + n, START)
    for n, checkin in enumerate(reminded, start=len(fresh)):
        assert checkin.id is not None
        now = stored[checkin.id]
        assert (now.status, now.message_id) == (CheckinState.SENT, 500 + n), "the reminder's"


async def test_outcomes_finishing_together_are_written_in_one_batch_not_one_by_one(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Six claimed rows finish at once, three sent and three to retry: they are written as
    one batch (no fall-back to one write per row is logged) and each row ends as it should."""
    people = [rig.user(7300 + n) for n in range(6)]
    for chat in people:
        await rig.queue(chat, "hello")
    worker = Sender(rig.services, rig.bot, on_sent=on_sent, on_unreachable=on_unreachable)
    claimed = await worker.claim(10)
    assert len(claimed) == 6
    retry_at = START + timedelta(seconds=30)

    def outcome(n: int, row: OutboxMessage) -> _Result:
        if n % 2 == 0:
            return _Result(row.id or 0, "sent", message_id=900 + n, chat_id=row.chat_id)
        return _Result(row.id or 0, "retry", error="bad gateway", not_before=retry_at)

    with caplog.at_level(logging.WARNING, logger="bot.sending.sender"):
        await asyncio.gather(
            *(worker._record(row, outcome(n, row)) for n, row in enumerate(claimed))
        )
    assert FALLBACK not in caplog.text

    async with rig.services.db.session() as session:
        stored = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    ends = [(r.status, r.message_id, r.attempts, r.lease_owner is None) for r in stored]
    assert ends == [
        (OutboxState.SENT, 900, 1, False),
        (OutboxState.PENDING, None, 1, True),
        (OutboxState.SENT, 902, 1, False),
        (OutboxState.PENDING, None, 1, True),
        (OutboxState.SENT, 904, 1, False),
        (OutboxState.PENDING, None, 1, True),
    ]
    assert all(r.not_before == retry_at for r in stored if r.status is OutboxState.PENDING)


async def test_a_batch_that_fails_is_written_row_by_row_and_says_so(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """If a batch write ever fails as a whole, its rows are still written one by one, and
    the warning names the exception's class only (never its message, which may hold SQL
    parameters)."""
    people = [rig.user(7400 + n) for n in range(3)]
    for chat in people:
        await rig.queue(chat, "hello")
    worker = Sender(rig.services, rig.bot, on_sent=on_sent, on_unreachable=on_unreachable)
    claimed = await worker.claim(10)
    real_write = worker._write_results

    async def refuse_batches(done: list[_Result]) -> list[None]:
        if len(done) > 1:
            raise RuntimeError("secret parameter 4711")
        return await real_write(done)

    worker._results._write = refuse_batches
    with caplog.at_level(logging.WARNING, logger="bot.sending.sender"):
        await asyncio.gather(
            *(
                worker._record(row, _Result(row.id or 0, "sent", message_id=1, chat_id=row.chat_id))
                for row in claimed
            )
        )
    assert f"a batch of 3 writes failed (RuntimeError); {FALLBACK}" in caplog.text
    assert "4711" not in caplog.text
    async with rig.services.db.session() as session:
        stored = (await session.exec(select(OutboxMessage))).all()
    assert {r.status for r in stored} == {OutboxState.SENT}
