"""Who may do what: a matrix over every therapist and client command and every button kind.

Two therapists, Ada and Bo, each with one client who has answered a check-in with a note.
Ada tries to reach Bo's client by every command and every kind of button; clients try the
therapists' commands; therapists try the clients'; a stranger tries everything. Each refused
attempt must change no row (bookkeeping aside), leave no audit entry, reveal nothing of the
other side, and every button press must be answered.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from privacy_db import snapshot
from sqlmodel import col, select
from story import Person, answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot import callbacks
from bot.offline.testbed import Testbed
from bot.practice.enrolment import PRIVACY_NOTICE_VERSION
from bot.privacy import rights
from storage.models import AuditEvent, CheckIn, Client, TherapySession

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

THERAPIST_ONLY = [
    ("invite", "newcomer"),
    ("session", "alex"),
    ("schedule", "alex", "monday", "10:00"),
    ("digest",),
    ("clients",),
    ("client", "alex"),
    ("export",),
    ("rate", "on"),
    ("timezone", "Europe/Berlin"),
    ("digesttime", "monday", "08:00"),
]
CLIENT_ONLY = [("pause",), ("resume",), ("stop",), ("mydata",), ("delete",)]


@dataclass
class Practice:
    """Two therapists with one client each, and everything the buttons need."""

    ada: Person
    alex: Person
    bo: Person
    bob: Person
    bob_id: int
    bob_checkin_id: int
    bob_session_id: int


async def _practice(bed: Testbed) -> Practice:
    ada = await enrolled_therapist(bed, "Dr. Ada Example")
    alex = await enrolled_client(bed, ada, "alex")
    bo = await enrolled_therapist(bed, "Dr. Bo Sample")
    bob = await enrolled_client(bed, bo, "bob")
    await ada.command("session", "alex")
    await bo.command("session", "bob")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No")
    await alex.says("ALEX-NOTE about the homework")
    await answer_checkin(bob, "2", "2", "2", "2", "A lot", "No")
    await bob.says("BOB-NOTE about feeling unheard")
    await bo.command("session", "bob")  # one more check-in, scheduled
    async with bed.services.db.session() as session:
        client = (await session.exec(select(Client).where(Client.alias == "bob"))).one()
        checkin = (
            await session.exec(
                select(CheckIn).where(CheckIn.client_id == client.id).order_by(col(CheckIn.id))
            )
        ).first()
        meeting = (
            await session.exec(select(TherapySession).where(TherapySession.client_id == client.id))
        ).first()
    assert checkin is not None and meeting is not None
    return Practice(ada, alex, bo, bob, client.id or 0, checkin.id or 0, meeting.id or 0)


async def _audit_count(bed: Testbed) -> int:
    async with bed.services.db.session() as session:
        return len((await session.exec(select(AuditEvent))).all())


def _everything_shown(person: Person, since: int) -> str:
    """All text, captions and documents the bot has shown this person since a point."""
    parts = []
    for message in person.messages()[since:]:
        parts += [message.text or "", message.caption or ""]
        if message.document:
            parts.append(message.document.decode("utf-8", "replace"))
    return "\n".join(parts)


async def test_therapist_a_cannot_reach_therapist_bs_client(bed: Testbed) -> None:
    """Ada lists, reads, exports, records, schedules and invites: Bob never appears and
    none of Bo's rows change."""
    p = await _practice(bed)
    attempts = [
        ("clients",),
        ("digest",),
        ("client", "bob"),
        ("export",),
        ("session", "bob"),
        ("schedule", "bob", "monday", "10:00"),
        ("schedule", "bob", "off"),
    ]
    for attempt in attempts:
        before = await snapshot(bed.services.db)
        seen = len(p.ada.messages())
        await p.ada.command(*attempt)
        shown = _everything_shown(p.ada, seen)
        assert "BOB-NOTE" not in shown and "bob (" not in shown, attempt
        assert "<b>bob</b>" not in (p.ada.last().html or ""), attempt
        if attempt[0] in ("session", "schedule", "client"):
            assert "no client called bob" in shown, attempt
        assert await snapshot(bed.services.db) == before, attempt

    # Ada may use the alias "bob" for her own new client; Bo's Bob is untouched.
    async with bed.services.db.session() as session:
        bobs_before = (await session.exec(select(Client).where(Client.id == p.bob_id))).one()
    await p.ada.command("invite", "bob")
    async with bed.services.db.session() as session:
        bobs = (await session.exec(select(Client).where(Client.alias == "bob"))).all()
    assert len(bobs) == 2
    assert next(b for b in bobs if b.id == p.bob_id) == bobs_before


async def test_buttons_of_another_person_change_nothing(bed: Testbed) -> None:
    """Forged, replayed and other people's button data, pressed by a therapist, a client and
    a stranger: every press answered, no row changed."""
    p = await _practice(bed)
    stranger = new_person(bed, "Kim")
    await stranger.says("hello")
    minute = rights.minute_of(bed.clock.now())
    forged = [
        callbacks.answer(p.bob_checkin_id, "bond", 5),  # Bob's check-in
        callbacks.answer(p.bob_checkin_id, "comment", None),
        callbacks.rating(p.bob_session_id, 3),  # Bo's session rating
        callbacks.erase(True, p.bob_id, minute),  # Bob's erasure
        callbacks.notice(True, PRIVACY_NOTICE_VERSION),
        callbacks.notice(False, PRIVACY_NOTICE_VERSION),
        callbacks.consent(True, "A" * 43),  # an invitation that does not exist
        callbacks.stop(True, p.bob_id, minute),  # Bob's leaving
        callbacks.language("xx"),
        "a:1:bond:99",
        "garbage",
        "",
    ]
    audits = await _audit_count(bed)
    for presser in (p.ada, p.alex, stranger):
        target = presser.messages()[-1].message_id
        for data in forged:
            before = await snapshot(bed.services.db)
            await presser.press_data(target, data, strict=False)  # asserts it was answered
            after = await snapshot(bed.services.db)
            assert after == before, (presser.user.first_name, data)
    assert await _audit_count(bed) == audits

    # Bob replays his own answered question: answered, nothing changes.
    before = await snapshot(bed.services.db)
    answer = await p.bob.press_data(
        p.bob.messages()[-1].message_id, callbacks.answer(p.bob_checkin_id, "bond", 1), strict=False
    )
    assert "Already answered" in answer or "closed" in answer or "doesn't work" in answer
    assert await snapshot(bed.services.db) == before


async def test_clients_cannot_use_therapist_commands(bed: Testbed) -> None:
    """Every therapist command from a client: a short refusal and no change."""
    p = await _practice(bed)
    audits = await _audit_count(bed)
    for command in THERAPIST_ONLY:
        before = await snapshot(bed.services.db)
        seen = len(p.alex.messages())
        await p.alex.command(*command)
        shown = _everything_shown(p.alex, seen)
        assert "That command is for therapists" in shown, command
        assert "BOB-NOTE" not in shown and "ALEX-NOTE" not in shown, command
        assert await snapshot(bed.services.db) == before, command
    assert await _audit_count(bed) == audits


async def test_therapists_cannot_use_client_commands(bed: Testbed) -> None:
    """Every client command from a therapist: a short refusal and no change."""
    p = await _practice(bed)
    for command in CLIENT_ONLY:
        before = await snapshot(bed.services.db)
        await p.ada.command(*command)
        assert "That command is for clients" in p.ada.last_text(), command
        assert await snapshot(bed.services.db) == before, command


async def test_a_stranger_gets_the_same_short_answer_to_everything(bed: Testbed) -> None:
    """Someone not enrolled: one generic reply to every command, nothing stored."""
    p = await _practice(bed)
    stranger = new_person(bed, "Kim")
    replies = set()
    for command in [*THERAPIST_ONLY, *CLIENT_ONLY, ("privacy",), ("help",), ("start",)]:
        before = await snapshot(bed.services.db)
        await stranger.command(*command)
        replies.add(stranger.last_text())
        assert await snapshot(bed.services.db) == before, command
    assert len(replies) == 1 and "invitation links" in replies.pop()
    _ = p
