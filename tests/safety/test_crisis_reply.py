"""Risk language in any free text: an immediate crisis reply, then the therapist's alert."""

from __future__ import annotations

from sqlmodel import select
from story import answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot.offline.testbed import Testbed
from storage.models import Alert, OutboxMessage


async def test_a_stray_message_with_risk_gets_resources_and_alerts_the_therapist(
    bed: Testbed,
) -> None:
    """Alex writes between check-ins; the crisis reply comes first, the therapist is alerted
    with Alex's words, and Alex is told the therapist knows."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    before = len(alex.messages())

    await alex.says("i just want to die tonight")

    replies = alex.messages()[before:]
    assert "nobody reads this chat in real time" in (replies[0].text or "")
    assert "112" in (replies[0].text or "")
    assert any("sent your therapist a message" in (m.text or "") for m in replies[1:])
    assert not any("won't see this message" in (m.text or "") for m in replies)
    alert = therapist.last_text()
    assert "alex" in alert and "i just want to die tonight" in alert
    async with bed.services.db.session() as session:
        alerts = (await session.exec(select(Alert))).all()
        assert [(a.kind, a.dedupe_key.startswith("risk:")) for a in alerts] == [("risk", True)]
        rows = (await session.exec(select(OutboxMessage))).all()
        assert [r.status for r in rows if r.kind == "alert"] == ["sent"]
        assert [r.status for r in rows if r.dedupe_key.startswith("risk-told:")] == ["sent"]


async def test_a_risky_comment_is_stored_and_alerted(bed: Testbed) -> None:
    """A check-in comment with method language: saved as the comment, and alerted at once."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No")
    await alex.says("saving up my pills 💊")
    texts = [m.text or "" for m in alex.messages()]
    assert any("nobody reads this chat in real time" in t for t in texts)
    assert any("note is saved" in t for t in texts)
    assert "check-in note" in therapist.last_text()


async def test_an_unknown_person_gets_the_crisis_reply_and_nothing_is_stored(
    bed: Testbed,
) -> None:
    """Someone not enrolled writes risk language: resources, no generic brush-off, no rows."""
    stranger = new_person(bed, "Kim", "es")
    await stranger.says("me quiero morir")
    texts = [m.text or "" for m in stranger.messages()]
    assert len(texts) == 1
    assert "nadie lee este chat en tiempo real" in texts[0] and "024" in texts[0]
    async with bed.services.db.session() as session:
        assert (await session.exec(select(Alert))).all() == []


async def test_an_edited_message_is_checked_too(bed: Testbed) -> None:
    """A harmless message edited into a risky one triggers the reply and one alert."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await alex.says("all fine")
    sent = [m for m in bed.standin.messages(alex.chat_id) if not m.from_bot][-1]
    update = bed.standin.edit_text(alex.user, sent.message_id, "actually I want to end my life")
    await bed.settled(update["update_id"])
    assert "nobody reads this chat in real time" in (alex.messages()[-2].text or "")
    assert "edited a message" in therapist.last_text()
