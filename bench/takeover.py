"""Crash and restart with real processes: how late risk alerts reach the therapist, and how
many messages a kill -9 sends twice.

Run: .venv/bin/python bench/takeover.py [--backend sqlite|postgres|both] [--tree PATH]
                                        [--crashes 2] [--normal 8] [--dispatch 300]

Everything is real but Telegram: `python -m bot run` processes (polling, SEND_LEASE_SECONDS
at its default of 60 s, the default send rates) on a fresh database, the Bot API stand-in
on loopback in this process, kill -9 with no warning.

1. Risk alert latency: a client writes a risk statement; the figure is the time until the
   therapist's chat holds the alert quoting it.
   - normal running: ``--normal`` messages, one after another;
   - after a crash-restart: the stand-in holds the bot's request with one alert to the
     therapist (the request reaches "Telegram"), the bot is killed -9 while it waits and
     restarted at once; once the new process is up, clients write risk statements at
     1, 4, 8, 15, 25 and 40 s. Repeated ``--crashes`` times.
   - PostgreSQL, two webhook workers on one port: the one holding the alert is killed
     and not restarted;
     clients write risk statements at the same moments after the kill.
   Printed: p50 and worst, and the time the restarted process took to come up.
2. Duplicates per crash: ``--dispatch`` clients' check-ins fall due at once and go out at
   30/s; the bot is killed -9 four times during the dispatch (after 15 %, 35 %, 55 % and
   75 % have arrived) and restarted at once each time. Printed per crash: the rows in doubt
   at the kill ("sending": a request may have reached Telegram) and the copies that
   actually arrived twice by the next kill; then lost messages (must be 0).

``--tree`` runs the bot from another checkout (for a before/after comparison: the
bench, the stand-in and the seeding always come from this one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from common import ROOT, free_port, fresh_database, machine

sys.path.insert(0, str(ROOT / "tests" / "reliability"))

from procs import Worker, outbox_rows, seed, worker_env  # noqa: E402

from bot.offline.standin import BotAPIStandIn, FakeUser  # noqa: E402
from storage.crypto import generate_key  # noqa: E402

RISK = "I want to end my life"
AFTER_RESTART = (1, 4, 8, 15, 25, 40)
KILL_AT = (0.15, 0.35, 0.55, 0.75)


def start(tree: Path, env: dict[str, str], log_path: Path, *args: str) -> Worker:
    """`python -m bot run [args]` from ``tree``, logging to a file."""
    handle = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", *args],
        cwd=tree,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    handle.close()
    return Worker(process, log_path)


async def until(check: Callable[[], Any], within: float, what: str) -> None:
    """Poll a condition every 50 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def running(worker: Worker, since: int, within: float = 60) -> None:
    """Wait until the process says it is running (its log past ``since`` bytes)."""
    await until(lambda: "bot running" in worker.log()[since:], within, "the bot to start")


@dataclass
class Trials:
    """Latencies of one set of trials, in seconds."""

    seconds: list[float] = field(default_factory=list)

    def line(self) -> str:
        """p50 and worst."""
        if not self.seconds:
            return "no trials"
        return (
            f"p50 {statistics.median(self.seconds):5.2f} s, worst {max(self.seconds):5.2f} s "
            f"({len(self.seconds)} trials)"
        )


class Practice:
    """The stand-in's view of the seeded practice."""

    def __init__(self, standin: BotAPIStandIn, therapist: int, clients: list[int]) -> None:
        self.standin = standin
        self.therapist = therapist
        self.clients = clients
        self.trial = 0

    def alerts_quoting(self, tag: str) -> int:
        """Copies of the alert quoting ``tag`` the therapist has."""
        return sum(tag in (m.text or "") for m in self.standin.sent_to(self.therapist))

    def write_risk(self, client: int) -> str:
        """The client writes a risk statement with a unique tag; returns the tag."""
        self.trial += 1
        tag = f"trial{self.trial}x"
        self.standin.send_text(FakeUser(id=client, first_name="Client"), f"{RISK} {tag}")
        return tag

    async def latency(self, client: int, delay: float = 0.0) -> float:
        """Seconds from the client's risk statement to the therapist's alert."""
        await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        began = loop.time()
        tag = self.write_risk(client)
        await until(lambda: self.alerts_quoting(tag) > 0, 180, "the alert")
        return loop.time() - began


async def alert_latency(backend: str, tree: Path, crashes: int, normal: int) -> None:
    """Part 1: risk message to therapist's alert, in normal running and after kill -9."""
    key = generate_key()
    async with fresh_database(backend) as url, BotAPIStandIn() as standin:
        seeded = await seed(url, key, standin, 2 + normal + crashes * 7, digest_due=False)
        practice = Practice(standin, seeded.therapist_chat, seeded.client_chats)
        env = worker_env(
            standin,
            url,
            key,
            send_lease_seconds=60,
            dispatch_interval_seconds=30,
            worker_name="bench-worker",
        )
        folder = Path(tempfile.mkdtemp(prefix="takeover-"))
        log_path = folder / "bot.log"
        worker = start(tree, env, log_path)
        try:
            await running(worker, 0)
            # Every client's check-in goes out first: the steady state.
            await until(
                lambda: all(standin.sent_to(c) for c in practice.clients), 120, "the check-ins"
            )
            clients = iter(practice.clients)
            steady = Trials()
            for _ in range(normal):
                steady.seconds.append(await practice.latency(next(clients)))
                await asyncio.sleep(0.5)
            restarted = Trials()
            boot: list[float] = []
            duplicates = 0
            for _ in range(crashes):
                standin.stall_next(method="sendMessage", chat_id=practice.therapist)
                held = practice.write_risk(next(clients))
                await until(lambda: standin.stalled_requests > 0, 60, "the held alert")
                worker.kill9()
                standin.release_stalled()  # the request had reached Telegram
                loop = asyncio.get_running_loop()
                began = loop.time()
                mark = len(worker.log())
                worker = start(tree, env, log_path)
                await running(worker, mark)
                boot.append(loop.time() - began)
                restarted.seconds.extend(
                    await asyncio.gather(
                        *(practice.latency(next(clients), delay) for delay in AFTER_RESTART)
                    )
                )
                await until(partial(practice.alerts_quoting, held), 120, "held alert")
                await asyncio.sleep(1)
                duplicates += practice.alerts_quoting(held) - 1
            print(f"  {backend:8} normal running        {steady.line()}")
            print(f"  {backend:8} first minute after a kill -9 and restart: {restarted.line()}")
            print(
                f"  {backend:8} restart to running:  {statistics.median(boot):.2f} s (p50); "
                f"the held alert arrived twice in {duplicates} of {crashes} crashes"
            )
        finally:
            worker.stop()


async def survivor_latency(tree: Path, crashes: int) -> None:
    """Part 1b (PostgreSQL): two workers; the one holding the therapist's alert is killed
    and not restarted; clients write risk statements, served by the survivor."""
    key = generate_key()
    async with fresh_database("postgres") as url, BotAPIStandIn() as standin:
        seeded = await seed(url, key, standin, 2 + crashes * 7, digest_due=False)
        practice = Practice(standin, seeded.therapist_chat, seeded.client_chats)
        folder = Path(tempfile.mkdtemp(prefix="takeover-"))
        port = free_port()
        envs = {
            name: worker_env(
                standin,
                url,
                key,
                send_lease_seconds=60,
                dispatch_interval_seconds=30,
                send_rate_global=15,
                worker_name=name,
                # Several workers take updates by webhook (one poller per bot at Telegram).
                webhook_url=f"http://127.0.0.1:{port}/telegram",
                webhook_secret_token="bench-secret_0123456789",
                webhook_port=port,
            )
            for name in ("w1", "w2")
        }
        workers = {
            name: start(tree, env, folder / f"{name}.log", "--webhook")
            for name, env in envs.items()
        }
        try:
            for worker in workers.values():
                await running(worker, 0)
            await until(
                lambda: all(standin.sent_to(c) for c in practice.clients), 120, "the check-ins"
            )
            clients = iter(practice.clients)
            survived = Trials()
            for _ in range(crashes):
                standin.stall_next(method="sendMessage", chat_id=practice.therapist)
                practice.write_risk(next(clients))
                await until(lambda: standin.stalled_requests > 0, 60, "the held alert")
                rows = await outbox_rows(url)
                owner = next(
                    (r.lease_owner or "")
                    for r in rows
                    if r.status == "sending" and r.chat_id == practice.therapist
                )
                holder = next(
                    name
                    for name, w in workers.items()
                    if owner.startswith(f"{name}/") or f":{w.process.pid}:" in owner
                )
                workers[holder].kill9()
                standin.release_stalled()
                survived.seconds.extend(
                    await asyncio.gather(
                        *(practice.latency(next(clients), delay) for delay in AFTER_RESTART)
                    )
                )
                mark = len(workers[holder].log())
                workers[holder] = start(tree, envs[holder], folder / f"{holder}.log", "--webhook")
                await running(workers[holder], mark)
            print(f"  postgres two workers, one killed -9 (not restarted): {survived.line()}")
        finally:
            for worker in workers.values():
                worker.stop()


async def dispatch_crashes(backend: str, tree: Path, count: int) -> None:
    """Part 2: kill -9 four times while ``count`` check-ins go out."""
    key = generate_key()
    async with fresh_database(backend) as url, BotAPIStandIn() as standin:
        seeded = await seed(url, key, standin, count, digest_due=False)
        chats = seeded.client_chats
        env = worker_env(standin, url, key, send_lease_seconds=60, worker_name="bench-worker")
        folder = Path(tempfile.mkdtemp(prefix="takeover-"))
        log_path = folder / "bot.log"

        copies: Counter[int] = Counter()
        seen = [0]

        def tally() -> None:
            # Incremental: the stand-in shares this process, and scanning every chat's
            # messages every few milliseconds would slow its answers (more in doubt).
            calls = standin.calls
            for call in calls[seen[0] :]:
                if call.method == "sendMessage" and call.ok:
                    copies[int(call.params.get("chat_id", 0))] += 1
            seen[0] = len(calls)

        def delivered() -> int:
            tally()
            return sum(1 for c in chats if copies[c])

        def twice() -> int:
            tally()
            return sum(max(0, copies[c] - 1) for c in chats)

        worker = start(tree, env, log_path)
        in_doubt: list[int] = []
        arrived_twice: list[int] = []
        before = 0
        try:
            loop = asyncio.get_running_loop()
            began = loop.time()
            for kill, share in enumerate(KILL_AT):

                def reached(share: float = share) -> bool:
                    return delivered() >= share * count

                await until(reached, 300, "the dispatch")
                worker.kill9()
                rows = await outbox_rows(url)
                in_doubt.append(sum(r.status == "sending" for r in rows))
                if os.environ.get("TAKEOVER_DEBUG"):
                    print(Counter((r.status, r.lease_owner) for r in rows), delivered())
                if kill:
                    arrived_twice.append(twice() - before)
                before = twice()
                worker = start(tree, env, log_path)

            async def finished() -> bool:
                return delivered() == count and all(
                    r.status == "sent" for r in await outbox_rows(url)
                )

            deadline = loop.time() + 300
            while not await finished():
                if loop.time() > deadline:
                    raise RuntimeError("the dispatch did not finish")
                await asyncio.sleep(0.5)
            took = loop.time() - began
            await asyncio.sleep(1)
            arrived_twice.append(twice() - before)
            lost = count - delivered()
            print(
                f"  {backend:8} {count} check-ins, kill -9 ×{len(KILL_AT)}: in doubt at each "
                f"kill {in_doubt}, arrived twice per crash {arrived_twice} "
                f"(total {twice()}), lost {lost}; all sent after {took:.0f} s"
            )
        finally:
            worker.stop()


async def main() -> None:
    """Parse the options, run both parts on each backend, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to run the bot from")
    parser.add_argument("--crashes", type=int, default=2)
    parser.add_argument("--normal", type=int, default=8)
    parser.add_argument("--dispatch", type=int, default=300)
    parser.add_argument("--skip-dispatch", action="store_true")
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(f"takeover bench: {machine()}; bot from {args.tree.resolve()}")
    print("Risk statement to the therapist's alert (SEND_LEASE_SECONDS=60):")
    for backend in backends:
        if args.crashes and args.normal:
            await alert_latency(backend, args.tree.resolve(), args.crashes, args.normal)
    if "postgres" in backends and args.crashes:
        await survivor_latency(args.tree.resolve(), args.crashes)
    if not args.skip_dispatch:
        print("Duplicates per crash:")
        for backend in backends:
            await dispatch_crashes(backend, args.tree.resolve(), args.dispatch)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main())
