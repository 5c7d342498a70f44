"""The tap's own reads and writes of answers (storage.repo.answer_values / add_answer).

The busiest path of the bot reads a check-in's answers as plain columns and stores a new
one with a plain INSERT instead of through ORM objects; what they read and write must be
exactly what the ORM path did, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage import repo
from storage.db import Database
from storage.models import Answer, CheckIn, Client, Therapist, TherapySession
from storage.states import CheckinState, ClientState

NOW = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)


async def _checkin(db: Database) -> int:
    """One therapist, client, session and check-in (invented); the check-in's id."""
    async with db.session() as session:
        therapist = Therapist(
            telegram_user_id=1, chat_id=1, name="Dr. Invented", timezone="UTC", created_at=NOW
        )
        session.add(therapist)
        await session.flush()
        client = Client(
            therapist_id=therapist.id or 0,
            alias="robin",
            alias_key="robin",
            status=ClientState.ACTIVE,
            created_at=NOW,
        )
        session.add(client)
        await session.flush()
        sitting = TherapySession(
            client_id=client.id or 0, ended_at=NOW, source="manual", created_at=NOW
        )
        session.add(sitting)
        await session.flush()
        checkin = CheckIn(
            client_id=client.id or 0,
            session_id=sitting.id or 0,
            instrument_id="alliance-default",
            sequence=1,
            items="bond,goals,comment",
            status=CheckinState.SENT,
            due_at=NOW,
        )
        session.add(checkin)
        await session.flush()
        return checkin.id or 0


async def test_answers_are_stored_and_read_back_in_the_order_given(database_url: str) -> None:
    db = Database(database_url)
    try:
        checkin_id = await _checkin(db)
        async with db.session() as session:
            assert await repo.answer_values(session, checkin_id) == {}
            await repo.add_answer(
                session, checkin_id=checkin_id, item_id="goals", value=3, answered_at=NOW
            )
            await repo.add_answer(
                session,
                checkin_id=checkin_id,
                item_id="bond",
                value=None,
                answered_at=NOW + timedelta(seconds=5),
            )
        async with db.session() as session:
            values = await repo.answer_values(session, checkin_id)
            rows = (await session.exec(select(Answer).order_by(Answer.id))).all()  # type: ignore[arg-type]
        assert list(values.items()) == [("goals", 3), ("bond", None)]
        assert [(r.item_id, r.value, r.skipped, r.answered_at) for r in rows] == [
            ("goals", 3, False, NOW),
            ("bond", None, True, NOW + timedelta(seconds=5)),
        ]
        assert values == {a.item_id: a.value for a in rows}  # what answers_of gave
    finally:
        await db.dispose()


async def test_a_second_answer_to_the_same_item_is_refused_and_the_first_kept(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        checkin_id = await _checkin(db)
        async with db.session() as session:
            await repo.add_answer(
                session, checkin_id=checkin_id, item_id="bond", value=4, answered_at=NOW
            )
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                await repo.add_answer(
                    session, checkin_id=checkin_id, item_id="bond", value=1, answered_at=NOW
                )
        async with db.session() as session:
            assert await repo.answer_values(session, checkin_id) == {"bond": 4}
    finally:
        await db.dispose()
