"""Polling through a crash: updates fetched but not yet handled survive kill -9 (bot.inbox).

A real `python -m bot run` process polls the stand-in, which applies Telegram's offset
rule (an update below the offset of a later getUpdates is gone for good). A burst
arrives in one batch: one client writes fifteen quick messages and then a risk
statement, another writes six and then answers a question, others tap an answer or type
their note. The bot replies to each person at Telegram's pace of about one message a
second, so most of the burst is still waiting when the process is killed after its
third reply to the first client. The restarted process must handle all of it — the
crisis reply and the therapist's alert included — and the effects must stay single.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from procs import Worker, eventually, seed, start_worker, worker_env
from sqlmodel import col, select

from bot.standin import BotAPIStandIn, FakeUser
from storage.crypto import generate_key
from storage.db import Database
from storage.models import Alert, Answer, CheckIn, Client, InboxUpdate

pytestmark = pytest.mark.workers

RISK = "I have the pills ready, I want to end my life"
CRISIS_MARK = "nobody reads this chat in real time"
USE_BUTTONS = "Please answer the question above with its buttons"
NOTE_SAVED = "your note is saved for your therapist"
STRAY = 15


@pytest.fixture
async def standin() -> AsyncIterator[BotAPIStandIn]:
    """The Bot API stand-in on loopback; taps stay answerable while the bot restarts."""
    async with BotAPIStandIn() as server:
        # Late taps are tested on their own (tests/e2e/test_late_taps.py); here every
        # tap must be acknowledged, however long the restart takes on a busy machine.
        server.callback_query_timeout = 600
        yield server
        assert not server.internal_errors, server.internal_errors


@pytest.fixture
def workers() -> AsyncIterator[list[Worker]]:
    """Processes started by the test; all stopped at the end."""
    started: list[Worker] = []
    yield started  # type: ignore[misc]
    for worker in started:
        worker.stop()


@dataclass
class Burst:
    """What each person sent (the update ids) and which taps were made."""

    update_ids: list[int]
    query_ids: list[str]


async def _at_the_note(database_url: str, chats: list[int]) -> None:
    """Skip every question of these clients' check-ins, so the note is what is asked."""
    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            for chat in chats:
                client = (
                    await session.exec(select(Client).where(Client.telegram_user_id == chat))
                ).one()
                checkin = (
                    await session.exec(select(CheckIn).where(CheckIn.client_id == client.id))
                ).one()
                for item in checkin.item_ids():
                    if item != "comment":
                        session.add(
                            Answer(
                                checkin_id=checkin.id or 0,
                                item_id=item,
                                value=None,
                                skipped=True,
                                answered_at=now,
                            )
                        )
    finally:
        await db.dispose()


def _replies(standin: BotAPIStandIn, chat: int, text: str) -> int:
    """How many messages in the chat contain this text (edits included, once each)."""
    return sum(text in (m.text or "") for m in standin.sent_to(chat))


def _send_burst(
    standin: BotAPIStandIn, crisis: int, busy: int, tappers: list[int], writers: list[int]
) -> Burst:
    """Everything at once, so the bot fetches it in one batch."""
    ids: list[int] = []
    queries: list[str] = []

    def user(chat: int) -> FakeUser:
        return FakeUser(id=chat, first_name=f"Client{chat}")

    def tap(chat: int) -> None:
        message = next(m for m in reversed(standin.sent_to(chat)) if m.reply_markup)
        data = message.reply_markup[0][0].data if message.reply_markup else None
        assert data is not None
        update = standin.press(user(chat), message.message_id, data)
        ids.append(update["update_id"])
        queries.append(update["callback_query"]["id"])

    for n in range(STRAY):
        ids.append(standin.send_text(user(crisis), f"quick message {n}")["update_id"])
    ids.append(standin.send_text(user(crisis), RISK)["update_id"])
    for n in range(6):
        ids.append(standin.send_text(user(busy), f"another quick message {n}")["update_id"])
    tap(busy)
    for chat in tappers:
        tap(chat)
    for chat in writers:
        ids.append(standin.send_text(user(chat), f"an invented note from {chat}")["update_id"])
    return Burst(ids, queries)


async def test_kill_9_with_a_burst_in_hand_loses_no_update_and_doubles_no_effect(
    database_url: str, standin: BotAPIStandIn, workers: list[Worker], tmp_path: Path
) -> None:
    """The bot is killed after its third reply to a client who wrote fifteen messages and a
    risk statement; after the restart every update has been handled: one crisis reply and
    one alert, every note stored once, every tap stored and acknowledged, every quick
    message answered — at most once more for the one update in hand at the kill."""
    key = generate_key()
    practice = await seed(database_url, key, standin, 8, digest_due=False)
    crisis, busy, *others = practice.client_chats
    tappers, writers = others[:3], others[3:]
    await _at_the_note(database_url, writers)
    env = worker_env(standin, database_url, key)
    first = start_worker(env, tmp_path / "first.log")
    workers.append(first)
    await standin.wait_for(
        lambda: all(standin.sent_to(c) for c in practice.client_chats), timeout=60
    )
    await standin.wait_for(lambda: standin.polls_waiting > 0, timeout=30)

    burst = _send_burst(standin, crisis, busy, tappers, writers)
    await standin.wait_for(lambda: _replies(standin, crisis, USE_BUTTONS) >= 3, timeout=60)
    first.kill9()
    handled_before = _replies(standin, crisis, USE_BUTTONS)
    assert handled_before < STRAY, "the kill came while the burst was still in hand"

    second = start_worker(env, tmp_path / "second.log")
    workers.append(second)

    async def all_handled() -> bool:
        return (
            _replies(standin, crisis, CRISIS_MARK) >= 1
            and _replies(standin, crisis, USE_BUTTONS) >= STRAY
            and _replies(standin, busy, USE_BUTTONS) >= 6
            and all(q in standin.callback_answers for q in burst.query_ids)
            and all(_replies(standin, c, NOTE_SAVED) >= 1 for c in writers)
            and RISK in _therapist_texts(standin, practice.therapist_chat)
        )

    await eventually(all_handled, 120, "every update of the burst handled after the restart")

    assert _replies(standin, crisis, CRISIS_MARK) == 1, "one crisis reply"
    assert _therapist_texts(standin, practice.therapist_chat).count(RISK) == 1, "one alert"
    # Each person's update in hand at the kill may be answered twice; nothing else.
    assert _replies(standin, crisis, USE_BUTTONS) <= STRAY + 1
    assert _replies(standin, busy, USE_BUTTONS) <= 6 + 1
    for chat in writers:
        assert _replies(standin, chat, NOTE_SAVED) <= 2

    assert "handling them now" in second.log()
    assert "Traceback" not in second.log()
    assert await second.terminate() == 0

    db = Database(database_url)
    try:
        async with db.session() as session:
            alerts = (await session.exec(select(Alert).where(Alert.kind == "risk"))).all()
            notes = (await session.exec(select(Answer).where(Answer.item_id == "comment"))).all()
            bonds = (
                await session.exec(
                    select(Answer).where(Answer.item_id == "bond", col(Answer.value).is_not(None))
                )
            ).all()
            inbox = (await session.exec(select(InboxUpdate))).all()
    finally:
        await db.dispose()
    assert len(alerts) == 1
    assert len(notes) == len(writers) and all(n.text_ciphertext for n in notes)
    assert len(bonds) == len(tappers) + 1, "every tap stored once"
    # Every update of the burst went through the inbox and was finished; no content stays.
    assert set(burst.update_ids) <= {r.update_id for r in inbox}
    assert all(r.finished_at is not None and r.payload_ciphertext is None for r in inbox)


def _therapist_texts(standin: BotAPIStandIn, chat: int) -> str:
    """Everything the therapist received, as one text."""
    return "\n".join(m.text or "" for m in standin.sent_to(chat))
