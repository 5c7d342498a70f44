"""Digest composition at practice scale: every therapist's weekly digest, without sending.

Run: .venv/bin/python bench/digest.py [--backend sqlite|postgres] [--therapists 200]
                                      [--clients 40] [--weeks 52] [--charts] [--profile N]

Seeds THERAPISTS × CLIENTS clients with one answered check-in per week for WEEKS weeks
(bulk inserts), then times bot.digest.weekly.weekly_digest for every therapist and
counts the SQL statements each one issues (a bounded number per therapist means no
N+1). --charts also draws the trend charts. --profile N runs the composition under
cProfile and prints its N most expensive functions (use a smaller run, e.g.
--therapists 20: the profiler slows Python code down several times).

On PostgreSQL the tables are analysed after seeding, as autovacuum does on a live
database soon after a bulk load: without statistics the planner reads all answers
sequentially for each therapist, which measures the missing statistics, not the digest.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from datetime import timedelta
from typing import Any

from common import fresh_database, insert_rows, machine, seed_practice
from sqlalchemy import event, text
from sqlmodel import select

from bot.clock import SystemClock
from bot.digest.weekly import weekly_digest
from bot.services import Services
from bot.settings import load_settings
from storage.crypto import Cipher, generate_key
from storage.db import Database
from storage.models import Answer, CheckIn, Therapist, TherapySession

ITEMS = ("bond", "goals", "tasks", "openness", "tension")


async def seed_history(db: Database, client_ids: list[int], weeks: int, now: Any) -> int:
    """One session per client per week, each with a completed check-in and its answers."""
    start = now - timedelta(weeks=weeks)
    sessions = [
        {
            "client_id": cid,
            "ended_at": start + timedelta(weeks=w, minutes=cid % 600),
            "source": "schedule",
            "created_at": start,
        }
        for cid in client_ids
        for w in range(weeks)
    ]
    await insert_rows(db, TherapySession, sessions, chunk=20_000)
    async with db.session() as session:
        rows = (
            await session.exec(
                select(TherapySession.id, TherapySession.client_id, TherapySession.ended_at)
            )
        ).all()
    checkins = [
        {
            "client_id": cid,
            "session_id": sid,
            "instrument_id": "alliance-default",
            "sequence": 1 + n % weeks,
            "items": ",".join((*ITEMS, "comment")),
            "status": "completed",
            "due_at": ended + timedelta(hours=1),
            "sent_at": ended + timedelta(hours=1),
            "closed_at": ended + timedelta(hours=2),
        }
        for n, (sid, cid, ended) in enumerate(rows)
    ]
    await insert_rows(db, CheckIn, checkins, chunk=20_000)
    async with db.session() as session:
        ids = (await session.exec(select(CheckIn.id, CheckIn.client_id, CheckIn.sent_at))).all()
    answers = []
    for n, (checkin_id, cid, sent) in enumerate(ids):
        # Mostly good alliances, some drifting down, a few with tension: something to say.
        dip = 1 if (cid % 7 == 0 and n % 52 > 44) else 0
        for k, item in enumerate(ITEMS):
            value = (0 if cid % 11 else 1) if item == "tension" else max(1, 5 - dip - (n + k) % 2)
            answers.append(
                {
                    "checkin_id": checkin_id,
                    "item_id": item,
                    "value": value,
                    "skipped": False,
                    "answered_at": sent,
                }
            )
    await insert_rows(db, Answer, answers, chunk=50_000)
    return len(answers)


async def run(
    backend: str, therapists: int, clients: int, weeks: int, charts: bool, profile: int
) -> None:
    """Seed, then compose every digest and print the figures."""
    async with fresh_database(backend) as url:
        key = generate_key()
        db = Database(url)
        services = Services(
            settings=load_settings(database_url=url, encryption_keys=key),
            db=db,
            clock=SystemClock(),
            cipher=Cipher.from_setting(key),
        )
        now = services.clock.now()
        began = time.perf_counter()
        seeded = await seed_practice(
            db, therapists=therapists, clients_per_therapist=clients, now=now, due_checkins=False
        )
        answers = await seed_history(db, seeded.client_ids, weeks, now)
        if backend == "postgres":
            async with db.engine.connect() as connection:
                await connection.execute(text("ANALYZE"))
                await connection.commit()
        print(
            f"seeded {therapists} therapists, {len(seeded.client_ids)} clients, "
            f"{len(seeded.client_ids) * weeks} check-ins, {answers} answers "
            f"in {time.perf_counter() - began:.0f} s ({backend})"
        )
        statements = [0]

        def count(*_args: Any) -> None:
            statements[0] += 1

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        async with db.session() as session:
            everyone = list((await session.exec(select(Therapist))).all())
        per_therapist: list[int] = []
        seconds: list[float] = []
        messages = 0
        profiler = cProfile.Profile() if profile else None
        began = time.perf_counter()
        for therapist in everyone:
            before, start = statements[0], time.perf_counter()
            if profiler is not None:
                profiler.enable()
            output = await weekly_digest(services, therapist, now, charts=charts)
            if profiler is not None:
                profiler.disable()
            seconds.append(time.perf_counter() - start)
            per_therapist.append(statements[0] - before)
            messages += len(output.texts) + len(output.charts)
        total = time.perf_counter() - began
        await db.dispose()
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    print(
        f"composed {len(everyone)} digests ({messages} messages{', with charts' if charts else ''})"
        f" in {total:.1f} s: {1000 * statistics.mean(seconds):.0f} ms mean, "
        f"{1000 * max(seconds):.0f} ms max per therapist; SQL statements per therapist: "
        f"min {min(per_therapist)}, max {max(per_therapist)}"
    )


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--therapists", type=int, default=200)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--charts", action="store_true")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    print(f"digest benchmark on {machine()}")
    asyncio.run(
        run(args.backend, args.therapists, args.clients, args.weeks, args.charts, args.profile)
    )


if __name__ == "__main__":
    main()
