"""Real bot processes: two workers on one PostgreSQL database, kill -9, SIGTERM, webhook.

These start `python -m bot run` as separate processes against the Bot API stand-in on
loopback, with a real scheduler on wall-clock time made fast by settings (check-ins due
at once, a dispatcher pass every 0.3 s, short leases). They are few and marked
``workers``; CI runs them.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from procs import Worker, eventually, outbox_rows, seed, start_worker, worker_env

from bot.offline.standin import BotAPIStandIn
from storage.crypto import generate_key

pytestmark = pytest.mark.workers

SECRET = "test-secret_0123456789"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


def postgres_only(database_url: str) -> None:
    """Several workers are a PostgreSQL set-up (SQLite is for one process)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers share PostgreSQL; SQLite is for a single process")


async def test_two_webhook_workers_send_every_checkin_reminder_and_digest_exactly_once(
    database_url: str, standin: BotAPIStandIn, workers: list[Worker], tmp_path: Path
) -> None:
    """Twenty clients' check-ins and a digest fall due; two workers share the database and
    one webhook port. Each client gets one check-in and, later, one reminder; the therapist
    gets the digest once; both workers did part of the sending."""
    postgres_only(database_url)
    key = generate_key()
    practice = await seed(database_url, key, standin, 20, digest_due=True)
    port = free_port()
    env = worker_env(
        standin,
        database_url,
        key,
        reminder_after_hours=4 / 3600,  # four seconds after the check-in
        send_rate_global=15,  # Telegram's 30/s split between two workers
        webhook_url=f"http://127.0.0.1:{port}/telegram",
        webhook_secret_token=SECRET,
        webhook_port=port,
    )
    for n in range(2):
        workers.append(start_worker(env, tmp_path / f"worker{n}.log", "--webhook"))

    async def all_sent() -> bool:
        rows = await outbox_rows(database_url)
        kinds = Counter(r.kind for r in rows if r.status == "sent")
        return kinds["checkin"] == 20 and kinds["reminder"] == 20 and kinds["digest"] >= 1

    await eventually(all_sent, 90, "20 check-ins, 20 reminders and the digest sent")
    rows = await outbox_rows(database_url)
    for chat in practice.client_chats:
        mine = [r for r in rows if r.chat_id == chat]
        assert sorted(r.kind for r in mine) == ["checkin", "reminder"]
        assert len(standin.sent_to(chat)) == 2, "each message arrived exactly once"
    digest_rows = [r for r in rows if r.chat_id == practice.therapist_chat]
    assert digest_rows and all(r.kind == "digest" for r in digest_rows)
    assert len(standin.sent_to(practice.therapist_chat)) == len(digest_rows)
    senders = {(r.lease_owner or "").rsplit(":", 1)[0] for r in rows}
    assert len(senders) == 2, "both workers sent some of them"
    for worker in workers:
        assert "Traceback" not in worker.log()
        assert await worker.terminate() == 0


async def test_kill_9_mid_sending_loses_nothing_and_logs_each_possible_duplicate(
    database_url: str, standin: BotAPIStandIn, workers: list[Worker], tmp_path: Path
) -> None:
    """A worker sending thirty check-ins at 10/s is killed with SIGKILL part-way; a new
    worker finishes: every client has the check-in, none more than twice, and every
    second copy is one the new worker logged as possibly duplicated."""
    key = generate_key()
    practice = await seed(database_url, key, standin, 30, digest_due=False)
    env = worker_env(standin, database_url, key, send_rate_global=10)
    first = start_worker(env, tmp_path / "first.log")
    workers.append(first)
    await standin.wait_for(
        lambda: sum(bool(standin.sent_to(c)) for c in practice.client_chats) >= 8, timeout=60
    )
    first.kill9()
    second = start_worker(env, tmp_path / "second.log")
    workers.append(second)

    async def everyone_has_it() -> bool:
        return all(standin.sent_to(c) for c in practice.client_chats) and all(
            r.status == "sent" for r in await outbox_rows(database_url)
        )

    await eventually(everyone_has_it, 90, "every check-in delivered after the restart")
    rows = {r.chat_id: r for r in await outbox_rows(database_url)}
    log = second.log()
    for chat in practice.client_chats:
        copies = len(standin.sent_to(chat))
        assert copies in (1, 2)
        if copies == 2:
            assert f"outbox {rows[chat].id} (checkin): taken over" in log
    assert await second.terminate() == 0


async def test_sigterm_finishes_in_flight_work_and_returns_the_rest(
    database_url: str, standin: BotAPIStandIn, workers: list[Worker], tmp_path: Path
) -> None:
    """SIGTERM while sending slowly (2/s): the process exits cleanly within seconds, no
    message stays claimed, and the next worker sends the rest — nothing twice."""
    key = generate_key()
    practice = await seed(database_url, key, standin, 10, digest_due=False)
    env = worker_env(standin, database_url, key, send_rate_global=2, send_lease_seconds=60)
    first = start_worker(env, tmp_path / "first.log")
    workers.append(first)
    await standin.wait_for(
        lambda: sum(bool(standin.sent_to(c)) for c in practice.client_chats) >= 2, timeout=60
    )
    assert await first.terminate(within=30) == 0
    assert "bot stopped" in first.log()
    states = Counter(r.status for r in await outbox_rows(database_url))
    assert set(states) <= {"sent", "pending"}, states
    # Slow sending kept work in flight at the SIGTERM; the next worker need not be slow.
    workers.append(start_worker(env | {"SEND_RATE_GLOBAL": "30"}, tmp_path / "second.log"))

    async def everyone_has_it() -> bool:
        return all(standin.sent_to(c) for c in practice.client_chats)

    await eventually(everyone_has_it, 60, "the rest delivered by the next worker")
    assert all(len(standin.sent_to(c)) == 1 for c in practice.client_chats)


async def test_webhook_rejects_a_wrong_secret_and_reports_health_and_metrics(
    database_url: str, standin: BotAPIStandIn, workers: list[Worker], tmp_path: Path
) -> None:
    """Only Telegram (who knows the secret) may post updates; /healthz says the database
    answers; /metrics shows the counters without any personal data."""
    key = generate_key()
    practice = await seed(database_url, key, standin, 2, digest_due=False)
    port = free_port()
    env = worker_env(
        standin,
        database_url,
        key,
        webhook_url=f"http://127.0.0.1:{port}/telegram",
        webhook_secret_token=SECRET,
        webhook_port=port,
    )
    workers.append(start_worker(env, tmp_path / "hook.log", "--webhook"))
    base = f"http://127.0.0.1:{port}"
    await standin.wait_for(
        lambda: all(standin.sent_to(c) for c in practice.client_chats), timeout=60
    )
    update: dict[str, Any] = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "text": "/help",
            "chat": {"id": 1, "type": "private"},
            "from": {"id": 1, "is_bot": False, "first_name": "X"},
        },
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/telegram", json=update) as response:
            assert response.status == 403
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}
        async with http.post(f"{base}/telegram", json=update, headers=wrong) as response:
            assert response.status == 403
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
            assert (await response.json())["database"] is True
        page = ""

        async def counted() -> bool:
            nonlocal page
            async with http.get(f"{base}/metrics") as response:
                page = await response.text()
            return 'alliance_outbox_messages{status="sent"} 2.0' in page

        # The stand-in has the messages a moment before the worker has recorded them.
        await eventually(counted, 10, "both check-ins counted")
    assert 'alliance_messages_sent_total{kind="checkin"} 2.0' in page
    assert 'alliance_outbox_messages{status="sent"} 2.0' in page
    assert "Client1" not in page and str(practice.client_chats[0]) not in page
    assert not [c for c in standin.calls if c.method == "sendMessage" and c.chat_id == 1]

    # With the secret, an update is handled completely before the 200 goes back.
    client = practice.client_chats[0]
    replies = len(standin.sent_to(client))
    update["update_id"] = 2
    update["message"]["chat"] = {"id": client, "type": "private"}
    update["message"]["from"] = {"id": client, "is_bot": False, "first_name": "Client"}
    right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/telegram", json=update, headers=right) as response,
    ):
        assert response.status == 200
    assert len(standin.sent_to(client)) == replies + 1, "the reply went out before the 200"
