"""Digest composition at practice scale: every therapist's weekly digest, without sending.

Run: .venv/bin/python bench/digest.py [--backend sqlite|postgres] [--therapists 200]
                                      [--clients 40] [--weeks 52] [--charts] [--profile N]
     .venv/bin/python bench/digest.py --layout [--seeds 20] [--clients 40] [--weeks 13]

Seeds THERAPISTS × CLIENTS clients with one answered check-in per week for WEEKS weeks
(bulk inserts), then times bot.digest.weekly.weekly_digest for every therapist and
counts the SQL statements each one issues (a bounded number per therapist means no
N+1). --charts also opens every name under the triage (each client's detail with its
trend chart, as a therapist tapping all of them would). --profile N runs the composition under
cProfile and prints its N most expensive functions (use a smaller run, e.g.
--therapists 20: the profiler slows Python code down several times).

On PostgreSQL the tables are analysed after seeding, as autovacuum does on a live
database soon after a bulk load: without statistics the planner reads all answers
sequentially for each therapist, which measures the missing statistics, not the digest.

--layout measures what the therapist reads instead (no database): the simulated
caseloads of bot.offline.caseload (seeds 1..SEEDS) are judged and rendered in English
every Monday of the simulated weeks, and it prints the first message's length in
characters (as Telegram counts them after HTML parsing) and in lines, the same in
phone lines (a line wraps at PHONE_WIDTH characters), and the whole digest's length in
characters, messages and pictures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import html
import math
import pstats
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from common import fresh_database, insert_rows, machine, seed_practice
from sqlalchemy import event, text
from sqlmodel import select

from bot import callbacks
from bot.clock import SystemClock
from bot.core.digest import compose_digest, detail_entries, render_detail, render_digest
from bot.core.instrument import get_instrument
from bot.digest.weekly import client_detail, weekly_digest
from bot.offline.caseload import (
    QUARTER_WEEKS,
    digest_moments,
    history_as_of,
    simulate_caseload,
)
from bot.services import Services
from bot.settings import load_settings
from bot.texts import Texts
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
            output = await weekly_digest(services, therapist, now)
            opened = 0
            if charts:
                for row in output.buttons:
                    for _label, data in row:
                        press = callbacks.parse(data)
                        assert isinstance(press, callbacks.DetailPress)
                        found = await client_detail(services, therapist, press.client_id, now)
                        opened += len(found.texts) + (found.chart is not None) if found else 0
            if profiler is not None:
                profiler.disable()
            seconds.append(time.perf_counter() - start)
            per_therapist.append(statements[0] - before)
            messages += len(output.texts) + opened
        total = time.perf_counter() - began
        await db.dispose()
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    print(
        f"composed {len(everyone)} digests ({messages} messages"
        f"{', every detail opened, with charts' if charts else ''})"
        f" in {total:.1f} s: {1000 * statistics.mean(seconds):.0f} ms mean, "
        f"{1000 * max(seconds):.0f} ms max per therapist; SQL statements per therapist: "
        f"min {min(per_therapist)}, max {max(per_therapist)}"
    )


# A chat on a 6.1-6.5 inch phone at Telegram's default text size: about 40 characters to
# a line and 32 lines of message text on one screen (an assumption, stated in the output).
PHONE_WIDTH = 40
SCREEN_LINES = 32
_TAG = re.compile(r"<[^>]*>")


def shown(message: str) -> str:
    """A message as Telegram displays it: tags gone, entities decoded."""
    return html.unescape(_TAG.sub("", message))


def phone_lines(text: str) -> int:
    """How many lines the text takes on the phone, long lines wrapped."""
    return sum(max(1, math.ceil(len(line) / PHONE_WIDTH)) for line in text.split("\n"))


@dataclass
class Rendered:
    """One simulated digest as the therapist receives it."""

    triage: list[str]  # what arrives: the triage (one message for forty clients)
    details: list[str]  # each conversation-level client's detail, in triage order
    pictures: int  # charts, one per detail with enough check-ins


def rendered(texts: Texts, histories: Sequence[Any], now: Any, groups: Counter[str]) -> Rendered:
    """Judge and render one simulated digest in English."""
    digest = compose_digest(histories, get_instrument(), now)
    groups.update(entry.group for entry in digest.entries)
    start, tz = now - timedelta(days=7), ZoneInfo("UTC")
    triage = render_digest(texts, "en", digest, "Dr. Ruiz", start, now, tz)
    flagged = detail_entries(digest)
    details = [shown("\n\n".join(render_detail(texts, "en", e, start, now, tz))) for e in flagged]
    return Rendered(triage, details, sum(1 for e in flagged if e.chart_wanted))


def to_opener(detail: str) -> int:
    """Characters of a client's detail read before its first opener."""
    at = detail.find("\n– ")
    return len(detail) if at < 0 else at


def layout(seeds: int, clients: int, weeks: int, short_aliases: bool = False) -> None:
    """Lengths of the simulated digests, and the way to one flagged client's opener."""
    texts = Texts()
    first_chars: list[int] = []
    first_lines: list[int] = []
    first_phone: list[int] = []
    sent_chars: list[int] = []
    sent_messages: list[int] = []
    all_chars: list[int] = []
    all_phone: list[int] = []
    all_messages: list[int] = []
    pictures: list[int] = []
    # Per conversation-level client: reaching its opener behind a button, or by scrolling
    # down follow-up messages (one per client, each followed by its chart).
    button_chars: list[int] = []
    follow_chars: list[int] = []
    follow_messages: list[int] = []
    groups: Counter[str] = Counter()
    for seed in range(1, seeds + 1):
        caseload = simulate_caseload(seed, clients, weeks)
        for now in digest_moments(weeks):
            histories = [history_as_of(c, now) for c in caseload if c.history.enrolled_at <= now]
            if short_aliases:
                histories = [replace(h, alias=f"C{h.client_id:02d}") for h in histories]
            out = rendered(texts, histories, now, groups)
            words = [shown(m) for m in out.triage]
            first_chars.append(len(words[0]))
            first_lines.append(words[0].count("\n") + 1)
            first_phone.append(phone_lines(words[0]))
            sent_chars.append(sum(len(w) for w in words))
            sent_messages.append(len(words))
            everything = words + out.details
            all_chars.append(sum(len(w) for w in everything))
            all_phone.append(sum(phone_lines(w) for w in everything))
            all_messages.append(len(everything))
            pictures.append(out.pictures)
            read = len(words[0])
            for k, detail in enumerate(out.details):
                button_chars.append(len(words[0]) + to_opener(detail))
                follow_chars.append(read + to_opener(detail))
                follow_messages.append(2 + 2 * k)  # the triage, earlier details and charts
                read += len(detail)

    def figures(values: list[int]) -> str:
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        return f"mean {statistics.mean(values):,.0f}, p90 {p90:,}, max {max(values):,}"

    print(
        f"{len(first_chars)} digests: {seeds} simulated caseloads of {clients} clients, "
        f"every Monday of {weeks} weeks (English), "
        f"{'aliases of 3 characters' if short_aliases else 'aliases like ordinary-07'}"
    )
    print(f"first message, characters:   {figures(first_chars)}")
    print(f"first message, lines:        {figures(first_lines)}")
    print(f"first message, phone lines:  {figures(first_phone)}  ({PHONE_WIDTH} characters each)")
    print(
        f"sent unasked, characters:    {figures(sent_chars)} in {figures(sent_messages)} messages"
    )
    print(f"with every detail, characters: {figures(all_chars)}")
    print(
        f"with every detail, phone screens: "
        f"{figures([math.ceil(p / SCREEN_LINES) for p in all_phone])}  "
        f"({SCREEN_LINES} phone lines each, pictures not counted)"
    )
    print(
        f"with every detail, messages: {figures(all_messages)}, plus pictures {figures(pictures)}"
    )
    per_digest = ", ".join(
        f"{name} {n / len(first_chars):.1f}" for name, n in sorted(groups.items())
    )
    print(f"clients per digest:          {per_digest}")
    if button_chars:
        print(f"to one flagged client's opener ({len(button_chars)} clients):")
        print(f"  behind a button:  1 tap, 2 messages, characters read {figures(button_chars)}")
        print(
            f"  as follow-ups:    0 taps, messages passed {figures(follow_messages)}, "
            f"characters read {figures(follow_chars)}"
        )


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--therapists", type=int, default=200)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--weeks", type=int, help="52 for the database, 13 for --layout")
    parser.add_argument("--charts", action="store_true")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--layout", action="store_true", help="lengths of simulated digests")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--short-aliases", action="store_true", help="--layout with aliases like C07"
    )
    args = parser.parse_args()
    if args.layout:
        layout(args.seeds, args.clients, args.weeks or QUARTER_WEEKS, args.short_aliases)
        return
    print(f"digest benchmark on {machine()}")
    asyncio.run(
        run(
            args.backend,
            args.therapists,
            args.clients,
            args.weeks or 52,
            args.charts,
            args.profile,
        )
    )


if __name__ == "__main__":
    main()
