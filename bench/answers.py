"""Answer handling: many clients tapping through their check-ins at once, against the floor.

Run: .venv/bin/python bench/answers.py [--backend sqlite|postgres] [--clients 1000]

CLIENTS people each have a check-in open. All of them answer at once, tapping the first
button of each question as soon as the edited message shows it (seven taps: four
scales, "No" to tension, then "Skip" for the comment). Latency is from the tap reaching
the stand-in to the stand-in receiving the edited message. The bot is the real one
(`python -m bot run`, polling) in its own process; the stand-in and the tapping run
here. The same taps then go to bench/floor_bot.py, a bare python-telegram-bot bot that
only answers the callback and edits the message: the framework's floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import psutil
from common import (
    FIRST_CHAT,
    ROOT,
    TOKEN,
    fresh_database,
    machine,
    now_outside_quiet_hours,
    seed_practice,
)

from bot.clock import SystemClock
from bot.offline.standin import BotAPIStandIn, FakeUser
from storage.crypto import generate_key
from storage.db import Database

TAPS = 6  # bond, goals, tasks, openness, tension ("No"), comment ("Skip")


class EditWatch:
    """Resolves a future when the stand-in records an edit in a chat (no polling)."""

    def __init__(self, standin: BotAPIStandIn) -> None:
        self.waiting: dict[int, asyncio.Future[float]] = {}
        original = standin._record

        def record(method: str, params: Any, **kwargs: Any) -> Any:
            call = original(method, params, **kwargs)
            if method == "editMessageText" and call.ok:
                future = self.waiting.pop(int(call.chat_id or 0), None)
                if future is not None and not future.done():
                    future.set_result(time.perf_counter())
            return call

        standin._record = record  # type: ignore[method-assign]

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        """A future for the next edit in this chat."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[chat_id] = future
        return future


async def tap_through(
    standin: BotAPIStandIn, watch: EditWatch, user: FakeUser, taps: int
) -> list[float]:
    """Tap the first button of the bot's newest message, ``taps`` times; latencies in s."""
    latencies: list[float] = []
    for _ in range(taps):
        message = standin.last_bot_message(user.id)
        assert message is not None and message.buttons, "no buttons to tap"
        done = watch.expect(user.id)
        start = time.perf_counter()
        standin.press(user, message.message_id, message.buttons[0].data or "")
        try:
            latencies.append(await asyncio.wait_for(done, 60) - start)
        except TimeoutError:
            # No edit came (e.g. the bot fell so far behind that Telegram's window for
            # answering the tap closed): count it and let this person stop.
            latencies.append(float("inf"))
            break
    return latencies


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (all its threads)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def run_all(
    standin: BotAPIStandIn, users: list[FakeUser], taps: int, pid: int
) -> dict[str, float]:
    """Everyone taps at once; answers/s, latency percentiles (ms) and the bot's CPU per answer.

    CPU time per answer is the figure that holds when other work shares the machine:
    throughput and latency then depend on how much of a core the bot was given.
    """
    watch = EditWatch(standin)
    cpu_before = _cpu_seconds(pid)
    started = time.perf_counter()
    results = await asyncio.gather(*(tap_through(standin, watch, u, taps) for u in users))
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(pid) - cpu_before
    every = [x for per_user in results for x in per_user]
    latencies = sorted(x for x in every if x != float("inf"))
    return {
        "unanswered": len(every) - len(latencies),
        "answers": len(latencies),
        "seconds": elapsed,
        "rate": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "cpu_ms": 1000 * cpu / len(latencies) if latencies else float("nan"),
        "cpu_share": cpu / elapsed,
    }


def _env(standin: BotAPIStandIn, url: str, key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": standin.base_url,
            "DATABASE_URL": url,
            "ENCRYPTION_KEYS": key,
            "DISPATCH_INTERVAL_SECONDS": "5",
            "SEND_RATE_GLOBAL": "1000",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update({k.upper(): v for k, v in now_outside_quiet_hours().items()})
    return env


async def bench_ours(backend: str, clients: int) -> dict[str, float]:
    """The real bot: check-ins go out, then everyone answers."""
    async with BotAPIStandIn(token=TOKEN) as standin, fresh_database(backend) as url:
        users = [FakeUser(id=FIRST_CHAT + n, first_name=f"C{n}") for n in range(clients)]
        for user in users:
            standin.register_user(user)
        key = generate_key()
        db = Database(url)
        await seed_practice(
            db,
            therapists=max(1, clients // 40),
            clients_per_therapist=min(40, clients),
            now=SystemClock().now(),
            due_checkins=True,
        )
        await db.dispose()
        # Popen returns at once; the bot runs alongside.
        bot = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=_env(standin, url, key),
            stdin=subprocess.DEVNULL,
        )
        try:
            await standin.wait_for(
                lambda: all(standin.last_bot_message(u.id) for u in users), timeout=300
            )
            return await run_all(standin, users, TAPS, bot.pid)
        finally:
            bot.terminate()
            await asyncio.to_thread(bot.wait, 60)  # the stand-in keeps answering meanwhile


async def bench_floor(clients: int) -> dict[str, float]:
    """The bare python-telegram-bot bot through the same stand-in and taps."""
    async with BotAPIStandIn(token=TOKEN) as standin:
        users = [FakeUser(id=FIRST_CHAT + n, first_name=f"C{n}") for n in range(clients)]
        for user in users:
            standin.register_user(user)
        # Popen returns at once; the bot runs alongside.
        floor = subprocess.Popen(  # noqa: ASYNC220
            [
                sys.executable,
                str(ROOT / "bench" / "floor_bot.py"),
                standin.base_url,
                TOKEN,
                str(FIRST_CHAT),
                str(clients),
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        try:
            await standin.wait_for(lambda: standin.polls_waiting > 0, timeout=300)
            return await run_all(standin, users, TAPS, floor.pid)
        finally:
            floor.terminate()
            await asyncio.to_thread(floor.wait, 60)


def main() -> None:
    """Run both and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=1000)
    args = parser.parse_args()
    print(f"answer benchmark on {machine()}: {args.clients} clients x {TAPS} taps")
    ours = asyncio.run(bench_ours(args.backend, args.clients))
    floor = asyncio.run(bench_floor(args.clients))
    print(
        f"{'':24} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'no edit':>8} "
        f"{'CPU ms/answer':>14} {'cores used':>11}"
    )
    for name, row in ((f"alliance bot ({args.backend})", ours), ("bare PTB (floor)", floor)):
        print(
            f"{name:24} {row['rate']:>10.0f} {row['p50_ms']:>8.0f} {row['p99_ms']:>8.0f} "
            f"{row['unanswered']:>8} {row['cpu_ms']:>14.2f} {row['cpu_share']:>11.2f}"
        )
    print(
        f"ratio to floor: throughput {throughput_ratio(ours['rate'], floor['rate'])}, "
        f"p50 {ours['p50_ms'] / floor['p50_ms']:.2f}x, "
        f"CPU per answer {ours['cpu_ms'] / floor['cpu_ms']:.2f}x"
    )


def throughput_ratio(ours: float, floor: float) -> str:
    """'1.35x slower' or '1.35x faster': the bot's answers/s against the bare floor's."""
    if ours <= 0 or floor <= 0:
        return "not measured"
    if ours < floor:
        return f"{floor / ours:.2f}x slower"
    if ours > floor:
        return f"{ours / floor:.2f}x faster"
    return "the same"


if __name__ == "__main__":
    main()
