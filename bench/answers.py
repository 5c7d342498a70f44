"""Answer handling: many clients tapping through their check-ins at once, against the floor.

Run: .venv/bin/python bench/answers.py [--backend sqlite|postgres|both] [--clients 1000 [200 …]]
                                       [--floor-on httpx aiohttp] [--py-spy FOLDER]

CLIENTS people each have a check-in open. All of them answer at once, tapping the first
button of each question as soon as the edited message shows it (six taps: four
scales, "No" to tension, then "Skip" for the comment). Latency is from the tap reaching
the stand-in to the stand-in receiving the edited message. The bot is the real one
(`python -m bot run`, polling) in its own process; the stand-in and the tapping run
here. The same taps then go to bench/floor_bot.py, a bare python-telegram-bot bot that
only answers the callback and edits the message: the framework's floor. It runs on
python-telegram-bot's own HTTP transport (httpx, its default, as a first bot would) and,
unless left out with --floor-on, on the aiohttp transport the bot uses (bot/transport.py),
so that the ratio against it shows what the bot adds beyond the HTTP layer it chose. The
floor runs once per burst size and is printed beside every backend.

With --py-spy FOLDER each process is sampled by py-spy while the taps run (one raw
profile per process; read them with bench/profile_summary.py). Sampling costs a few per
cent of CPU: measure without it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
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
from spy import py_spy

from bot.clock import SystemClock
from bot.offline.standin import BotAPIStandIn, FakeUser
from storage.crypto import generate_key
from storage.db import Database

TAPS = 6  # bond, goals, tasks, openness, tension ("No"), comment ("Skip")
FLOOR_TRANSPORTS = ("httpx", "aiohttp")


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
    standin: BotAPIStandIn, users: list[FakeUser], taps: int, pid: int, profile: Path | None
) -> dict[str, float]:
    """Everyone taps at once; answers/s, latency percentiles (ms) and the bot's CPU per answer.

    CPU time per answer is the figure that holds when other work shares the machine:
    throughput and latency then depend on how much of a core the bot was given.
    """
    watch = EditWatch(standin)
    with py_spy(pid, profile):
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


async def bench_ours(backend: str, clients: int, profile: Path | None) -> dict[str, float]:
    """The real bot: check-ins go out, then everyone answers."""
    async with BotAPIStandIn(token=TOKEN) as standin, fresh_database(backend) as url:
        users = [FakeUser(id=FIRST_CHAT + n, first_name=f"C{n}") for n in range(clients)]
        for user in users:
            standin.register_user(user)
        key = generate_key()
        db = Database(url)
        await seed_practice(
            db,
            # 40 clients per therapist, the last therapist taking the rest: exactly as many
            # clients as tap (a burst that is not a multiple of 40 waited for people never
            # seeded, until the 300 s timeout).
            therapists=-(-clients // 40),
            clients_per_therapist=min(40, clients),
            client_count=clients,
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
            return await run_all(standin, users, TAPS, bot.pid, profile)
        finally:
            bot.terminate()
            await asyncio.to_thread(bot.wait, 60)  # the stand-in keeps answering meanwhile


async def bench_floor(clients: int, transport: str, profile: Path | None) -> dict[str, float]:
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
                transport,
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        try:
            await standin.wait_for(lambda: standin.polls_waiting > 0, timeout=300)
            return await run_all(standin, users, TAPS, floor.pid, profile)
        finally:
            floor.terminate()
            await asyncio.to_thread(floor.wait, 60)


def main() -> None:
    """Run the bot and the floor for each burst size and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--clients", type=int, nargs="+", default=[1000])
    parser.add_argument(
        "--floor-on",
        nargs="+",
        choices=FLOOR_TRANSPORTS,
        default=list(FLOOR_TRANSPORTS),
        help="the floor's HTTP transport(s)",
    )
    parser.add_argument("--py-spy", type=Path, help="write a py-spy profile per process here")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"answer benchmark on {machine()}, {TAPS} taps per client")
    for clients in args.clients:

        def profile(name: str, size: int = clients) -> Path | None:
            return args.py_spy / f"answers-{size}-{name}.txt" if args.py_spy else None

        ours = {b: asyncio.run(bench_ours(b, clients, profile(b))) for b in backends}
        floors = {
            t: asyncio.run(bench_floor(clients, t, profile(f"floor-{t}"))) for t in args.floor_on
        }
        print()
        print(f"{clients} clients x {TAPS} taps (load average {load_average()})")
        print(
            f"{'':28} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'no edit':>8} "
            f"{'CPU ms/answer':>14} {'cores used':>11}"
        )
        rows = [(f"alliance bot ({b})", row) for b, row in ours.items()]
        rows += [(f"bare PTB on {t} (floor)", row) for t, row in floors.items()]
        for name, row in rows:
            print(
                f"{name:28} {row['rate']:>10.0f} {row['p50_ms']:>8.0f} {row['p99_ms']:>8.0f} "
                f"{row['unanswered']:>8} {row['cpu_ms']:>14.2f} {row['cpu_share']:>11.2f}"
            )
        for backend, row in ours.items():
            for transport, floor in floors.items():
                print(
                    f"{backend} ÷ floor on {transport}: CPU per answer "
                    f"{row['cpu_ms'] / floor['cpu_ms']:.2f}x, throughput "
                    f"{throughput_ratio(row['rate'], floor['rate'])}, "
                    f"p50 {row['p50_ms'] / floor['p50_ms']:.2f}x"
                )


def load_average() -> str:
    """The machine's 1-minute load average now (how busy the shared cores were)."""
    return f"{os.getloadavg()[0]:.1f}"


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
