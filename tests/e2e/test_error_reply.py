"""During a storage fault each update gets one error reply, and it says to send it again.

python-telegram-bot calls the error handler once per handler group that fails; with the
database down the duplicate guard, the command and the finishing mark all fail. The
person must hear about it once, and must not be told that nothing was lost when the
/pause or the tap was not stored.
"""

from __future__ import annotations

from checks import rows, shown
from story import Person, enrolled_client, enrolled_therapist

from bot.offline.testbed import Testbed
from storage.db import Database, is_sqlite
from storage.models import Client

ERROR_MARK = "went wrong on my side"


def _unreachable_like(url: str) -> str:
    """A database URL of the same kind that cannot be opened."""
    if is_sqlite(url):
        return "sqlite+aiosqlite:////nonexistent-directory/alliance.db"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"


def error_replies(person: Person, since: int) -> list[str]:
    """The error replies the person got after the first ``since`` messages."""
    return [m.text or "" for m in person.messages()[since:] if ERROR_MARK in (m.text or "")]


async def _with_storage_down(bed: Testbed, action: object) -> None:
    """Run an awaitable with the database swapped for one that cannot be reached."""
    healthy = bed.services.db
    broken = Database(_unreachable_like(bed.database_url))
    bed.services.db = broken
    try:
        await action  # type: ignore[misc]
    finally:
        bed.services.db = healthy
        await broken.dispose()


async def test_a_command_during_a_storage_fault_gets_one_honest_reply(bed: Testbed) -> None:
    """/pause with the database down: one reply, saying to send it again; sent again once
    the database is back, it works."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    before = len(alex.messages())
    await _with_storage_down(bed, alex.command("pause"))
    assert error_replies(alex, before) == [shown(bed, "common.error")]
    assert "send it again" in shown(bed, "common.error")
    assert "lost" not in shown(bed, "common.error")
    [client] = await rows(bed, Client)
    assert client.status == "active", "the /pause was not stored, as the reply says"

    await alex.command("pause")
    assert alex.last_text() == shown(bed, "client.pause_done")
    [client] = await rows(bed, Client)
    assert client.status == "paused"


async def test_a_tap_during_a_storage_fault_gets_one_reply(bed: Testbed) -> None:
    """A language tap with the database down: one error reply, nothing changed."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("language")
    message = alex.message_with_buttons()
    data = bed.standin.find_button(alex.chat_id, message.message_id, "Español")
    before = len(alex.messages())

    async def tap() -> None:
        update = bed.standin.press(alex.user, message.message_id, data)
        await bed.settled(update["update_id"])

    await _with_storage_down(bed, tap())
    assert len(error_replies(alex, before)) == 1
    [client] = await rows(bed, Client)
    assert client.locale == "en"


async def test_text_during_a_storage_fault_gets_one_reply_in_spanish_too(bed: Testbed) -> None:
    """A Spanish speaker's message with the database down: one reply, in Spanish."""
    ada = await enrolled_therapist(bed)
    sofia = await enrolled_client(bed, ada, "sofia", language="es")
    before = len(sofia.messages())
    await _with_storage_down(bed, sofia.says("hola, una pregunta"))
    replies = [m.text or "" for m in sofia.messages()[before:]]
    assert replies == [shown(bed, "common.error", "es")]
