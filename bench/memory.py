"""Resident memory of a running bot with many enrolled clients.

Run: .venv/bin/python bench/memory.py [--backend sqlite|postgres] [--clients 20000]

Seeds CLIENTS enrolled clients (40 per therapist), starts the real bot
(`python -m bot run`, polling the stand-in) and reads its resident set size once it
has settled (a few dispatcher passes over the whole practice).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

import psutil
from common import (
    ROOT,
    TOKEN,
    fresh_database,
    machine,
    now_outside_quiet_hours,
    seed_practice,
    standin_process,
)

from bot.clock import SystemClock
from storage.crypto import generate_key
from storage.db import Database


async def run(backend: str, clients: int, settle: float) -> None:
    """Seed, start the bot, sample its memory."""
    with standin_process(0) as standin:
        async with fresh_database(backend) as url:
            db = Database(url)
            await seed_practice(
                db,
                therapists=max(1, clients // 40),
                clients_per_therapist=min(40, clients),
                now=SystemClock().now(),
                due_checkins=False,
            )
            await db.dispose()
            env = dict(os.environ)
            env.update(
                {
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "TELEGRAM_API_BASE_URL": standin.base_url,
                    "DATABASE_URL": url,
                    "ENCRYPTION_KEYS": generate_key(),
                    "DISPATCH_INTERVAL_SECONDS": "2",
                    "LOG_LEVEL": "WARNING",
                }
            )
            env.update({k.upper(): v for k, v in now_outside_quiet_hours().items()})
            # Popen returns at once; the bot runs alongside.
            bot = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL
            )
            try:
                peak = 0
                deadline = time.monotonic() + settle
                while time.monotonic() < deadline:
                    await asyncio.sleep(1)
                    rss = psutil.Process(bot.pid).memory_info().rss
                    peak = max(peak, rss)
                print(
                    f"{clients} enrolled clients ({backend}): resident memory "
                    f"{rss / 2**20:.0f} MB after {settle:.0f} s (peak {peak / 2**20:.0f} MB)"
                )
            finally:
                bot.terminate()
                await asyncio.to_thread(bot.wait, 60)  # the stand-in keeps answering


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--settle", type=float, default=30.0)
    args = parser.parse_args()
    print(f"memory benchmark on {machine()}")
    asyncio.run(run(args.backend, args.clients, args.settle))


if __name__ == "__main__":
    main()
