"""Dispatch throughput: how fast due check-ins leave the bot, and how well it fills 30/s.

Run: .venv/bin/python bench/dispatch.py [--backend sqlite|postgres|both] [--count 10000]
                                        [--limited-count 1800] [--skip-limited]

Ceiling: COUNT clients whose check-ins are all due at once; the stand-in's flood limits
are off and SEND_RATE_GLOBAL is at its maximum (1000/s, the paid-broadcast rate), so
the figure is what the bot itself can push: the dispatcher pass (pages through every
due check-in, renders each distinct first screen once, encrypts every payload), then
the outbox sender (claims, paced concurrent sends, batched marking), until every
message is delivered and marked sent.

"cpu ms q/send" (ceiling only) is the bot process's own CPU time (all its threads; for
SQLite that includes the database work, for PostgreSQL the server's share is not in it)
per check-in queued and per message sent: steadier than the rates on a machine that is
busy otherwise.

At the real limit: the stand-in enforces Telegram's 30/s overall and 1/s per chat, the
bot runs with its defaults; the figure is the achieved rate as a share of 30/s over
LIMITED_COUNT messages, and how many 429 answers the stand-in had to give.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from common import (
    TOKEN,
    Stopwatch,
    fresh_database,
    machine,
    now_outside_quiet_hours,
    seed_practice,
    standin_process,
)
from sqlalchemy import func
from sqlmodel import col, select

from bot.app import build_application
from bot.clock import SystemClock
from bot.dispatcher import DispatchReport, on_sent, on_unreachable, queue_due_checkins
from bot.outbox import WAITING, Sender
from bot.services import Services
from bot.settings import load_settings
from storage.crypto import Cipher, generate_key
from storage.db import Database
from storage.models import OutboxMessage


async def _waiting(db: Database) -> bool:
    """Whether any message is still waiting to go out (an indexed look, not a count: it runs
    every 50 ms in the bot's own process while the sender works)."""
    async with db.session() as session:
        result = await session.exec(
            select(OutboxMessage.id).where(col(OutboxMessage.status).in_(WAITING)).limit(1)
        )
        return result.first() is not None


async def _unsent(db: Database) -> int:
    async with db.session() as session:
        result = await session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
        )
        return int(result.one())


# SEND_IN_DOUBT_MAX for the run at the real limit (--in-doubt).
IN_DOUBT = [1]


async def run_case(backend: str, count: int, limited: bool) -> dict[str, Any]:
    """Seed COUNT due check-ins, then queue and send them all; return the figures."""
    limits = {"global_rate": 30.0, "per_chat_rate": 1.0} if limited else {}
    with standin_process(count, **limits) as standin:
        async with fresh_database(backend) as url:
            key = generate_key()
            settings = load_settings(
                telegram_bot_token=TOKEN,
                telegram_api_base_url=standin.base_url,
                database_url=url,
                encryption_keys=key,
                send_rate_global=30 if limited else 1000,
                # The ceiling lets 32 sends be in doubt at once (paid-broadcast rates); at
                # the real limit the default holds: one, so a crash duplicates at most one.
                send_in_doubt_max=IN_DOUBT[0] if limited else 32,
                **now_outside_quiet_hours(),
            )
            db = Database(url)
            services = Services(
                settings=settings, db=db, clock=SystemClock(), cipher=Cipher.from_setting(key)
            )
            await seed_practice(
                db,
                therapists=max(1, count // 40),
                clients_per_therapist=min(40, count),
                now=services.clock.now(),
                due_checkins=True,
            )
            application = build_application(
                services,
                token=TOKEN,
                base_url=standin.base_url,
                start_dispatcher=False,
                updater=False,
            )
            await application.initialize()
            sender = Sender(
                services, application.bot, on_sent=on_sent, on_unreachable=on_unreachable
            )
            try:
                clock = Stopwatch()
                cpu_start = time.process_time()
                report = DispatchReport()
                now = services.clock.now()
                page = await queue_due_checkins(services, now, report)
                while page is not None:
                    page = await queue_due_checkins(services, now, report, page)
                queued_after = clock.seconds()
                cpu_queued = time.process_time()
                running = asyncio.create_task(sender.run())
                while await _waiting(db):  # noqa: ASYNC110 - the sender task does the work
                    await asyncio.sleep(0.05)
                total = clock.seconds()
                cpu_end = time.process_time()
                await sender.stop()
                await running
                unsent = await _unsent(db)
            finally:
                await application.shutdown()
                await db.dispose()
            stats = await standin.stats()
    sent = stats["by_method"].get("sendMessage", 0)
    if unsent:
        raise RuntimeError(f"{unsent} messages were not sent")
    return {
        "backend": backend,
        "limited": limited,
        "count": report.queued,
        "delivered": sent,
        "queue_s": queued_after,
        "total_s": total,
        "rate": sent / total,
        "send_rate": sent / (total - queued_after),
        "queue_cpu_ms": 1000 * (cpu_queued - cpu_start) / max(1, report.queued),
        "send_cpu_ms": 1000 * (cpu_end - cpu_queued) / max(1, sent),
        "429": stats["too_many_requests_sent"],
    }


def main() -> None:
    """Parse options, run the cases, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--limited-count", type=int, default=1_800)
    parser.add_argument("--skip-limited", action="store_true")
    parser.add_argument(
        "--in-doubt", type=int, default=1, help="SEND_IN_DOUBT_MAX at the real limit"
    )
    args = parser.parse_args()
    IN_DOUBT[0] = args.in_doubt
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"dispatch benchmark on {machine()}")
    rows = []
    for backend in backends:
        rows.append(asyncio.run(run_case(backend, args.count, limited=False)))
        if not args.skip_limited:
            rows.append(asyncio.run(run_case(backend, args.limited_count, limited=True)))
    print(
        f"{'backend':9} {'limits':12} {'messages':>8} {'queue s':>8} {'total s':>8} "
        f"{'msg/s':>7} {'send-only/s':>11} {'cpu ms q/send':>13} {'share of 30/s':>13} "
        f"{'429s':>5}"
    )
    for row in rows:
        share = f"{row['rate'] / 30:.2f}" if row["limited"] else "-"
        # At Telegram's pace the process mostly waits; CPU per message says nothing there.
        cpu = "-" if row["limited"] else f"{row['queue_cpu_ms']:.2f}/{row['send_cpu_ms']:.2f}"
        print(
            f"{row['backend']:9} {'30/s, 1/s' if row['limited'] else 'off':12} "
            f"{row['delivered']:>8} {row['queue_s']:>8.1f} {row['total_s']:>8.1f} "
            f"{row['rate']:>7.0f} {row['send_rate']:>11.0f} {cpu:>13} {share:>13} {row['429']:>5}"
        )


if __name__ == "__main__":
    main()
