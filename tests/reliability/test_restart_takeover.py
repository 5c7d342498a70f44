"""Real processes: a worker killed -9 with a message on the wire and restarted at once takes
back what it held without waiting out its lease (issue 17), and repeats at most one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from procs import Worker, eventually, outbox_rows, seed, start_worker, worker_env

from bot.offline.standin import BotAPIStandIn
from storage.crypto import generate_key

pytestmark = pytest.mark.workers


@pytest.fixture
async def standin() -> AsyncIterator[BotAPIStandIn]:
    """The Bot API stand-in on loopback, in this process."""
    async with BotAPIStandIn() as server:
        yield server
        assert not server.internal_errors, server.internal_errors


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Processes started by a test; all stopped at the end."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


async def test_a_worker_restarted_after_kill_9_takes_back_its_messages_at_once(
    database_url: str, standin: BotAPIStandIn, workers: list[Worker], tmp_path: Path
) -> None:
    """Ten check-ins at 5/s, a 10-minute lease. The worker is killed while Telegram holds
    one of its requests (which then takes effect) and is restarted at once: everything is
    delivered within two minutes, not after the lease; one message at most arrives twice,
    and the restarted worker logged the takeover."""
    key = generate_key()
    practice = await seed(database_url, key, standin, 10, digest_due=False)
    env = worker_env(
        standin, database_url, key, send_rate_global=5, send_lease_seconds=600, worker_name="w1"
    )
    first = start_worker(env, tmp_path / "first.log")
    workers.append(first)
    await standin.wait_for(
        lambda: sum(bool(standin.sent_to(c)) for c in practice.client_chats) >= 3, timeout=90
    )
    standin.stall_next(method="sendMessage")
    await standin.wait_for(lambda: standin.stalled_requests >= 1, timeout=30)
    first.kill9()
    standin.release_stalled()  # the request had reached Telegram
    second = start_worker(env, tmp_path / "second.log")
    workers.append(second)

    async def everyone_has_it() -> bool:
        return all(standin.sent_to(c) for c in practice.client_chats) and all(
            r.status == "sent" for r in await outbox_rows(database_url)
        )

    await eventually(everyone_has_it, 120, "every check-in delivered well before the lease")
    copies = [len(standin.sent_to(c)) for c in practice.client_chats]
    assert all(n in (1, 2) for n in copies) and sum(copies) - len(copies) <= 1
    assert "taking over" in second.log()
    assert await second.terminate() == 0
