"""The update inbox in one process (bot.inbox): the testbed polls through it, as
`alliance-checkin run` does. Real Application, database and stand-in; the kill -9 case
with real processes is tests/reliability/test_update_inbox.py."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from checks import rows, shown
from story import answer_checkin, enrolled_client, enrolled_therapist

from bot.offline.testbed import Testbed
from storage.crypto import inbox_payload_context as payload_context
from storage.db import Database, is_sqlite
from storage.models import Answer, InboxUpdate, ProcessedUpdate


@pytest.fixture
def testbed_options(testbed_options: dict[str, Any]) -> dict[str, Any]:
    """The usual options, polling through the inbox."""
    return testbed_options | {"inbox": True}


def _unreachable_like(url: str) -> str:
    """A database URL of the same kind that cannot be opened."""
    if is_sqlite(url):
        return "sqlite+aiosqlite:////nonexistent-directory/alliance.db"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"


async def test_a_checkin_through_the_inbox_leaves_only_empty_finished_rows(bed: Testbed) -> None:
    """Enrolment, a session and a check-in answered: every update went through the inbox,
    was marked finished and keeps no content."""
    assert bed.inbox is not None
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No")
    assert len(await rows(bed, Answer)) == 5
    await bed.stop(keep_standin=True)  # records the last finished updates
    await bed.restart()
    inbox = await rows(bed, InboxUpdate)
    assert len(inbox) >= 8
    assert all(r.finished_at is not None and r.payload_ciphertext is None for r in inbox)


async def test_an_update_sent_again_after_it_was_written_down_is_handled_once(
    bed: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram sends a risk message again (the process died before confirming it): the
    inbox knows it, so not even the crisis reply — which comes before the duplicate
    guard — is repeated; the person's next message is handled as usual."""
    caplog.set_level(logging.INFO, logger="bot.inbox")
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    update = bed.standin.send_text(alex.user, "I have the pills ready, I want to end my life")
    await bed.settled(update["update_id"])
    bed.standin.inject_update(update)  # the same update_id again
    await alex.says("thank you")  # the same person's next update: handled after the copy
    crisis = [m for m in alex.messages() if "nobody reads this chat in real time" in (m.text or "")]
    assert len(crisis) == 1
    assert "sent again by Telegram were already in the inbox" in caplog.text


async def test_with_the_database_down_a_polled_batch_is_still_handled(
    bed: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """The inbox cannot be written: the batch is handled from memory (the crisis reply
    comes) and a warning says it would not have survived a crash."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    healthy = bed.services.db
    broken = Database(_unreachable_like(bed.database_url))
    bed.services.db = broken
    before = len(alex.messages())
    try:
        await alex.says("I have the pills ready, I want to end my life")
    finally:
        bed.services.db = healthy
        await broken.dispose()
    assert "nobody reads this chat in real time" in (alex.messages()[before].text or "")
    assert "handling them from memory" in caplog.text
    assert "pills" not in caplog.text


async def test_a_restart_handles_what_a_stopped_process_left_in_the_inbox(
    bed: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """A process wrote /help down, took it (the duplicate guard's claim) and was killed.
    The next start takes it over at once — not two minutes later — and answers it."""
    ada = await enrolled_therapist(bed)
    await bed.stop(keep_standin=True)
    update = bed.standin.send_command(ada.user, "help")
    raw = json.dumps(update)
    update_id = update["update_id"]
    # The stopped process wrote the update down and took it; Telegram will send it again
    # too (it was never confirmed): the inbox knows that copy.
    cipher, clock = bed.services.cipher, bed.clock
    db = Database(bed.database_url)
    try:
        async with db.session() as session:
            session.add(
                InboxUpdate(
                    update_id=update_id,
                    received_at=clock.now(),
                    payload_ciphertext=cipher.encrypt(raw, context=payload_context(update_id)),
                )
            )
            session.add(
                ProcessedUpdate(
                    update_id=update_id, processed_at=clock.now() - timedelta(seconds=5)
                )
            )
    finally:
        await db.dispose()
    before = len(ada.messages())
    await bed.restart()
    await bed.settled(update_id)
    # The /help sent before the crash is answered now (its text, then the /source line).
    assert (ada.messages()[before:][0].text or "").startswith(shown(bed, "therapist.help"))
    assert "1 update(s) left unhandled by a stopped process" in caplog.text
    assert f"update {update_id} left unfinished by a stopped worker; taken over" in caplog.text
