"""The outbox under pressure: concurrent workers, Telegram's refusals, crashes and shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest
from rig import START, Rig, paced_bot, rig_services
from sqlmodel import col, select

from bot import metrics
from bot.checkins.lifecycle import on_sent, on_unreachable
from bot.clock import ManualClock
from bot.offline.standin import BotAPIStandIn
from bot.sending.flood import Gcra
from bot.sending.outbox import keyboard, keyboard_json
from bot.sending.sender import Sender
from storage.crypto import generate_key
from storage.models import Client, OutboxMessage, Therapist, alias_key
from storage.states import ClientState


def sender(rig: Rig, services: object = None, bot: object = None) -> Sender:
    """A sender with the dispatcher's hooks."""
    return Sender(
        services or rig.services,  # type: ignore[arg-type]
        bot or rig.bot,
        on_sent=on_sent,
        on_unreachable=on_unreachable,
    )


async def rows(rig: Rig) -> list[OutboxMessage]:
    """Every outbox row, oldest first."""
    async with rig.services.db.session() as session:
        return list(
            (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        )


async def test_four_workers_claiming_at_once_send_each_message_once_and_in_order(
    rig: Rig, database_url: str
) -> None:
    """Forty people with three messages each; four workers (own connections) drain the queue
    together: every message arrives exactly once, each person's in the order queued."""
    people = [rig.user(5000 + n) for n in range(40)]
    for part in range(3):
        for chat in people:
            await rig.queue(chat, f"part {part}")
    workers = [
        rig_services(database_url, rig.clock, rig.services.settings.require_encryption_keys())
        for _ in range(4)
    ]

    async def drain(services: object) -> None:
        worker = sender(rig, services)
        while True:
            claimed, _sent = await worker.deliver(7)
            if not claimed and not any(r.status != "sent" for r in await rows(rig)):
                return
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(*(drain(w) for w in workers)), 60)
    for worker in workers:
        await worker.db.dispose()
    for chat in people:
        assert rig.texts_to(chat) == ["part 0", "part 1", "part 2"]
    assert {r.status for r in await rows(rig)} == {"sent"}


async def test_a_429_delays_only_that_message_for_the_time_telegram_asked(rig: Rig) -> None:
    """Telegram says "retry after 7" for Ann: Ann's message waits 7 s, Ben's goes now."""
    ann, ben = rig.user(6001), rig.user(6002)
    await rig.queue(ann, "for ann")
    await rig.queue(ben, "for ben")
    rig.standin.fail_next("sendMessage", error_code=429, retry_after=7, chat_id=ann)
    # The process's own hold on Ann's chat runs on the flood control's clock: here it moves
    # with the database's clock, so the test need not wait the 7 seconds for real.
    seconds = [0.0]
    bot = await paced_bot(rig.standin, clock=lambda: 1_000.0 + seconds[0])
    try:
        assert (await sender(rig, bot=bot).deliver())[1] == 1
        assert rig.texts_to(ben) == ["for ben"] and rig.texts_to(ann) == []
        held = next(r for r in await rows(rig) if r.chat_id == ann)
        assert held.status == "pending" and held.attempts == 0
        assert held.not_before == START + timedelta(seconds=7)

        rig.clock.advance(seconds=6)
        seconds[0] += 6
        assert (await sender(rig, bot=bot).deliver())[1] == 0
        rig.clock.advance(seconds=1)
        seconds[0] += 1
        assert (await sender(rig, bot=bot).deliver())[1] == 1
        assert rig.texts_to(ann) == ["for ann"]
    finally:
        await bot.shutdown()


async def test_a_client_who_blocked_the_bot_is_marked_unreachable_and_not_retried(
    rig: Rig,
) -> None:
    """Sam blocked the bot: the 403 marks Sam unreachable (the digest shows it), once."""
    sam = rig.user(6101)
    async with rig.services.db.session() as session:
        therapist = Therapist(
            telegram_user_id=6100, chat_id=6100, name="Dr. Example", created_at=START
        )
        session.add(therapist)
        await session.flush()
        client = Client(
            therapist_id=therapist.id or 0,
            alias="sam",
            alias_key=alias_key("sam"),
            telegram_user_id=sam,
            chat_id=sam,
            status=ClientState.ACTIVE,
            created_at=START,
        )
        session.add(client)
        await session.flush()
        client_id = client.id
    await rig.queue(sam, "check-in", kind="checkin", client_id=client_id)
    rig.standin.block_user(sam, notify=False)

    assert (await sender(rig).deliver())[1] == 0
    (row,) = await rows(rig)
    assert row.status == "failed" and row.last_error == "recipient blocked the bot"
    async with rig.services.db.session() as session:
        stored = await session.get(Client, client_id)
        assert stored is not None and stored.unreachable_at == START
    assert (await sender(rig).deliver()) == (0, 0), "never tried again"


async def test_network_errors_back_off_then_park_without_holding_up_anyone_else(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Sends to Kim keep failing with 502: retried after 2 s, 4 s, then parked and logged;
    Lee's messages go out meanwhile."""
    kim, lee = rig.user(6201), rig.user(6202)
    await rig.queue(kim, "for kim")
    await rig.queue(lee, "lee 1")
    rig.standin.fail_next("sendMessage", error_code=502, chat_id=kim, count=10)

    await sender(rig).deliver()
    row = next(r for r in await rows(rig) if r.chat_id == kim)
    assert row.status == "pending" and row.attempts == 1
    assert row.not_before == START + timedelta(seconds=2)
    await rig.queue(lee, "lee 2")
    rig.clock.advance(seconds=2)
    await sender(rig).deliver()
    rig.clock.advance(seconds=4)
    with caplog.at_level(logging.ERROR, logger="bot.sending.sender"):
        await sender(rig).deliver()
    row = next(r for r in await rows(rig) if r.chat_id == kim)
    assert row.status == "parked" and row.attempts == 3
    assert "parked" in caplog.text and "for kim" not in caplog.text
    assert rig.texts_to(lee) == ["lee 1", "lee 2"]
    assert rig.texts_to(kim) == []


async def test_an_altered_payload_is_parked_not_retried(rig: Rig) -> None:
    """A row under a configured key that fails authentication (altered in the database) is
    parked at once; the next one still goes. (A row under a key this worker does not have
    is left for a worker that has it: tests/reliability/test_outbox_takeover.py.)"""
    mia, noa = rig.user(6301), rig.user(6302)
    await rig.queue(mia, "for mia")
    await rig.queue(noa, "for noa")
    async with rig.services.db.session() as session:
        first = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == mia))
        ).one()
        token = bytearray(first.payload_ciphertext)
        token[-1] ^= 1
        first.payload_ciphertext = bytes(token)
    await sender(rig).deliver()
    statuses = {r.chat_id: r.status for r in await rows(rig)}
    assert statuses == {mia: "parked", noa: "sent"}


async def test_a_message_a_dead_worker_may_have_sent_is_sent_again_once_and_logged(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Worker A claims two messages and starts sending one, then dies (never returns).
    After the lease, worker B sends both; only the one that was on the wire is logged as a
    possible duplicate, and neither is sent a third time."""
    ola, pia = rig.user(6401), rig.user(6402)
    await rig.queue(ola, "for ola")
    await rig.queue(pia, "for pia")
    dead = sender(rig)
    claimed = await dead.claim(10)
    assert [r.status for r in claimed] == ["claimed", "claimed"]
    assert await dead._sending.submit(claimed[0].id or 0)  # then the process is killed
    before = metrics.POSSIBLE_DUPLICATES._value.get()

    assert await sender(rig).deliver() == (0, 0), "the lease still holds"
    rig.clock.advance(seconds=rig.services.settings.send_lease_seconds + 1)
    with caplog.at_level(logging.WARNING, logger="bot.sending.sender"):
        assert (await sender(rig).deliver())[1] == 2
    assert caplog.text.count("may arrive twice") == 1
    assert f"outbox {claimed[0].id} " in caplog.text
    assert metrics.POSSIBLE_DUPLICATES._value.get() == before + 1
    assert {r.status for r in await rows(rig)} == {"sent"}
    rig.clock.advance(hours=1)
    assert await sender(rig).deliver() == (0, 0)


async def test_stopping_finishes_sends_in_flight_and_returns_the_rest_to_the_queue(
    rig: Rig, database_url: str
) -> None:
    """A slow budget (2/s), five messages; stop after the first arrives: what was sent is
    marked sent, the others are pending again (no lease), and a new worker sends them."""
    people = [rig.user(6500 + n) for n in range(5)]
    for chat in people:
        await rig.queue(chat, "hello")
    slow = await paced_bot(rig.standin, global_rate=2.0)
    try:
        worker = sender(rig, bot=slow)
        running = asyncio.create_task(worker.run())
        await rig.standin.wait_for(lambda: any(rig.texts_to(c) for c in people), timeout=10)
        await worker.stop()
        await asyncio.wait_for(running, 10)
    finally:
        await slow.shutdown()
    states = [r.status for r in await rows(rig)]
    assert set(states) <= {"sent", "pending"} and "pending" in states
    assert all(r.lease_owner is None or r.status == "sent" for r in await rows(rig))
    await sender(rig).deliver()
    assert all(rig.texts_to(c) == ["hello"] for c in people)


async def test_paced_sending_stays_inside_telegrams_limits(database_url: str) -> None:
    """The stand-in enforces 30/s overall and 1/s per chat (no bursts); sending 45 messages
    to 15 people with the same limits configured here draws no 429 at all."""
    async with BotAPIStandIn(global_rate=30, per_chat_rate=1) as standin:
        clock = ManualClock(START)
        services = rig_services(database_url, clock, generate_key())
        bot = await paced_bot(standin, global_rate=30.0, per_chat_rate=1.0, per_chat_burst=1)
        paced = Rig(services, standin, bot, clock)
        people = [paced.user(6600 + n) for n in range(15)]
        for part in range(3):
            for chat in people:
                await paced.queue(chat, f"m{part}")
        try:
            for _round in range(10):
                if all(r.status == "sent" for r in await rows(paced)):
                    break
                await sender(paced).deliver()
                clock.advance(seconds=1)  # lets a rescheduled message come due (there is none)
        finally:
            await bot.shutdown()
            await services.db.dispose()
        assert standin.stats()["too_many_requests_sent"] == 0
        assert all(paced.texts_to(c) == ["m0", "m1", "m2"] for c in people)


def test_gcra_spaces_events_and_allows_the_configured_burst() -> None:
    """3 per second with bursts of 2: two at once, then one every third of a second."""
    pacer = Gcra(3.0, burst=2)
    waits = [pacer.reserve(10.0) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 1 / 3, 2 / 3])
    pacer.hold_until(20.0)
    assert pacer.reserve(10.0) == pytest.approx(10.0)


def test_the_keyboard_is_sent_as_the_json_python_telegram_bot_would_make() -> None:
    """The outbox writes the inline keyboard's JSON itself; it is the same keyboard, labels
    (any script) and callback data, that an InlineKeyboardMarkup serialises to."""
    buttons = [
        [("5 · völlig", "a:12:bond:5")],
        [("Überspringen ✓", "a:12:comment:skip"), ("x", "sy")],
    ]
    markup = keyboard(buttons)
    assert markup is not None
    assert json.loads(keyboard_json(buttons)) == markup.to_dict()
