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

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from burst import (
    STRAY,
    USE_BUTTONS,
    Burst,
    at_the_note,
    replies,
    send_burst,
    tally,
)
from procs import Worker, eventually, seed, start_worker, worker_env
from sqlmodel import col, select

from bot.offline.standin import BotAPIStandIn
from storage.crypto import generate_key
from storage.db import Database
from storage.models import Alert, Answer, InboxUpdate

pytestmark = pytest.mark.workers


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
def workers() -> Iterator[list[Worker]]:
    """Processes started by the test; all stopped at the end."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


async def test_kill_9_with_a_burst_in_hand_loses_no_update_and_doubles_no_effect(
    database_url: str, standin: BotAPIStandIn, workers: list[Worker], tmp_path: Path
) -> None:
    """The bot is killed after its third reply to a client who wrote fifteen messages and a
    risk statement; after the restart every update has been handled: one crisis reply and
    one alert, every note stored once, every tap stored and acknowledged, every quick
    message answered — at most once more for each person's update in hand at the kill."""
    key = generate_key()
    practice = await seed(database_url, key, standin, 8, digest_due=False)
    crisis, busy, *others = practice.client_chats
    burst = Burst(crisis, busy, others[:3], others[3:], practice.therapist_chat)
    await at_the_note(database_url, burst.writers)
    env = worker_env(standin, database_url, key)
    first = start_worker(env, tmp_path / "first.log")
    workers.append(first)
    await standin.wait_for(
        lambda: all(standin.sent_to(c) for c in practice.client_chats), timeout=60
    )
    await standin.wait_for(lambda: standin.polls_waiting > 0, timeout=30)

    send_burst(standin, burst)
    await standin.wait_for(lambda: replies(standin, crisis, USE_BUTTONS) >= 3, timeout=60)
    first.kill9()
    before = tally(standin, burst)
    assert before.handled < burst.size - 10, "the kill came with most of the burst in hand"
    assert before.crisis_replies == 0

    # The first worker replied at Telegram's pace (one message a second per chat), so the
    # kill caught most of the burst in hand; the second may answer the rest without waiting.
    fast = env | {"SEND_RATE_PER_CHAT": "30", "SEND_BURST_PER_CHAT": "20"}
    second = start_worker(fast, tmp_path / "second.log")
    workers.append(second)

    async def all_handled() -> bool:
        return tally(standin, burst).complete(burst)

    await eventually(all_handled, 120, "every update of the burst handled after the restart")

    after = tally(standin, burst)
    assert after.crisis_replies == 1, "one crisis reply"
    assert after.alerts == 1, "one alert to the therapist"
    # Each person's update in hand at the kill may be answered twice; nothing else.
    people = 2 + len(burst.tappers) + len(burst.writers)
    assert after.duplicates <= people
    assert replies(standin, crisis, USE_BUTTONS) <= STRAY + 1
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
    assert len(notes) == len(burst.writers) and all(n.text_ciphertext for n in notes)
    assert len(bonds) == len(burst.tappers) + 1, "every tap stored once"
    # Every update of the burst went through the inbox and was finished; no content stays.
    assert set(burst.update_ids) <= {r.update_id for r in inbox}
    assert all(r.finished_at is not None and r.payload_ciphertext is None for r in inbox)
