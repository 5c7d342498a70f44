"""/stop acts only from the confirmation message the bot sent: the same button data pressed
on any other message (a forged press) is answered "no longer valid" and changes nothing."""

from __future__ import annotations

from checks import db_snapshot, drain, rows, shown
from story import Person, enrolled_client, enrolled_therapist

from bot import callbacks
from bot.offline.standin.models import ChatMessage
from bot.offline.testbed import Testbed
from storage.models import Client


async def _forged_press_changes_nothing(
    bed: Testbed, person: Person, message: ChatMessage, data: str
) -> None:
    """Press data the message does not carry: the usual answer, no row and no message changed."""
    before = await db_snapshot(bed)
    shown_before = (message.text, message.reply_markup)
    answer = await person.press_data(message.message_id, data, strict=False)
    assert answer == shown(bed, "common.button_invalid"), data
    assert await db_snapshot(bed) == before, data
    now = next(m for m in person.messages() if m.message_id == message.message_id)
    assert (now.text, now.reply_markup) == shown_before, f"{data} changed the message"


async def test_a_forged_stop_on_another_message_changes_nothing_and_the_real_one_works(
    bed: Testbed,
) -> None:
    """Alex has an open check-in and asks to leave. The confirmation's own "Yes, leave" and
    "No, stay" data, pressed on the check-in or the welcome message, and the old unbound
    form pressed anywhere, are all refused; the check-in is untouched. Then Alex presses
    "Yes, leave" on the confirmation itself: Alex has left and the therapist is told."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    welcome = alex.last()
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await drain(bed)
    checkin = alex.message_with_buttons()
    assert "felt heard" in (checkin.text or "")

    await alex.command("stop")
    confirmation = alex.last()
    assert confirmation.text == shown(bed, "client.stop_confirm")
    leave = bed.standin.find_button(alex.chat_id, confirmation.message_id, "Yes, leave")
    stay = bed.standin.find_button(alex.chat_id, confirmation.message_id, "No, stay")
    [client] = await rows(bed, Client)
    press = callbacks.parse(leave)
    assert isinstance(press, callbacks.StopPress)
    assert (press.confirm, press.client_id) == (True, client.id)
    someone_else = callbacks.stop(True, (client.id or 0) + 1, press.issued_minute)

    for message in (checkin, welcome):
        for data in (leave, stay, "sy", "sn"):
            await _forged_press_changes_nothing(bed, alex, message, data)
    for data in ("sy", "sn", someone_else):
        await _forged_press_changes_nothing(bed, alex, confirmation, data)
    assert alex.message_with_buttons().message_id == confirmation.message_id
    [client] = await rows(bed, Client)
    assert client.status == "active"

    assert await alex.press("Yes, leave", confirmation) == ""
    assert alex.last_text() == shown(bed, "client.stopped")
    [client] = await rows(bed, Client)
    assert client.status == "stopped"
    await drain(bed)
    assert ada.last_text() == shown(bed, "therapist.client_left", alias="alex")


async def test_a_confirmation_from_before_joining_again_no_longer_works(bed: Testbed) -> None:
    """Alex asked twice and left with the first confirmation. Invited again, Alex joins;
    the second, older confirmation is still in the chat, but pressing it now is refused."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("stop")
    first = alex.last()
    await alex.command("stop")
    second = alex.last()
    await alex.press("Yes, leave", first)
    [edited] = [m for m in alex.messages() if m.message_id == first.message_id]
    assert edited.text == shown(bed, "client.stopped")
    assert second.reply_markup, "the second confirmation still shows its buttons"

    await bed.advance(minutes=5)
    await ada.command("invite", "alex")
    await alex.command("start", ada.link_token())
    await alex.press("✅")
    [client] = await rows(bed, Client)
    assert client.status == "active"

    before = await db_snapshot(bed)
    answer = await alex.press("Yes, leave", second)
    assert answer == shown(bed, "common.button_invalid")
    assert await db_snapshot(bed) == before

    await alex.command("stop")
    await alex.press("No, stay")
    assert alex.last_text() == shown(bed, "client.stop_cancelled")
    [client] = await rows(bed, Client)
    assert client.status == "active"
