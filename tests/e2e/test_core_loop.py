"""The core loop as stories: enrol, invite, consent, record a session, check in, digest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from story import answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot.offline.testbed import Testbed
from storage.models import Answer, CheckIn, Client


@pytest.fixture
def testbed_options() -> dict[str, Any]:
    """These stories run at Telegram's real per-chat pace (about one message a second, a
    burst of three), as the outbox paces them. The other stories run at a fast pace
    (story.FAST_PACE), since pacing is not what they check."""
    return {}


async def test_the_whole_loop_from_invitation_to_digest(bed: Testbed) -> None:
    """A therapist enrols, invites Alex, Alex agrees, a session ends, the check-in arrives
    an hour later, Alex answers every question, and /digest lists the answers."""
    therapist = await enrolled_therapist(bed, "Dr. Ada Example")

    await therapist.command("invite", "alex")
    assert f"https://t.me/{bed.standin.bot_username}?start=" in therapist.last_text()

    alex = new_person(bed, "Alex")
    await alex.command("start", therapist.link_token())
    welcome = alex.last()
    assert "Dr. Ada Example" in (welcome.text or "")
    assert "not end-to-end encrypted" in (welcome.text or "")
    assert "not watched in real time" in (welcome.text or "")
    assert any("I agree" in text for text in welcome.button_texts)
    await alex.press("✅ I agree")
    assert "all set" in alex.last_text()

    await therapist.command("session", "alex")
    assert "recorded" in therapist.last_text()

    report = await bed.advance(minutes=59)
    assert report.queued == 0, "nothing is due before CHECKIN_DELAY_MINUTES"
    report = await bed.advance(minutes=1)
    assert report.queued == 1 and report.sent == 1

    checkin = alex.last()
    assert "felt heard" in (checkin.text or "")
    assert [t[0] for t in checkin.button_texts] == ["5", "4", "3", "2", "1"]

    await answer_checkin(alex, "4", "5", "4", "3")
    assert alex.last().message_id == checkin.message_id, "one message, edited in place"
    assert alex.last().button_texts == ["No", "A little", "A lot"]
    await alex.press("A little")
    assert alex.last().button_texts == ["Yes", "Partly", "No"]
    await alex.press("Yes")
    assert any("Skip" in b for b in alex.last().button_texts)
    await alex.says("The pace was good today.")
    assert alex.last_text().startswith("Thank you")
    checkin_after = next(m for m in alex.messages() if m.message_id == checkin.message_id)
    assert (checkin_after.text or "").startswith("Thank you!")
    assert not checkin_after.reply_markup

    await therapist.command("digest")
    triage = therapist.message_with_buttons()
    assert "alex · " in (triage.text or "")
    await therapist.press("🗣 alex", triage)
    digest = "\n".join(m.text or "" for m in therapist.messages()[-2:])
    # Openness 3 in the first check-in: early low answers call for a conversation.
    assert "Openness: could say what they really think: 3/5 in check-in 1" in digest
    assert "talked through: a good sign" in digest

    async with bed.services.db.session() as session:
        answers = (await session.exec(select(Answer))).all()
        assert len(answers) == 7
        comment = next(a for a in answers if a.item_id == "comment")
        assert comment.text_ciphertext is not None
        assert b"pace" not in comment.text_ciphertext


async def test_a_restart_mid_checkin_resumes_without_loss_or_duplicates(bed: Testbed) -> None:
    """Alex answers two questions, the bot restarts, the next press continues where Alex was."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "5", "4")

    await bed.restart()
    report = await bed.tick()
    assert report.sent == 0, "nothing is sent twice after a restart"
    sent_checkins = [m for m in alex.messages() if "About today's session" in (m.text or "")]
    assert len(sent_checkins) == 1

    await answer_checkin(alex, "3", "4", "No", "Skip")
    assert alex.last_text().startswith("Thank you")
    async with bed.services.db.session() as session:
        values = {a.item_id: a.value for a in (await session.exec(select(Answer))).all()}
    assert values == {
        "bond": 5,
        "goals": 4,
        "tasks": 3,
        "openness": 4,
        "tension": 0,
        "comment": None,
    }


async def test_declining_leaves_nothing_but_the_used_invitation(bed: Testbed) -> None:
    """Sam declines: no Telegram identity is stored, and the link cannot be used again."""
    therapist = await enrolled_therapist(bed)
    await therapist.command("invite", "sam")
    token = therapist.link_token()
    sam = new_person(bed, "Sam")
    await sam.command("start", token)
    await sam.press("No, thank you")
    assert "nothing about you has been stored" in sam.last_text()

    async with bed.services.db.session() as session:
        client = (await session.exec(select(Client).where(Client.alias == "sam"))).one()
        assert client.telegram_user_id is None and client.chat_id is None
        assert client.consent_at is None and client.status == "declined"

    await sam.command("start", token)
    assert "invitation links" in sam.last_text()


async def test_a_reminder_once_then_expiry_keeps_partial_answers(bed: Testbed) -> None:
    """Unanswered for 24 h: one reminder; at 72 h the check-in closes; answers given stay."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "2")

    report = await bed.advance(hours=24)
    assert report.reminders == 1
    reminder = alex.last()
    assert "gentle reminder" in (reminder.text or "")
    assert "work on what matters" in (reminder.text or "") or "worked on what matters" in (
        reminder.text or ""
    )
    assert (await bed.advance(hours=1)).reminders == 0, "only one reminder"

    old = alex.messages()[-2]
    answer = await alex.press_data(old.message_id, old.buttons[0].data or "")
    assert "newer message" in answer

    report = await bed.advance(hours=48)
    assert report.expired == 1
    answer = await alex.press("5")
    assert "closed" in answer
    async with bed.services.db.session() as session:
        checkin = (await session.exec(select(CheckIn))).one()
        assert checkin.status == "expired"
        assert [a.item_id for a in (await session.exec(select(Answer))).all()] == ["bond"]


async def test_quiet_hours_hold_a_checkin_until_morning(bed: Testbed) -> None:
    """A session ending at 20:30 Berlin time: the check-in waits until 08:00 the next day."""
    therapist = await enrolled_therapist(bed)
    await therapist.command("timezone", "Europe/Berlin")
    alex = await enrolled_client(bed, therapist, "alex")
    # 07:00 UTC start; move to 18:30 UTC = 20:30 Berlin (CEST).
    bed.clock.advance(hours=11, minutes=30)
    await therapist.command("session", "alex")
    assert (await bed.advance(minutes=60)).queued == 0  # 21:30 local: quiet
    assert (await bed.advance(hours=10)).queued == 0  # 07:30 local
    report = await bed.advance(minutes=30)  # 08:00 local
    assert report.queued == 1
    assert bed.clock.now().astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).hour == 8
    assert "felt heard" in alex.last_text()
    _ = timedelta
