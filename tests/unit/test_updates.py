"""Several people's updates at once, one person's in order (bot.updates)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update, User

from bot.updates import PerPersonUpdateProcessor, person_of


def _update(update_id: int, user_id: int) -> Update:
    user = User(id=user_id, first_name="Invented", is_bot=False)
    chat = Chat(id=user_id, type=Chat.PRIVATE)
    message = Message(
        message_id=update_id, date=datetime(2026, 6, 2, tzinfo=UTC), chat=chat, from_user=user
    )
    return Update(update_id=update_id, message=message)


async def test_one_persons_updates_run_in_order_and_others_run_alongside() -> None:
    processor = PerPersonUpdateProcessor(limit=4)
    log: list[str] = []
    gates = {name: asyncio.Event() for name in ("a1", "a2", "b1")}

    async def handle(name: str) -> None:
        log.append(f"start {name}")
        await gates[name].wait()
        log.append(f"end {name}")

    # As python-telegram-bot does: one task per update, started in arrival order.
    tasks = [
        asyncio.create_task(processor.process_update(_update(1, 100), handle("a1"))),
        asyncio.create_task(processor.process_update(_update(2, 100), handle("a2"))),
        asyncio.create_task(processor.process_update(_update(3, 200), handle("b1"))),
    ]
    for _ in range(5):
        await asyncio.sleep(0)  # let the tasks reach their waits (no time passes)
    assert log == ["start a1", "start b1"], "b1 runs beside a1; a2 waits for a1"
    assert processor.people_in_flight == 2

    gates["b1"].set()
    gates["a2"].set()  # released early: must still not start before a1 has ended
    for _ in range(5):
        await asyncio.sleep(0)
    assert "start a2" not in log
    gates["a1"].set()
    await asyncio.gather(*tasks)
    assert log.index("end a1") < log.index("start a2")
    assert processor.people_in_flight == 0, "locks are forgotten once nobody waits"


async def test_the_concurrency_bound_holds() -> None:
    processor = PerPersonUpdateProcessor(limit=2)
    running = 0
    most = 0
    release = asyncio.Event()

    async def handle() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1

    tasks = [
        asyncio.create_task(processor.process_update(_update(n, 1000 + n), handle()))
        for n in range(6)
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    assert running == 2
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2


async def test_one_persons_backlog_holds_one_slot() -> None:
    """Two slots; A sends three updates at once, then B and C one each. A's later updates
    wait for A's first without a slot, so B runs at once and C as soon as B is done."""
    processor = PerPersonUpdateProcessor(limit=2)
    log: list[str] = []
    gates = {name: asyncio.Event() for name in ("a1", "a2", "a3", "b1", "c1")}

    async def handle(name: str) -> None:
        log.append(f"start {name}")
        await gates[name].wait()

    arrivals = [("a1", 100), ("a2", 100), ("a3", 100), ("b1", 200), ("c1", 300)]
    tasks = [
        asyncio.create_task(processor.process_update(_update(n, person), handle(name)))
        for n, (name, person) in enumerate(arrivals)
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    assert log == ["start a1", "start b1"]
    gates["b1"].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert log == ["start a1", "start b1", "start c1"], "C took B's slot, not A's backlog"
    for gate in gates.values():
        gate.set()
    await asyncio.gather(*tasks)
    assert log[3:] == ["start a2", "start a3"]


def test_whose_update_it_is() -> None:
    assert person_of(_update(1, 42)) == 42
    assert person_of(Update(update_id=2)) is None
    assert person_of("not an update") is None
