"""The client's minute as the client sees it: the notice, correcting a mis-tap with /back,
the counter."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from checks import db_snapshot, rows, shown
from story import Person, answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot.callbacks import back as back_data
from bot.offline.standin.models import ChatMessage
from bot.offline.testbed import Testbed
from bot.practice.enrolment import PRIVACY_NOTICE_VERSION
from storage.models import Answer, AnswerChange, CheckIn, Client, TherapySession

COUNTER = re.compile(r"· (\d+)/(\d+)")


def counter(text: str | None) -> tuple[int, int]:
    """The "n/total" in a check-in question's header."""
    found = COUNTER.search(text or "")
    assert found, f"no counter in {text!r}"
    return int(found.group(1)), int(found.group(2))


async def test_the_privacy_notice_shows_bold_text_not_tags(bed: Testbed) -> None:
    """The welcome and /privacy show their emphasis as formatting, in every language."""
    therapist = await enrolled_therapist(bed)
    for language in ("en", "es", "de"):
        await therapist.command("invite", f"notice{language}")
        client = new_person(bed, "Noa", language)
        await client.command("start", therapist.link_token())
        welcome = client.last()
        assert "<b>" not in (welcome.text or "") and "&lt;" not in (welcome.text or "")
        assert any(entity["type"] == "bold" for entity in welcome.entities)
        await client.press("✅")
        await client.command("privacy")
        notice = client.last()
        assert "<b>" not in (notice.text or "") and "</b>" not in (notice.text or "")
        assert any(entity["type"] == "bold" for entity in notice.entities)


BACK_LINE = "Tapped the wrong one? /back"


def checkin_message(person: Person, message_id: int) -> ChatMessage:
    """The check-in message as it shows now (after its edits)."""
    return next(m for m in person.messages() if m.message_id == message_id)


async def test_question_screens_show_exactly_the_answers_and_name_back(bed: Testbed) -> None:
    """Every button on a scale question begins with its number and there is no other;
    tension and its follow-up show exactly their three answers; from the second question
    on the text says /back; only the note screen adds a Back button beside Skip."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    for position, choice in enumerate(("5", "4", "3", "2")):
        screen = alex.last()
        assert [t.split(" · ")[0] for t in screen.button_texts] == ["5", "4", "3", "2", "1"]
        assert all(text[0].isdigit() for text in screen.button_texts)
        assert (BACK_LINE in (screen.text or "")) == (position > 0)
        await alex.press(choice)
    assert alex.last().button_texts == ["No", "A little", "A lot"]
    assert BACK_LINE in alex.last_text()
    await alex.press("A little")
    assert alex.last().button_texts == ["Yes", "Partly", "No"]
    assert BACK_LINE in alex.last_text()
    await alex.press("Partly")
    assert alex.last().button_texts == ["Skip", "↩ Back"]
    assert BACK_LINE in alex.last_text()


async def test_every_language_names_back_and_keeps_the_answer_buttons(bed: Testbed) -> None:
    """Spanish and German: the /back line in the question, no Back button among answers."""
    therapist = await enrolled_therapist(bed)
    for language, line, tension in (
        ("es", "¿Tocaste la que no era? /back", ["No", "Un poco", "Mucho"]),
        ("de", "Vertippt? /back", ["Nein", "Ein wenig", "Stark"]),
    ):
        client = await enrolled_client(bed, therapist, f"c{language}", language)
        await therapist.command("session", f"c{language}")
        await bed.advance(minutes=60)
        assert line not in client.last_text()
        await answer_checkin(client, "4", "4", "4")
        assert line in client.last_text()
        assert all(text[0].isdigit() for text in client.last().button_texts)
        await client.press("4")
        assert client.last().button_texts == tension
        assert line in client.last_text()


async def test_a_mis_tap_is_corrected_with_back_and_the_change_is_kept(bed: Testbed) -> None:
    """Alex taps 1 instead of 5 and sends /back: the same question comes back in the same
    message, Alex taps 5; 5 is the answer that counts and the 1 is kept as changed."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    first = alex.last()
    await alex.press("1")
    assert "what matters most" in alex.last_text()

    await alex.command("back")
    assert alex.last_text() == shown(bed, "checkin.back_command_done")
    again = checkin_message(alex, first.message_id)
    assert again.text == first.text, "the first question again, in the same message"
    assert again.button_texts == first.button_texts
    assert alex.message_with_buttons().message_id == first.message_id, "no second check-in"
    await alex.press("5")
    await answer_checkin(alex, "4", "4", "4", "No", "Skip")
    assert (checkin_message(alex, first.message_id).text or "").startswith("Thank you!")

    answers = {a.item_id: a.value for a in await rows(bed, Answer)}
    assert answers["bond"] == 5
    changes = await rows(bed, AnswerChange)
    assert [(c.item_id, c.value) for c in changes] == [("bond", 1)]

    await therapist.command("digest")
    assert "1/5" not in therapist.last_text(), "the slip is not what the digest reads"


async def test_back_reaches_the_tension_question_and_the_follow_up_goes_away(
    bed: Testbed,
) -> None:
    """/back on the follow-up takes back "tension" and asks it again; a second /back goes
    one further; answering "No" to tension then skips the follow-up."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "A lot")
    checkin = alex.message_with_buttons().message_id
    assert checkin_message(alex, checkin).button_texts == ["Yes", "Partly", "No"]
    await alex.command("back")
    assert checkin_message(alex, checkin).button_texts == ["No", "A little", "A lot"]
    await alex.command("back")
    assert "what I really thought" in (checkin_message(alex, checkin).text or "")
    await alex.press("3")
    await alex.press("No")
    assert checkin_message(alex, checkin).button_texts == ["Skip", "↩ Back"]
    answers = {a.item_id: a.value for a in await rows(bed, Answer)}
    assert answers["tension"] == 0 and answers["openness"] == 3
    assert "talked_through" not in answers
    changes = await rows(bed, AnswerChange)
    assert [(c.item_id, c.value) for c in changes] == [("tension", 2), ("openness", 4)]


async def test_back_with_nothing_to_take_back_changes_nothing(bed: Testbed) -> None:
    """/back before any check-in, on the first question, after the check-in closed (a
    stale /back), from a therapist or a stranger: a kind answer, nothing changes."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await alex.command("back")
    assert alex.last_text() == shown(bed, "checkin.back_none")

    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    question = alex.last()
    before = await db_snapshot(bed)
    await alex.command("back")
    assert alex.last_text() == shown(bed, "checkin.back_first")
    assert checkin_message(alex, question.message_id).text == question.text
    assert await db_snapshot(bed) == before

    await answer_checkin(alex, "4", "4", "4", "4", "No", "Skip")
    thanks = checkin_message(alex, question.message_id).text
    before = await db_snapshot(bed)
    await alex.command("back")
    assert alex.last_text() == shown(bed, "checkin.back_none")
    assert "nothing to change" in alex.last_text()
    assert checkin_message(alex, question.message_id).text == thanks
    await therapist.command("back")
    assert therapist.last_text() == shown(bed, "therapist.not_for_therapists")
    stranger = new_person(bed, "Sam")
    await stranger.command("back")
    assert stranger.last_text() == shown(bed, "common.unknown")
    assert await db_snapshot(bed) == before
    assert not await rows(bed, AnswerChange)


async def test_back_is_in_the_client_menu_and_help(bed: Testbed) -> None:
    """The client's "/" menu and /help list /back, in every language."""
    therapist = await enrolled_therapist(bed)
    for language in ("en", "es", "de"):
        client = await enrolled_client(bed, therapist, f"h{language}", language)
        await client.command("help")
        assert "/back" in client.last_text()
        assert "back" in bed.standin.menu_for(client.chat_id, language)


async def test_forged_and_stale_back_presses_change_nothing(bed: Testbed) -> None:
    """On the note screen (the one screen with a Back button): a second tap on Back, a
    Back for an earlier answer, for another client's check-in, or on a closed check-in:
    no answer moves, and the tap gets a short answer."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    bo = await enrolled_client(bed, therapist, "bo")
    await therapist.command("session", "alex")
    await therapist.command("session", "bo")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "5", "4", "4", "4", "No")
    await answer_checkin(bo, "3")
    message = alex.message_with_buttons()
    assert message.button_texts == ["Skip", "↩ Back"]
    checkin = next(c for c in await rows(bed, CheckIn) if c.message_id == message.message_id)
    bo_checkin = next(c for c in await rows(bed, CheckIn) if c.id != checkin.id)
    before = await db_snapshot(bed)

    # Back for an earlier answer, while "tension" is the latest: stale.
    stale = await alex.press_data(
        message.message_id, back_data(checkin.id or 0, "bond"), strict=False
    )
    assert "Nothing to change" in stale
    assert "Skip" in checkin_message(alex, message.message_id).button_texts, "it stays"
    # Bo's check-in from Alex's chat, and an item the check-in does not have: forged.
    forged = await alex.press_data(
        message.message_id, back_data(bo_checkin.id or 0, "bond"), strict=False
    )
    assert forged and "Choose again" not in forged
    odd = await alex.press_data(message.message_id, back_data(checkin.id or 0, "zzz"), strict=False)
    assert odd and "Choose again" not in odd
    assert await db_snapshot(bed) == before

    # A real Back, then the same tap again: the second changes nothing more.
    assert "Choose again" in await alex.press("↩ Back")
    assert checkin_message(alex, message.message_id).button_texts == ["No", "A little", "A lot"]
    after_first = await db_snapshot(bed)
    again = await alex.press_data(
        message.message_id, back_data(checkin.id or 0, "tension"), strict=False
    )
    assert "Nothing to change" in again
    assert await db_snapshot(bed) == after_first

    # Once the check-in has closed, its Back changes nothing.
    await answer_checkin(alex, "No", "Skip")
    closed = await alex.press_data(
        message.message_id, back_data(checkin.id or 0, "tension"), strict=False
    )
    assert "closed" in closed
    assert {a.item_id for a in await rows(bed, Answer) if a.checkin_id == checkin.id} >= {
        "tension",
        "comment",
    }


async def test_a_typed_correction_points_to_back(bed: Testbed) -> None:
    """ "sorry, I meant 5" (and its Spanish and German kin) during a check-in is answered
    with /back; on the first question, with nothing to change, /back is not named."""
    therapist = await enrolled_therapist(bed)
    for language, typed, change in (
        ("en", "sorry, I meant 5", "send /back to change it"),
        ("es", "perdón, quise decir 4", "envía /back para cambiarla"),
        ("de", "sorry, ich meinte 5", "senden Sie /back"),
    ):
        client = await enrolled_client(bed, therapist, f"t{language}", language)
        await therapist.command("session", f"t{language}")
        await bed.advance(minutes=60)
        await client.says("hello?")
        assert "/back" not in client.last_text(), "nothing to change yet, so none is named"
        await client.press("1")
        await client.says(typed)
        reply = client.last_text()
        assert change in reply and "↩" not in reply
        assert reply == shown(bed, "checkin.use_buttons", language, can_go_back=True)
    assert not await rows(bed, AnswerChange)


async def test_the_counter_stays_stable_when_the_follow_up_comes(bed: Testbed) -> None:
    """The total is known from the first question; the follow-up shares its question's number."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    seen = [counter(alex.last_text())]
    for choice in ("4", "4", "4", "4", "A little", "Yes"):
        await alex.press(choice)
        seen.append(counter(alex.last_text()))
    assert seen == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (5, 6), (6, 6)]


async def test_a_checkin_days_later_names_the_session_day(bed: Testbed) -> None:
    """A check-in answered the day after says which session it is about; on the day,
    "today's session". No question says "today"."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    assert "today's session" in alex.last_text()
    await bed.advance(hours=26)
    reminder = alex.last_text()
    assert "today" not in reminder.lower().replace("today's", "")
    assert "About your session on" in reminder
    session = (await rows(bed, TherapySession))[0]
    client = (await rows(bed, Client))[0]
    ended = session.ended_at.astimezone(ZoneInfo(client.timezone))
    # English as CLDR writes a day with its weekday: "Tuesday, November 24".
    assert f"{ended.strftime('%A')}, {ended.strftime('%B')} {ended.day}" in reminder


async def test_the_welcome_is_short_and_the_full_notice_is_one_tap_away(bed: Testbed) -> None:
    """The welcome carries what consent needs in a few lines; the full notice comes on a
    tap and leaves the consent buttons where they are; the agreed version is recorded."""
    therapist = await enrolled_therapist(bed)
    for language, full_label in (("en", "📄"), ("es", "📄"), ("de", "📄")):
        await therapist.command("invite", f"layer{language}")
        client = new_person(bed, "Kim", language)
        await client.command("start", therapist.link_token())
        welcome = client.last()
        text = welcome.text or ""
        assert len(text) < 1000, f"{language} welcome is {len(text)} characters"
        assert "/pause" in text and "/stop" in text and "/delete" in text
        assert "112" in text, "where urgent help is"
        await client.press(full_label, welcome)
        notice = client.last()
        assert notice.message_id != welcome.message_id
        assert shown(bed, "client.notice", language) == notice.text
        still = next(m for m in client.messages() if m.message_id == welcome.message_id)
        assert still.button_texts == welcome.button_texts, "the consent buttons stay"
        await client.press("✅", welcome)
    clients = await rows(bed, Client)
    assert {c.consent_version for c in clients} == {PRIVACY_NOTICE_VERSION}
    en = shown(bed, "client.welcome", "en", therapist="Dr. Ada Example")
    assert "not watched in real time" in en.lower() and "not end-to-end encrypted" in en


async def test_the_client_is_told_what_is_checked_and_what_the_therapist_sees(
    bed: Testbed,
) -> None:
    """The note prompt says notes are checked for risk words; the notice says a very
    hard check-in reaches the therapist at once; /pause says the therapist sees it."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await alex.command("privacy")
    assert "straight away" in alex.last_text()
    assert "checked for such words automatically" in alex.last_text()
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No")
    prompt = alex.last_text()
    assert "Only your therapist reads this" not in prompt
    assert "checks notes for words" in prompt
    await alex.press("Skip")
    await alex.command("pause")
    assert "Your therapist will see that your check-ins are paused" in alex.last_text()
