"""Rows held by a worker that stopped, risk alerts ahead of their chat's line, and keys a
worker lacks (issue 17; issue 10 §4 "key rotation can park messages for good")."""

from __future__ import annotations

import asyncio
import logging

import pytest
from rig import Rig, rig_services
from sqlmodel import col, select

from bot import metrics
from bot.checkins.lifecycle import on_sent, on_unreachable
from bot.privacy.keys import rotate
from bot.sending.flood import Gate
from bot.sending.sender import KEY_MISSING, KEY_MISSING_DELAY, UNREADABLE, Presence, Sender
from storage.crypto import Cipher, generate_key
from storage.models import OutboxMessage
from storage.states import OutboxState


def sender(rig: Rig, presence: Presence | None = None, services: object = None) -> Sender:
    """A sender with the dispatcher's hooks, as a running worker when given a presence."""
    return Sender(
        services or rig.services,  # type: ignore[arg-type]
        rig.bot,
        on_sent=on_sent,
        on_unreachable=on_unreachable,
        presence=presence,
    )


async def rows(rig: Rig) -> list[OutboxMessage]:
    """Every outbox row, oldest first."""
    async with rig.services.db.session() as session:
        return list(
            (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        )


async def running(rig: Rig, name: str) -> Presence:
    """A running worker's presence (on PostgreSQL it takes its advisory lock)."""
    presence = Presence(rig.services.db, name)
    await presence.hold()
    return presence


async def dies_mid_send(rig: Rig, name: str) -> list[OutboxMessage]:
    """A worker claims what is due, puts the first row on the wire, then is killed."""
    presence = await running(rig, name)
    dead = sender(rig, presence)
    claimed = await dead.claim(10)
    assert await dead._sending.submit(claimed[0].id or 0)
    await presence.release()  # kill -9: its database session ends, nothing else happens
    return claimed


async def test_a_restarted_worker_takes_back_its_own_rows_at_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Worker "bot-a" is killed holding two messages, one on the wire; restarted under the
    same name it sends both at once, not after the 60 s lease: the one on the wire is
    logged as a possible duplicate, the other goes silently, neither goes a third time."""
    ola, pia = rig.user(7001), rig.user(7002)
    await rig.queue(ola, "for ola")
    await rig.queue(pia, "for pia")
    claimed = await dies_mid_send(rig, "bot-a")
    before = metrics.POSSIBLE_DUPLICATES._value.get()

    restarted = sender(rig, await running(rig, "bot-a"))
    assert await sender(rig).deliver() == (0, 0), "without the takeover the lease holds"
    with caplog.at_level(logging.WARNING, logger="bot.sending.sender"):
        assert await restarted.take_over_from_stopped_workers() == 2
        assert (await restarted.deliver())[1] == 2
    assert caplog.text.count("may arrive twice") == 1
    assert f"outbox {claimed[0].id} " in caplog.text
    assert metrics.POSSIBLE_DUPLICATES._value.get() == before + 1
    assert rig.texts_to(ola) == ["for ola"] and rig.texts_to(pia) == ["for pia"]
    assert {r.status for r in await rows(rig)} == {"sent"}
    assert restarted.presence is not None
    await restarted.presence.release()


async def test_a_live_workers_rows_are_left_alone(rig: Rig, database_url: str) -> None:
    """Worker "bot-b" is alive and holds a message: "bot-a" does not take it."""
    ola = rig.user(7011)
    await rig.queue(ola, "for ola")
    alive = await running(rig, "bot-b")
    assert len(await sender(rig, alive).claim(10)) == 1
    other = sender(rig, await running(rig, "bot-a"))
    assert await other.take_over_from_stopped_workers() == 0
    assert await other.deliver() == (0, 0)
    assert rig.texts_to(ola) == []
    for presence in (alive, other.presence):
        assert presence is not None
        await presence.release()


async def test_a_dead_workers_rows_are_taken_over_by_another_worker(
    rig: Rig, database_url: str
) -> None:
    """PostgreSQL: worker "bot-b" dies holding two messages; worker "bot-a" (another name,
    another process) sees its lock gone and sends both at once. On SQLite (one process
    only) another name's rows wait for their lease."""
    ola, pia = rig.user(7021), rig.user(7022)
    await rig.queue(ola, "for ola")
    await rig.queue(pia, "for pia")
    await dies_mid_send(rig, "bot-b")
    other = sender(rig, await running(rig, "bot-a"))
    taken = await other.take_over_from_stopped_workers()
    if database_url.startswith("sqlite"):
        assert taken == 0
        rig.clock.advance(seconds=rig.services.settings.send_lease_seconds + 1)
    else:
        assert taken == 2
    assert (await other.deliver())[1] == 2
    assert rig.texts_to(ola) == ["for ola"] and rig.texts_to(pia) == ["for pia"]
    assert other.presence is not None
    await other.presence.release()


async def test_a_risk_alert_overtakes_the_waiting_rows_of_its_chat(rig: Rig) -> None:
    """The therapist's chat has a notice held by a worker that stalled and another waiting
    behind it; a risk alert queued after both goes out now. The notices keep their order."""
    therapist = rig.user(7031)
    await rig.queue(therapist, "notice 1")
    stalled = sender(rig)
    assert len(await stalled.claim(1)) == 1
    await rig.queue(therapist, "notice 2")
    await rig.queue(therapist, "RISK ALERT", kind="alert")

    assert (await sender(rig).deliver())[1] == 1
    assert rig.texts_to(therapist) == ["RISK ALERT"]
    rig.clock.advance(seconds=rig.services.settings.send_lease_seconds + 1)
    await sender(rig).deliver()
    await sender(rig).deliver()
    assert rig.texts_to(therapist) == ["RISK ALERT", "notice 1", "notice 2"]


async def test_an_alert_goes_before_ordinary_rows_queued_earlier_in_one_claim(rig: Rig) -> None:
    """Nothing held: three notices then an alert to one chat; the alert arrives first,
    and a later alert waits for the earlier one."""
    therapist = rig.user(7041)
    for n in (1, 2, 3):
        await rig.queue(therapist, f"notice {n}")
    await rig.queue(therapist, "alert 1", kind="alert")
    await rig.queue(therapist, "alert 2", kind="alert")
    for _ in range(6):
        await sender(rig).deliver()
    assert rig.texts_to(therapist) == ["alert 1", "alert 2", "notice 1", "notice 2", "notice 3"]


async def _queue_under(rig: Rig, database_url: str, key: str, chat: int, text: str) -> None:
    """Queue a message as a worker whose ENCRYPTION_KEYS is ``key`` would."""
    writer = rig_services(database_url, rig.clock, key)
    try:
        await Rig(writer, rig.standin, rig.bot, rig.clock).queue(chat, text)
    finally:
        await writer.db.dispose()


async def test_a_worker_without_the_key_leaves_the_row_to_one_that_has_it(
    rig: Rig, database_url: str
) -> None:
    """A message is queued under a new key; a worker still on the old keys does not claim
    or park it (and sends the next one), a worker with the new key sends it."""
    new = generate_key()
    ada, ben = rig.user(7051), rig.user(7052)
    await _queue_under(
        rig, database_url, f"{new},{rig.services.settings.require_encryption_keys()}", ada, "a"
    )
    await rig.queue(ben, "b")
    assert (await sender(rig).deliver())[1] == 1
    row = next(r for r in await rows(rig) if r.chat_id == ada)
    assert row.status == "pending" and row.attempts == 0
    requeued, waiting = await sender(rig).check_keys()
    assert (requeued, waiting) == (0, 1)

    both = rig_services(
        database_url, rig.clock, f"{new},{rig.services.settings.require_encryption_keys()}"
    )
    try:
        assert (await sender(rig, services=both).deliver())[1] == 1
    finally:
        await both.db.dispose()
    assert rig.texts_to(ada) == ["a"] and rig.texts_to(ben) == ["b"]


async def test_a_claimed_row_whose_key_is_missing_is_released_with_a_delay(
    rig: Rig, database_url: str
) -> None:
    """A worker holding a row it cannot open (its key vanished under the claim) puts it
    back for later instead of parking it; nothing counts as an attempt."""
    new = generate_key()
    ada = rig.user(7061)
    keys = f"{new},{rig.services.settings.require_encryption_keys()}"
    await _queue_under(rig, database_url, keys, ada, "a")
    both = rig_services(database_url, rig.clock, keys)
    try:
        holder = sender(rig, services=both)
        (row,) = await holder.claim(10)
    finally:
        await both.db.dispose()
    keyless = sender(rig)
    keyless.claim_id = holder.claim_id  # the same worker, after its key was dropped
    assert await keyless._deliver_one(row) == "released"
    (stored,) = await rows(rig)
    assert stored.status == "pending" and stored.attempts == 0
    assert stored.last_error == KEY_MISSING
    assert stored.not_before == rig.clock.now() + KEY_MISSING_DELAY


async def test_rows_parked_for_an_unknown_key_are_sent_once_the_key_is_there(
    rig: Rig, database_url: str
) -> None:
    """Rows an older version parked as "payload unreadable" because it lacked the key go
    out once a worker has the key; a row that was altered stays parked."""
    ada, ben = rig.user(7071), rig.user(7072)
    await rig.queue(ada, "for ada")
    await rig.queue(ben, "for ben")
    async with rig.services.db.session() as session:
        for row in (await session.exec(select(OutboxMessage))).all():
            row.status, row.last_error = OutboxState.PARKED, UNREADABLE
            if row.chat_id == ben:
                token = bytearray(row.payload_ciphertext)
                token[-1] ^= 1
                row.payload_ciphertext = bytes(token)
    assert await sender(rig).check_keys() == (1, 0)
    assert (await sender(rig).deliver())[1] == 1
    assert rig.texts_to(ada) == ["for ada"] and rig.texts_to(ben) == []
    parked = next(r for r in await rows(rig) if r.chat_id == ben)
    assert parked.status == "parked" and parked.last_error == f"{UNREADABLE}: altered"
    assert await sender(rig).check_keys() == (0, 0)


async def test_rotate_keys_warns_when_workers_hold_messages(rig: Rig) -> None:
    """rotate-keys while a worker holds a message: the report says workers need the key."""
    await rig.queue(rig.user(7081), "held")
    quiet = await rotate(rig.services.db, rig.services.cipher, now=rig.clock.now())
    assert quiet.held_by_workers == 0
    assert not any("Warning" in line for line in quiet.lines())
    assert len(await sender(rig).claim(10)) == 1
    cipher = Cipher.from_setting(
        f"{generate_key()},{rig.services.settings.require_encryption_keys()}"
    )
    report = await rotate(rig.services.db, cipher, now=rig.clock.now())
    assert report.held_by_workers == 1
    assert any("held 1 outbox message" in line and "newest key" in line for line in report.lines())


async def test_at_most_one_send_is_in_doubt_at_a_time(rig: Rig) -> None:
    """Telegram holds every request; five messages to five people are due. Only one
    request is on the wire (and only its row "sending"): a kill -9 now could duplicate one
    message, not five. Released, all five arrive once."""
    people = [rig.user(7091 + n) for n in range(5)]
    for chat in people:
        await rig.queue(chat, "hello")
    rig.standin.stall_next(5, method="sendMessage")
    delivering = asyncio.create_task(sender(rig).deliver())
    await rig.standin.wait_for(lambda: rig.standin.stalled_requests >= 1, timeout=10)
    await asyncio.sleep(0.3)  # time for any other request to leave, if it could
    assert rig.standin.stalled_requests == 1
    assert sum(r.status == "sending" for r in await rows(rig)) == 1
    rig.standin.release_stalled()
    assert (await asyncio.wait_for(delivering, 30))[1] == 5
    assert all(rig.texts_to(chat) == ["hello"] for chat in people)


async def test_an_alert_gets_the_next_place_in_doubt_before_waiting_messages() -> None:
    """The gate that bounds sends in doubt lets an alert in before ordinary waiters."""
    gate = Gate(1)
    await gate.acquire()
    order: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await gate.acquire(priority)
        order.append(name)
        gate.release()

    waiting = [asyncio.create_task(wait(f"notice {n}", 1)) for n in range(3)]
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(wait("alert", 0)))
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*waiting)
    assert order == ["alert", "notice 0", "notice 1", "notice 2"]
    assert gate.held == 0
