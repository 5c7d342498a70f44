"""What each person finds in their "/" menu, and what a client gets back: /myanswers, /mydata."""

from __future__ import annotations

from story import answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot.handlers.menus import CLIENT_COMMANDS, THERAPIST_COMMANDS
from bot.offline.testbed import Testbed

THERAPIST_ONLY = set(THERAPIST_COMMANDS) - set(CLIENT_COMMANDS)


async def test_clients_see_client_commands_and_therapists_their_own(bed: Testbed) -> None:
    """The default menu has no therapist command; a therapist's chat shows theirs from the
    moment they register, in their language, and again after a restart."""
    standin = bed.standin
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    lucia = await enrolled_client(bed, therapist, "lucia", "es")
    stranger = new_person(bed, "Sky", "de")

    for person in (alex, lucia, stranger):
        menu = standin.menu_for(person.chat_id, person.user.language_code or "")
        assert "myanswers" in menu and "pause" in menu
        assert not THERAPIST_ONLY & set(menu), f"therapist commands in a client's menu: {menu}"
    assert standin.menu_for(therapist.chat_id, "en") == list(THERAPIST_COMMANDS)
    spanish = standin.commands(scope={"type": "default"}, language_code="es")
    assert any(c["command"] == "pause" and "Pausar" in c["description"] for c in spanish)

    await therapist.command("language")
    await therapist.press("Deutsch")
    described = standin.commands(scope={"type": "chat", "chat_id": therapist.chat_id})
    assert next(c for c in described if c["command"] == "invite")["description"].startswith(
        "Therapeut"
    )

    # A menu lost on Telegram's side is set again when the bot starts.
    standin._world.commands.clear()  # noqa: SLF001 - a lost menu, as Telegram would forget it
    await bed.restart()
    assert standin.menu_for(therapist.chat_id, "en") == list(THERAPIST_COMMANDS)
    assert not THERAPIST_ONLY & set(standin.menu_for(alex.chat_id, "en"))


async def test_a_client_sees_their_own_answers_in_words_and_a_chart(bed: Testbed) -> None:
    """After two check-ins /myanswers shows both in plain words, newest first, kindly
    framed, and a chart; before any, a friendly word; a therapist is pointed elsewhere."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await alex.command("myanswers")
    assert "haven't answered a check-in yet" in alex.last_text()

    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "5", "4", "4", "4", "A little", "Yes", "Skip")
    await bed.advance(days=7)
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "2", "3", "3", "3", "No", "Skip")

    before = len(alex.messages())
    await alex.command("myanswers")
    shown = alex.messages()[before:]
    text = shown[0].text or ""
    assert "Your check-ins, in your own answers" in text
    assert text.index("heard 2") < text.index("heard 5"), "newest first"
    assert "a little tension, talked through" in text
    assert "Ups and downs are a normal part of therapy" in text
    assert not any(word in text.lower() for word in ("strain", "watch", "conversation"))
    chart = shown[1]
    assert chart.photo and chart.photo.startswith(b"\x89PNG")
    assert "Your answers over time" in (chart.caption or "")

    await therapist.command("myanswers")
    assert "/client" in therapist.last_text()


async def test_mydata_comes_with_a_short_readable_summary(bed: Testbed) -> None:
    """Beside the JSON file, a few lines say what is in it, counting a changed answer."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await alex.press("1")
    await alex.command("back")
    await answer_checkin(alex, "5", "4", "4", "4", "No")
    await alex.says("The pace was good.")
    before = len(alex.messages())
    await alex.command("mydata")
    shown = alex.messages()[before:]
    assert shown[0].document is not None and shown[0].filename == "my-data.json"
    summary = shown[1].text or ""
    assert "In short, the file holds" in summary
    assert "1 session and 1 check-in, 1 of them answered, with 1 note" in summary
    assert "1 answer you changed before finishing" in summary
    assert b'"changed_answers"' in shown[0].document
