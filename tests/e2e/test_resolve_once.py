"""Who is writing is looked up once per update (bot.handlers.common.resolve_person, an early
handler group) and every role guard reads that one answer: the refusals people see are the
same as before, and no update looks its sender up twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from checks import drain, shown
from story import enrolled_client, enrolled_therapist, new_person
from telegram import Update

from bot.handlers import common
from bot.offline.testbed import Testbed
from bot.services import Person, Services


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The sender ids looked up, one entry per look-up."""
    seen: list[int] = []
    real = common.identify

    async def counted(services: Services, update: Update) -> Person:
        seen.append(update.effective_user.id if update.effective_user else 0)
        return await real(services, update)

    monkeypatch.setattr(common, "identify", counted)
    yield seen


async def test_each_update_looks_its_sender_up_once_and_the_refusals_stay(
    bed: Testbed, lookups: list[int]
) -> None:
    """Ada (therapist), Alex (client) and a stranger each send commands meant for someone
    else: each gets the refusal for who they are, after one look-up per update; commands
    for their own role work, after one look-up too."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    stranger = new_person(bed, "Sam")

    cases = [
        (alex, "invite", ("kim",), "client.not_for_clients"),
        (alex, "digest", (), "client.not_for_clients"),
        (alex, "end", ("kim",), "client.not_for_clients"),
        (ada, "mydata", (), "therapist.not_for_therapists"),
        (ada, "pause", (), "therapist.not_for_therapists"),
        (ada, "back", (), "therapist.not_for_therapists"),
        (ada, "myanswers", (), "myanswers.for_clients"),
        (stranger, "invite", ("kim",), "common.unknown"),
        (stranger, "delete", (), "common.unknown"),
        (stranger, "help", (), "common.unknown"),
        (ada, "help", (), None),
        (alex, "privacy", (), None),
    ]
    for person, name, args, refusal in cases:
        lookups.clear()
        await person.command(name, *args)
        assert lookups == [person.user.id], (name, lookups)
        if refusal is not None:
            assert person.last_text() == shown(bed, refusal), name

    lookups.clear()
    await alex.says("just some words")
    assert lookups == [alex.user.id]
    assert alex.last_text() == shown(bed, "client.stray_text")


async def test_a_checkin_answer_press_is_not_looked_up_outside_its_own_transaction(
    bed: Testbed, lookups: list[int]
) -> None:
    """The busiest path (an answer button) finds the presser inside the answer's own
    transaction: the early handler leaves it out, and no handler looks the sender up."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await drain(bed)
    question = alex.message_with_buttons().text
    lookups.clear()
    notice = await alex.press("4")
    assert notice == shown(bed, "checkin.saved")
    assert alex.message_with_buttons().text != question, "the next question is shown"
    assert lookups == []
    # Any other button is looked up once, as every update is.
    await alex.command("language")
    lookups.clear()
    await alex.press("Deutsch")
    assert lookups == [alex.user.id]


def _takes(handler: Any, data: str) -> bool:
    """Whether a button route's pattern (a parser, or none for the catch-all) takes this data."""
    pattern = handler.pattern
    return pattern is None or bool(pattern(data))


async def test_the_wiring_resolves_early_and_routes_each_kind_of_button_once(bed: Testbed) -> None:
    """bot.app: the look-up runs in a group before every command, button and text handler,
    and each kind of callback data has exactly one route (the button map), then a catch-all."""
    from telegram.ext import CallbackQueryHandler

    from bot import callbacks

    assert bed.app is not None
    handlers = bed.app.handlers
    resolving = [
        g for g, hs in handlers.items() if any(h.callback is common.resolve_person for h in hs)
    ]
    assert resolving == [-1]
    routes = [h for h in handlers[0] if isinstance(h, CallbackQueryHandler)]
    samples = {
        callbacks.answer(1, "x", 2): "on_AnswerPress",
        callbacks.back(1, "x"): "on_BackPress",
        callbacks.full_notice(): "on_FullNoticePress",
        callbacks.consent(True, "A" * 40): "on_ConsentPress",
        callbacks.stop(True, 1, 2): "on_StopPress",
        callbacks.language("de"): "on_LanguagePress",
        callbacks.rating(1, 5): "on_RatingPress",
        callbacks.erase(False, 1, 2): "on_ErasePress",
        callbacks.notice(True, 3): "on_NoticePress",
        callbacks.end(True, 1): "on_EndPress",
        callbacks.detail(1): "on_DetailPress",
        callbacks.conversation(1, "held"): "on_ConversationPress",
        "a:1:x:": "invalid_press",
        "zz": "invalid_press",
    }
    for data, name in samples.items():
        taking = [h.callback.__name__ for h in routes if _takes(h, data)]
        assert taking[0] == name, (data, taking)
        assert taking[1:] in ([], ["invalid_press"]), (data, taking)
