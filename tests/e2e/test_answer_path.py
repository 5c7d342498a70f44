"""The answer path under stress: late taps, lost edits, many people at once, and when an
update counts as handled."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from checks import drain, rows, shown
from story import Person, enrolled_client, enrolled_therapist, new_person

from bot import callbacks
from bot.offline.testbed import Testbed
from storage.models import Answer, CheckIn, ProcessedUpdate

NEXT_QUESTION = "worked on what matters"  # the second question's text


async def _open_checkin(bed: Testbed, alias: str = "alex") -> tuple[Person, Person]:
    """A therapist and one client whose check-in is on screen."""
    ada = await enrolled_therapist(bed)
    client = await enrolled_client(bed, ada, alias)
    await ada.command("session", alias)
    await bed.advance(minutes=60)
    await drain(bed)
    return ada, client


async def _tap(bed: Testbed, person: Person, button_text: str) -> str:
    """Tap a button on the newest message with buttons; the update's callback query id."""
    message = person.message_with_buttons()
    data = bed.standin.find_button(person.chat_id, message.message_id, button_text)
    update = bed.standin.press(person.user, message.message_id, data)
    await bed.settled(update["update_id"])
    return str(update["callback_query"]["id"])


async def test_a_tap_answered_too_late_still_stores_and_moves_on(bed: Testbed) -> None:
    """Telegram no longer accepts an answer to the tap ("query is too old", as after a
    backlog): the answer is stored all the same and the message shows the next question."""
    _ada, alex = await _open_checkin(bed)
    bed.standin.callback_query_timeout = -1.0  # every tap is already too old
    query_id = await _tap(bed, alex, "5")
    assert query_id not in bed.standin.callback_answers, "the stand-in refused the answer"
    assert [(a.item_id, a.value) for a in await rows(bed, Answer)] == [("bond", 5)]
    assert NEXT_QUESTION in alex.last_text()


async def test_a_tap_whose_edit_was_lost_is_caught_up_by_the_next_tap(bed: Testbed) -> None:
    """The answer was stored but the edit never arrived (the connection dropped), so the
    message still shows the first question. Tapping it again stores nothing new and brings
    the message to the question the check-in is really at."""
    _ada, alex = await _open_checkin(bed)
    first_screen = alex.message_with_buttons().text
    bed.standin.drop_next(method="editMessageText")
    await _tap(bed, alex, "5")
    assert alex.message_with_buttons().text == first_screen, "the edit was really lost"
    await _tap(bed, alex, "4")
    assert [(a.item_id, a.value) for a in await rows(bed, Answer)] == [("bond", 5)]
    assert NEXT_QUESTION in (alex.message_with_buttons().text or "")
    answers = list(bed.standin.callback_answers.values())
    assert answers[-1].text == shown(bed, "checkin.already")


async def test_the_last_tap_whose_edit_was_lost_later_shows_the_thanks(bed: Testbed) -> None:
    """The check-in was completed but the edit to the thank-you was lost: the next tap on
    the leftover question shows the thank-you instead of saying the check-in closed."""
    _ada, alex = await _open_checkin(bed)
    for choice in ("5", "5", "5", "5", "No"):
        await alex.press(choice)
    bed.standin.drop_next(method="editMessageText")
    await _tap(bed, alex, "Skip")
    [checkin] = await rows(bed, CheckIn)
    assert checkin.status == "completed"
    leftover = alex.message_with_buttons()
    assert leftover.message_id == checkin.message_id, "the comment question is still on screen"
    await _tap(bed, alex, "Skip")
    [shown_now] = [m for m in alex.messages() if m.message_id == checkin.message_id]
    assert "Thank you" in (shown_now.text or "")
    assert not shown_now.reply_markup


async def test_many_people_answering_at_once_each_keep_their_order(bed: Testbed) -> None:
    """Six clients tap through their check-ins at the same moment, each tap queued before
    any is handled. Every answer lands on the right check-in in the right order, and each
    person ends on the thank-you."""
    ada = await enrolled_therapist(bed)
    people = [await enrolled_client(bed, ada, f"client{n}") for n in range(6)]
    for person in people:
        await ada.command("session", person.user.first_name.lower())
    await bed.advance(minutes=60)
    await drain(bed)
    choices = ("5", "4", "3", "2", "No", "Skip")
    for choice in choices:
        updates = []
        for person in people:  # everyone's tap is queued before the bot sees any
            message = person.message_with_buttons()
            data = bed.standin.find_button(person.chat_id, message.message_id, choice)
            updates.append(bed.standin.press(person.user, message.message_id, data))
        await asyncio.gather(*(bed.settled(u["update_id"]) for u in updates))
    stored = await rows(bed, Answer)
    by_checkin: dict[int, list[tuple[str, int | None]]] = {}
    for answer in sorted(stored, key=lambda a: a.id or 0):
        by_checkin.setdefault(answer.checkin_id, []).append((answer.item_id, answer.value))
    expected = [("bond", 5), ("goals", 4), ("tasks", 3), ("openness", 2), ("tension", 0)]
    assert len(by_checkin) == len(people)
    for answers in by_checkin.values():
        assert answers == [*expected, ("comment", None)]
    assert {c.status for c in await rows(bed, CheckIn)} == {"completed"}
    assert all("Thank you" in person.last_text() for person in people)


async def test_one_persons_quick_taps_are_handled_in_order(bed: Testbed) -> None:
    """Two taps from one client queued back to back (the second on the question the first
    leads to is not possible yet, so: two taps on the first question). The first is stored,
    the second is told it was answered already; never the other way round."""
    _ada, alex = await _open_checkin(bed)
    message = alex.message_with_buttons()
    first = bed.standin.find_button(alex.chat_id, message.message_id, "2")
    second = bed.standin.find_button(alex.chat_id, message.message_id, "5")
    updates = [
        bed.standin.press(alex.user, message.message_id, first),
        bed.standin.press(alex.user, message.message_id, second),
    ]
    await asyncio.gather(*(bed.settled(u["update_id"]) for u in updates))
    assert [(a.item_id, a.value) for a in await rows(bed, Answer)] == [("bond", 2)]
    answers = bed.standin.callback_answers
    texts = [answers[u["callback_query"]["id"]].text for u in updates]
    assert texts == [shown(bed, "checkin.saved"), shown(bed, "checkin.already")]


async def test_an_update_is_finished_only_once_its_handling_is_done(bed: Testbed) -> None:
    """While a command is still being handled (its reply held up on the way to Telegram)
    its update is taken but not finished; once the handling is done it is finished, and a
    second copy of the update has no effect."""
    ada = await enrolled_therapist(bed)
    bed.standin.stall_next(method="sendMessage")
    update = bed.standin.send_command(ada.user, "invite", "alex")
    await bed.standin.wait_for(lambda: bed.standin.stalled_requests == 1)
    [taken] = [p for p in await rows(bed, ProcessedUpdate) if p.update_id == update["update_id"]]
    assert taken.finished_at is None, "finished before its handling was done"
    bed.standin.release_stalled()
    await bed.settled(update["update_id"])
    [taken] = [p for p in await rows(bed, ProcessedUpdate) if p.update_id == update["update_id"]]
    assert taken.finished_at is not None

    replies = len(ada.messages())
    again = bed.standin.inject_update(update)
    await bed.settled(again["update_id"])
    assert len(ada.messages()) == replies, "a redelivered, finished update did nothing"


async def _taken_by_another_worker(bed: Testbed, update_id: int, seconds_ago: float) -> None:
    """Write the row a worker leaves when it takes an update and has not finished it."""
    async with bed.services.db.session() as session:
        session.add(
            ProcessedUpdate(
                update_id=update_id,
                processed_at=bed.clock.now() - timedelta(seconds=seconds_ago),
            )
        )


async def _help_resent_after_taken(bed: Testbed, person: Person, seconds_ago: float) -> int:
    """/help arrives as an update another worker took ``seconds_ago``; its id once handled."""
    update_id = (bed.standin.last_update_id or 0) + 1
    await _taken_by_another_worker(bed, update_id, seconds_ago=seconds_ago)
    update = bed.standin.send_command(person.user, "help")
    assert update["update_id"] == update_id
    await bed.settled(update_id)
    return update_id


async def test_an_update_another_worker_is_handling_is_left_to_it(bed: Testbed) -> None:
    """Telegram resent an update that another worker took a moment ago and is still
    handling: this worker leaves it alone (one reply, not two)."""
    ada = await enrolled_therapist(bed)
    replies = len(ada.messages())
    await _help_resent_after_taken(bed, ada, seconds_ago=5)
    assert len(ada.messages()) == replies


async def test_an_update_left_unfinished_by_a_stopped_worker_is_handled_again(
    bed: Testbed,
) -> None:
    """A worker took an update and died before finishing it: when Telegram resends it
    minutes later, it is taken over and handled, not lost."""
    ada = await enrolled_therapist(bed)
    replies = len(ada.messages())
    update_id = await _help_resent_after_taken(bed, ada, seconds_ago=600)
    assert len(ada.messages()) == replies + 1
    [taken] = [p for p in await rows(bed, ProcessedUpdate) if p.update_id == update_id]
    assert taken.finished_at is not None


async def test_a_stranger_tapping_a_forged_answer_gets_their_own_language(bed: Testbed) -> None:
    """Answer presses skip the general look-up of who is tapping; a stranger's forged answer
    to a real check-in is still refused, in the stranger's language, and stores nothing."""
    await _open_checkin(bed)
    [checkin] = await rows(bed, CheckIn)
    stranger = new_person(bed, "Rosa", language="es")
    await stranger.command("start")
    forged = callbacks.answer(checkin.id or 0, "bond", 5)
    text = await stranger.press_data(stranger.last().message_id, forged, strict=False)
    assert text == shown(bed, "common.button_invalid", locale="es")
    assert await rows(bed, Answer) == []


async def test_one_persons_slow_update_does_not_hold_up_anothers_tap(bed: Testbed) -> None:
    """The therapist's reply is held up on its way to Telegram; meanwhile a client's tap
    is handled to the end (updates of different people run side by side)."""
    ada, alex = await _open_checkin(bed)
    bed.standin.stall_next(method="sendMessage")
    slow = bed.standin.send_command(ada.user, "help")
    await bed.standin.wait_for(lambda: bed.standin.stalled_requests == 1)
    message = alex.message_with_buttons()
    data = bed.standin.find_button(alex.chat_id, message.message_id, "5")
    tap = bed.standin.press(alex.user, message.message_id, data)
    await bed.settled(tap["update_id"])
    assert slow["update_id"] not in bed.processed, "the held-up update was still in hand"
    assert NEXT_QUESTION in (alex.message_with_buttons().text or "")
    bed.standin.release_stalled()
    await bed.settled(slow["update_id"])
