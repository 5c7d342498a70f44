"""Dispatch throughput: how fast due check-ins leave the bot, and how well it fills 30/s.

Run: .venv/bin/python bench/dispatch.py [--backend sqlite|postgres|both] [--count 10000]
                                        [--limited-count 1800] [--skip-limited]
                                        [--skip-floor] [--py-spy FOLDER]
                                        [--floor-on httpx,aiohttp,aiohttp+json|both|all]

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

The send floor (ceiling only, unless --skip-floor): right after the bot has sent them, the
very same messages (texts, keyboards, chats) are sent again through the same stand-in by a
bare python-telegram-bot script (bench/floor_send.py) with the bot's SEND_CONCURRENCY, in
its own process, twice: on python-telegram-bot's own HTTP transport (httpx, its default)
and on the aiohttp BaseRequest the bot uses (bot/transport.py); with --floor-on
aiohttp+json (or all) also on aiohttp with the keyboards sent as the bot sends them (the
Bot API's JSON, not InlineKeyboardMarkup objects): the stricter floor. Its rate and CPU per
message are printed beside the bot's, with the ratios (bot CPU per message / floor CPU
per message; floor rate / bot send rate). The floor has no database, encryption, outbox
or pacing: against the same transport, the ratio is what the bot adds.

At the real limit: the stand-in enforces Telegram's 30/s overall and 1/s per chat, the
bot runs with its defaults; the figure is the achieved rate as a share of 30/s over
LIMITED_COUNT messages, and how many 429 answers the stand-in had to give.

With --py-spy FOLDER the queue phase, the send phase and each floor are sampled by py-spy
(one raw profile each; read them with bench/profile_summary.py). Sampling costs a few
per cent of CPU: measure without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
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
from spy import py_spy
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import build_application
from bot.checkins.lifecycle import on_sent, on_unreachable
from bot.clock import SystemClock
from bot.due_work import DispatchReport, queue_due_checkins
from bot.sending.outbox import Outgoing
from bot.sending.sender import Delivered, Sender
from bot.services import Services
from bot.settings import load_settings
from storage.crypto import Cipher, generate_key, outbox_payload_context
from storage.db import Database
from storage.models import OutboxMessage
from storage.states import WAITING


async def _waiting(db: Database) -> bool:
    """Whether any message is still waiting to go out (an indexed look, not a count)."""
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


async def _waiting_messages(services: Services) -> list[Outgoing]:
    """Every queued message, decrypted: what the floor will send again afterwards."""
    async with services.db.session() as session:
        rows = (
            await session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.status).in_(WAITING))
                .order_by(col(OutboxMessage.id))  # the order the sender claims them in
            )
        ).all()
    return [
        Outgoing.from_json(
            services.cipher.decrypt(
                row.payload_ciphertext, context=outbox_payload_context(row.dedupe_key)
            )
        )
        for row in rows
    ]


# "+json": the keyboards sent as the bot sends them (bench/floor_send.py).
FLOOR_TRANSPORTS = ("httpx", "aiohttp", "aiohttp+json")
# The floors to run (--floor-on): both unless told otherwise.
FLOOR_ON: list[str] = ["httpx", "aiohttp"]


def run_floor(
    base_url: str,
    messages: list[Outgoing],
    concurrency: int,
    transport: str,
    profile: Path | None = None,
) -> dict[str, float]:
    """Send the same messages with bare python-telegram-bot (bench/floor_send.py)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "messages.json"
        path.write_text(
            json.dumps(
                [
                    {
                        "chat_id": m.chat_id,
                        "text": m.text,
                        "buttons": [list(map(list, r)) for r in m.buttons],
                    }
                    for m in messages
                ]
            )
        )
        script = Path(__file__).with_name("floor_send.py")
        done = subprocess.run(
            [
                sys.executable,
                str(script),
                base_url,
                TOKEN,
                str(path),
                str(concurrency),
                transport,
                *([str(profile)] if profile else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# SEND_IN_DOUBT_MAX for the run at the real limit (--in-doubt).
IN_DOUBT = [1]
# Where py-spy profiles go (--py-spy), if anywhere.
PROFILES: list[Path] = []


def _profile(name: str) -> Path | None:
    return PROFILES[0] / f"dispatch-{name}.txt" if PROFILES else None


async def run_case(backend: str, count: int, limited: bool, floor: bool = True) -> dict[str, Any]:
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
            # The benchmark learns that the last message went out from the sender's own hook
            # (one addition per batch), and then confirms it in the database: polling the
            # outbox every 50 ms cost the bot's process about 0.04 ms of CPU per message,
            # charged to the bot (docs/performance.md).
            recorded = [0]
            all_recorded = asyncio.Event()

            async def counting_on_sent(
                session: AsyncSession, delivered: Sequence[Delivered], now: datetime
            ) -> None:
                await on_sent(session, delivered, now)
                recorded[0] += len(delivered)
                if recorded[0] >= report.queued:
                    all_recorded.set()

            sender = Sender(
                services, application.bot, on_sent=counting_on_sent, on_unreachable=on_unreachable
            )
            try:
                profiled = not limited
                with py_spy(os.getpid(), _profile(f"{backend}-queue") if profiled else None):
                    clock = Stopwatch()
                    cpu_start = time.process_time()
                    report = DispatchReport()
                    now = services.clock.now()
                    page = await queue_due_checkins(services, now, report)
                    while page is not None:
                        page = await queue_due_checkins(services, now, report, page)
                    queued_after = clock.seconds()
                    cpu_queued = time.process_time()
                # Read outside both timings: the floor sends these same messages afterwards.
                messages = await _waiting_messages(services) if floor and not limited else []
                with py_spy(os.getpid(), _profile(f"{backend}-send") if profiled else None):
                    sending = Stopwatch()
                    cpu_sending = time.process_time()
                    running = asyncio.create_task(sender.run())
                    while True:
                        # Once a second at most, unless the hook says all were recorded.
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(all_recorded.wait(), 1.0)
                        if not await _waiting(db):
                            break
                        if all_recorded.is_set():
                            await asyncio.sleep(0.01)  # the last batch is committing
                    total = queued_after + sending.seconds()
                    cpu_end = time.process_time()
                await sender.stop()
                await running
                unsent = await _unsent(db)
            finally:
                await application.shutdown()
                await db.dispose()
            stats = await standin.stats()
            floors = {
                transport: run_floor(
                    standin.base_url,
                    messages,
                    settings.send_concurrency,
                    transport,
                    _profile(f"{backend}-floor-{transport}"),
                )
                for transport in (FLOOR_ON if messages else ())
            }
    sent = stats["by_method"].get("sendMessage", 0)
    if unsent:
        raise RuntimeError(f"{unsent} messages were not sent")
    send_cpu_ms = 1000 * (cpu_end - cpu_sending) / max(1, sent)
    send_rate = sent / (total - queued_after)
    floor_rows: dict[str, dict[str, float]] = {}
    for transport, figures in floors.items():
        if int(figures["sent"]) != sent:
            raise RuntimeError(f"the floor sent {figures['sent']} of {sent} messages")
        floor_cpu_ms = 1000 * figures["cpu_s"] / max(1, sent)
        floor_rate = sent / figures["wall_s"]
        floor_rows[transport] = {
            "rate": floor_rate,
            "cpu_ms": floor_cpu_ms,
            "cpu_ratio": send_cpu_ms / floor_cpu_ms,
            "rate_ratio": floor_rate / send_rate,
        }
    return {
        "backend": backend,
        "limited": limited,
        "count": report.queued,
        "delivered": sent,
        "queue_s": queued_after,
        "total_s": total,
        "rate": sent / total,
        "send_rate": send_rate,
        "queue_cpu_ms": 1000 * (cpu_queued - cpu_start) / max(1, report.queued),
        "send_cpu_ms": send_cpu_ms,
        "429": stats["too_many_requests_sent"],
        "floors": floor_rows,
    }


def main() -> None:
    """Parse options, run the cases, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--limited-count", type=int, default=1_800)
    parser.add_argument("--skip-limited", action="store_true")
    parser.add_argument(
        "--skip-floor", action="store_true", help="do not run the bare python-telegram-bot floor"
    )
    parser.add_argument(
        "--floor-on",
        default="both",
        help="the floors to run, comma-separated: httpx, aiohttp (the bot's transport), "
        "aiohttp+json (keyboards sent as the bot does); both: httpx,aiohttp; all: the three "
        "(httpx takes minutes at 10,000)",
    )
    parser.add_argument(
        "--in-doubt", type=int, default=1, help="SEND_IN_DOUBT_MAX at the real limit"
    )
    parser.add_argument("--py-spy", type=Path, help="write py-spy profiles here")
    args = parser.parse_args()
    IN_DOUBT[0] = args.in_doubt
    if args.floor_on == "all":
        FLOOR_ON[:] = list(FLOOR_TRANSPORTS)
    elif args.floor_on != "both":
        FLOOR_ON[:] = args.floor_on.split(",")
        if unknown := set(FLOOR_ON) - set(FLOOR_TRANSPORTS):
            parser.error(f"unknown floor: {', '.join(sorted(unknown))}")
    if args.py_spy:
        PROFILES.append(args.py_spy)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"dispatch benchmark on {machine()}")
    rows = []
    for backend in backends:
        rows.append(
            asyncio.run(run_case(backend, args.count, limited=False, floor=not args.skip_floor))
        )
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
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    floored = [row for row in rows if row["floors"]]
    if floored:
        print()
        print(
            "send floor: the same messages sent by bare python-telegram-bot (bench/floor_send.py)"
        )
        print(
            f"{'backend':9} {'floor on':12} {'messages':>8} {'bot send/s':>10} {'floor/s':>8} "
            f"{'floor÷bot':>9} {'bot cpu ms':>10} {'floor cpu ms':>12} {'bot÷floor cpu':>13}"
        )
        for row in floored:
            for transport, floor in row["floors"].items():
                print(
                    f"{row['backend']:9} {transport:12} {row['delivered']:>8} "
                    f"{row['send_rate']:>10.0f} {floor['rate']:>8.0f} "
                    f"{floor['rate_ratio']:>8.2f}x {row['send_cpu_ms']:>10.2f} "
                    f"{floor['cpu_ms']:>12.2f} {floor['cpu_ratio']:>12.2f}x"
                )


if __name__ == "__main__":
    main()
