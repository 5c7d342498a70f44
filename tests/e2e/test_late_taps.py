"""Taps handled late: Telegram no longer takes the tap's answer, the action happens anyway.

Telegram accepts ``answerCallbackQuery`` for about fifteen seconds. A tap handled later
(after a restart, behind a backlog) gets "query is too old" from that call. The bot
acts first and answers the tap through one tolerant helper, so /stop, /delete, consent,
language and rating buttons still do what was asked and show it, with no error reply.
"""

from __future__ import annotations

from checks import rows, shown
from sqlmodel import select
from story import Person, enrolled_client, enrolled_therapist, new_person

from bot.offline.standin.world import QUERY_TOO_OLD
from bot.offline.testbed import Testbed
from storage.models import Client, SessionRating

ERROR_REPLY = "went wrong on my side"


async def late_press(bed: Testbed, person: Person, button_text: str) -> str:
    """Tap a button of the newest message with buttons, answered too late; returns the query id."""
    message = person.message_with_buttons()
    data = bed.standin.find_button(person.chat_id, message.message_id, button_text)
    bed.standin.fail_next("answerCallbackQuery", error_code=400, description=QUERY_TOO_OLD)
    update = bed.standin.press(person.user, message.message_id, data)
    await bed.settled(update["update_id"])
    query_id: str = update["callback_query"]["id"]
    assert query_id not in bed.standin.callback_answers, "the answer really came too late"
    return query_id


def no_error_reply(person: Person) -> None:
    """Nobody was told that something failed."""
    assert not [m for m in person.messages() if ERROR_REPLY in (m.text or "")]


async def test_a_late_yes_leave_still_stops_the_client(bed: Testbed) -> None:
    """/stop, "Yes, leave" handled late: Alex has left, sees it, and the therapist is told."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("stop")
    await late_press(bed, alex, "Yes, leave")
    assert alex.last_text() == shown(bed, "client.stopped")
    [client] = await rows(bed, Client)
    assert client.status == "stopped"
    no_error_reply(alex)


async def test_a_late_delete_confirmation_still_erases(bed: Testbed) -> None:
    """/delete, confirmed late: everything is erased and Alex is shown so."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("delete")
    await late_press(bed, alex, "🗑")
    assert "everything this bot stored about you is erased" in alex.last_text()
    assert await rows(bed, Client) == []
    no_error_reply(alex)


async def test_a_late_consent_still_enrols(bed: Testbed) -> None:
    """The invitation's "I agree" handled late: Alex is enrolled and welcomed."""
    ada = await enrolled_therapist(bed)
    await ada.command("invite", "alex")
    alex = new_person(bed, "Alex")
    await alex.command("start", ada.link_token())
    await late_press(bed, alex, "✅")
    assert alex.last_text() == shown(bed, "client.consent_agreed")
    [client] = await rows(bed, Client)
    assert client.status == "active" and client.telegram_user_id == alex.user.id
    no_error_reply(alex)


async def test_a_late_language_choice_still_switches(bed: Testbed) -> None:
    """/language, "Español" handled late: the language is switched and said in Spanish."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("language")
    await late_press(bed, alex, "Español")
    assert alex.last_text() == shown(bed, "language.set", "es")
    [client] = await rows(bed, Client)
    assert client.locale == "es"
    no_error_reply(alex)


async def test_a_late_rating_is_still_stored(bed: Testbed) -> None:
    """The therapist's one-tap session rating handled late: stored and shown."""
    ada = await enrolled_therapist(bed)
    await enrolled_client(bed, ada, "alex")
    await ada.command("rate", "on")
    await ada.command("session", "alex")
    await bed.tick()
    prompt = ada.message_with_buttons()
    assert "Your view of the session" in (prompt.text or "")
    await late_press(bed, ada, prompt.buttons[3].text)
    async with bed.services.db.session() as session:
        [rating] = (await session.exec(select(SessionRating))).all()
    assert rating.value == 4
    assert "Your view of the session" not in ada.last_text()
    no_error_reply(ada)
