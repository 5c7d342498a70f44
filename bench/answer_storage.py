"""The database's share of an answer: CPU per tap stored, without Telegram or the framework.

Run: .venv/bin/python bench/answer_storage.py [--backend sqlite|postgres|both] [--clients 500]
                                             [--profile 30]

CLIENTS people each have a check-in on screen; each answers its first question, one
after another, through ``press_answer`` — the function the bot runs for every check-in
tap (look the presser and the check-in up, read the answers so far, store the answer,
move the check-in on, render the next screen). Printed: this process's CPU time per
answer (for SQLite the database's own work included; for PostgreSQL the server's share
is not in it) and the wall time per answer. Beside bench/answers.py, whose figure is the
whole bot's CPU per answer, this says how much of it is the storage path. With
``--profile N``, the N functions with the most time of their own (cProfile) follow.

On a busy machine CPU time per answer moves by a third from run to run. Instruction
counts do not: run it under callgrind with ``--callgrind``, which switches
instrumentation on for the taps only, and read "Collected" (instructions, this
process's threads; SQLite's work included) divided by the answers:

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/answers.cg \
        .venv/bin/python bench/answer_storage.py --backend sqlite --clients 200 --callgrind
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import time

from common import FIRST_CHAT, TOKEN, fresh_database, machine, seed_practice
from sqlalchemy import update
from sqlmodel import col, select

from bot.callbacks import AnswerPress
from bot.checkins.conversation import press_answer
from bot.clock import SystemClock
from bot.services import Services
from bot.settings import load_settings
from storage.crypto import Cipher, generate_key
from storage.db import Database
from storage.models import CheckIn, Client

SORT = ["tottime"]
CALLGRIND: list[bool] = []


def _instrument(on: bool) -> None:
    """Switch callgrind's instrumentation for this process (--callgrind only)."""
    if CALLGRIND:
        subprocess.run(
            ["callgrind_control", "--instr=" + ("on" if on else "off"), str(os.getpid())],
            check=True,
            capture_output=True,
        )


async def run(backend: str, clients: int, profile: int) -> dict[str, float]:
    """Seed, put every check-in on screen, answer each first question; the figures."""
    async with fresh_database(backend) as url:
        key = generate_key()
        settings = load_settings(telegram_bot_token=TOKEN, database_url=url, encryption_keys=key)
        db = Database(url)
        services = Services(
            settings=settings, db=db, clock=SystemClock(), cipher=Cipher.from_setting(key)
        )
        await seed_practice(
            db,
            therapists=max(1, clients // 40),
            clients_per_therapist=min(40, clients),
            now=services.clock.now(),
            due_checkins=True,
        )
        async with db.session() as session:
            await session.exec(update(CheckIn).values(status="sent"))
            taps = (
                await session.exec(
                    select(Client.telegram_user_id, CheckIn.id).join(
                        CheckIn, col(CheckIn.client_id) == col(Client.id)
                    )
                )
            ).all()
        first = services.instrument.next_item(
            ("bond", "goals", "tasks", "openness", "tension", "talked_through", "comment"), {}
        )
        assert first is not None
        profiler = cProfile.Profile() if profile else None
        _instrument(True)
        try:
            wall = time.perf_counter()
            cpu = time.process_time()
            if profiler:
                profiler.enable()
            for user_id, checkin_id in taps:
                result = await press_answer(
                    services, user_id or 0, None, AnswerPress(checkin_id or 0, first.id, 4)
                )
                assert result.notice_key == "checkin.saved", result.notice_key
            if profiler:
                profiler.disable()
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
            _instrument(False)
        finally:
            await db.dispose()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(SORT[0]).print_stats(profile)
        print(out.getvalue())
    count = len(taps)
    return {"answers": count, "cpu_ms": 1000 * cpu / count, "wall_ms": 1000 * wall / count}


def main() -> None:
    """Run each backend and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--profile", type=int, default=0, help="print the top N of cProfile")
    parser.add_argument("--sort", default="tottime", help="cProfile's order (tottime, cumtime…)")
    parser.add_argument(
        "--callgrind", action="store_true", help="count the taps only (under valgrind)"
    )
    args = parser.parse_args()
    SORT[0] = args.sort
    if args.callgrind:
        CALLGRIND.append(True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"answer storage on {machine()}; chats from {FIRST_CHAT}")
    for backend in backends:
        row = asyncio.run(run(backend, args.clients, args.profile))
        print(
            f"{backend:9} {row['answers']:>6.0f} answers  CPU {row['cpu_ms']:.2f} ms/answer  "
            f"wall {row['wall_ms']:.2f} ms/answer"
        )


if __name__ == "__main__":
    main()
