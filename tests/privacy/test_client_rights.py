"""A client's rights as stories: a copy of their data, erasure, renewed consent, retention."""

from __future__ import annotations

import json

import pytest
from privacy_db import decrypted_outbox_texts, references_to_client, snapshot
from sqlmodel import select
from story import Person, answer_checkin, enrolled_client, enrolled_therapist

from bot import callbacks
from bot.offline.testbed import Testbed
from bot.practice.enrolment import PRIVACY_NOTICE_VERSION
from bot.privacy import rights
from storage.models import AuditEvent, CheckIn, Client, OutboxMessage

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOTE = "Quokka-note: the homework felt rushed"


async def _client_with_history(bed: Testbed) -> tuple[Person, Person, int]:
    """Ada's client Alex: one answered check-in with a note, a weekly session, one pending."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("schedule", "alex", "friday", "10:00")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "3", "4", "4", "A little", "Partly")
    await alex.says(NOTE)
    bed.clock.advance(days=2)
    await therapist.command("session", "alex")  # a check-in still waiting to be sent
    async with bed.services.db.session() as session:
        client = (await session.exec(select(Client).where(Client.alias == "alex"))).one()
    return therapist, alex, client.id or 0


async def test_mydata_sends_everything_stored_as_one_json_file(bed: Testbed) -> None:
    """/mydata: a JSON document with the answers, the note in plain words, the sessions."""
    _therapist, alex, client_id = await _client_with_history(bed)
    await alex.command("mydata")
    document, summary = alex.messages()[-2:]  # the file, then a few readable lines
    assert "In short, the file holds" in (summary.text or "")
    assert document.kind == "document" and document.filename == "my-data.json"
    assert "Telegram keeps its own copy" in (document.caption or "")
    data = json.loads(document.document or b"")
    assert data["client"]["alias"] == "alex"
    assert data["client"]["consent_notice_version"] == PRIVACY_NOTICE_VERSION
    assert len(data["sessions"]) == 2 and data["weekly_session"]["weekday"] == 4
    answers = {a["question_id"]: a for a in data["checkins"][0]["answers"]}
    assert answers["bond"]["value"] == 4 and answers["bond"]["question"]
    assert answers["comment"]["text"] == NOTE
    async with bed.services.db.session() as session:
        events = (await session.exec(select(AuditEvent))).all()
    export = [e for e in events if e.action == "client_export"]
    assert [(e.actor_kind, e.client_id) for e in export] == [("client", client_id)]
    assert all("Quokka" not in (e.detail or "") for e in events)


async def test_delete_erases_every_row_and_tells_the_therapist(bed: Testbed) -> None:
    """/delete, confirmed: no table refers to Alex any more, the note is gone everywhere,
    the therapist hears that Alex left, and Alex is a stranger to the bot."""
    therapist, alex, client_id = await _client_with_history(bed)
    await alex.command("delete")
    confirm = alex.last()
    assert "Telegram keeps its own copy" in (confirm.text or "")
    await alex.press("🗑")
    assert "everything this bot stored about you is erased" in alex.last_text()
    assert "Telegram still keeps its own copy" in alex.last_text()
    await bed.tick()
    assert "alex" in therapist.last_text() and "erased their data" in therapist.last_text()
    await bed.tick()  # delivered text is wiped on the following pass

    db, cipher = bed.services.db, bed.services.cipher
    assert await references_to_client(db, client_id) == {"audit_event.client_id": 1}
    texts = await decrypted_outbox_texts(db, cipher)
    assert not any("Quokka" in text or "alex" in text for text in texts)
    async with db.session() as session:
        event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "erase"))).one()
        assert (event.actor_kind, event.client_id) == ("client", client_id)
        assert event.detail is not None and "alex" not in event.detail

    await alex.command("mydata")
    assert "invitation links" in alex.last_text(), "after erasure Alex is unknown"
    old_button = confirm.buttons[0].data or ""
    answer = await alex.press_data(confirm.message_id, old_button, strict=False)
    assert "doesn't work" in answer


async def test_keeping_the_data_changes_nothing(bed: Testbed) -> None:
    """/delete, then "No, keep it": every row is as it was."""
    _therapist, alex, _client_id = await _client_with_history(bed)
    before = await snapshot(bed.services.db)
    await alex.command("delete")
    await alex.press("No, keep it")
    assert "Nothing has been erased" in alex.last_text()
    assert await snapshot(bed.services.db) == before


async def test_a_stale_or_foreign_erase_button_erases_nothing(bed: Testbed) -> None:
    """Pressed an hour later, replayed with another client's id, or pressed by someone
    else: the data stays."""
    therapist, alex, client_id = await _client_with_history(bed)
    sam = await enrolled_client(bed, therapist, "sam")
    await alex.command("delete")
    confirm = alex.last()
    bed.clock.advance(hours=1)
    before = await snapshot(bed.services.db)
    answer = await alex.press("🗑")
    assert "expired" in answer
    assert await snapshot(bed.services.db) == before

    # Sam forges Alex's confirmation on a message in Sam's own chat; then Alex replays
    # Sam's fresh confirmation on Alex's confirmation message.
    now = rights.minute_of(bed.clock.now())
    forged = callbacks.erase(True, client_id, now)
    assert "doesn't work" in await sam.press_data(sam.last().message_id, forged, strict=False)
    await sam.command("delete")
    theirs = sam.last().buttons[0].data or ""
    assert "doesn't work" in await alex.press_data(confirm.message_id, theirs, strict=False)
    assert await snapshot(bed.services.db) == before


async def test_a_new_privacy_notice_is_agreed_before_the_next_checkin(bed: Testbed) -> None:
    """Alex agreed to an older notice: the next check-in waits until Alex agrees again."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    async with bed.services.db.session() as session:
        client = (await session.exec(select(Client))).one()
        client.consent_version = PRIVACY_NOTICE_VERSION - 1
    await therapist.command("session", "alex")
    report = await bed.advance(minutes=60)
    assert report.queued == 0
    notice = alex.last()
    assert "privacy notice has changed" in (notice.text or "")
    assert "/mydata" in (notice.text or "") and "/delete" in (notice.text or "")
    assert (await bed.advance(minutes=5)).sent == 0, "asked once"

    await alex.press("✅")
    assert "carry on" in alex.last_text()
    async with bed.services.db.session() as session:
        client = (await session.exec(select(Client))).one()
        assert client.consent_version == PRIVACY_NOTICE_VERSION
        assert client.consent_at == bed.clock.now()
    assert (await bed.tick()).queued == 1
    assert "felt heard" in alex.last_text()
    assert "Already done" in await alex.press_data(
        notice.message_id, callbacks.notice(True, PRIVACY_NOTICE_VERSION), strict=False
    )


async def test_declining_a_new_notice_stops_the_checkins(bed: Testbed) -> None:
    """Alex declines the new notice: no check-in is sent, and Alex has left."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    async with bed.services.db.session() as session:
        (await session.exec(select(Client))).one().consent_version = PRIVACY_NOTICE_VERSION - 1
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await alex.press("No, stop")
    assert "/delete erases it" in alex.last_text()
    await bed.advance(minutes=5)
    async with bed.services.db.session() as session:
        assert (await session.exec(select(Client))).one().status == "stopped"
        assert {c.status for c in (await session.exec(select(CheckIn))).all()} <= {
            "cancelled",
            "expired",
        }


async def test_retention_erases_a_client_who_left_long_ago(bed: Testbed) -> None:
    """Alex leaves; twelve months later (RETENTION_MONTHS) everything about Alex is erased.
    Sam, still taking part, is untouched."""
    therapist, alex, client_id = await _client_with_history(bed)
    await enrolled_client(bed, therapist, "sam")
    await alex.command("stop")
    await alex.press("Yes, leave")
    await bed.advance(days=360)
    assert await references_to_client(bed.services.db, client_id) != {}
    await bed.advance(days=10)
    assert await references_to_client(bed.services.db, client_id) == {"audit_event.client_id": 1}
    async with bed.services.db.session() as session:
        aliases = [c.alias for c in (await session.exec(select(Client))).all()]
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "erase_retention"))
        ).one()
    assert aliases == ["sam"]
    assert event.actor_kind == "system"
    await bed.tick()
    assert any("retention period" in (m.text or "") for m in therapist.messages())


async def test_delivered_messages_keep_no_text(bed: Testbed) -> None:
    """Once Telegram has a message, the outbox keeps only that it was sent, not its words."""
    therapist = await enrolled_therapist(bed)
    await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await bed.tick()
    async with bed.services.db.session() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert rows and all(r.status != "sent" or r.payload_ciphertext == b"" for r in rows)
