"""Message to crisis reply: how long a risk message waits for its answer, through the real bot.

Run: .venv/bin/python bench/risk_latency.py [--backend sqlite|postgres] [--messages 300]

The real python-telegram-bot Application polls the Telegram stand-in over HTTP (as in the
end-to-end tests), with a real migrated database. Enrolled clients (CLIENTS of them, in
turn, so no chat meets the bot's own per-chat pacing of about one message a second) send
English risk lines from the tuning corpus and the held-out blocks, one at a time; each
latency runs from the
update being queued at the stand-in to the stand-in receiving the bot's first reply in
that chat (the crisis reply, sent before any database work). Then the same for safe lines
(the ordinary reply). Prints median, p90, p99 and max, plus the detector's own cost per
message for the same lines, so the rest is polling, HTTP and the handler.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from common import fresh_database, machine  # noqa: E402
from story import enrolled_client, enrolled_therapist  # noqa: E402

from bot.core.risk import assess_risk, default_lexicon  # noqa: E402
from bot.offline.standin import BotAPIStandIn  # noqa: E402
from bot.offline.testbed import Testbed  # noqa: E402

DATA = ROOT / "tests" / "data"
CLIENTS = 40


def lines(label: str) -> list[str]:
    """Texts of one label from the tuning corpus and every held-out block."""
    found: list[str] = []
    for path in [DATA / "risk_corpus.tsv", *sorted((DATA / "risk_heldout").glob("*.tsv"))]:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            found += [r["text"] for r in reader if r["label"] == label and r["lang"] == "en"]
    return found


class ReplyWatch:
    """Resolves a future when the stand-in records the bot's first message in a chat."""

    def __init__(self, standin: BotAPIStandIn) -> None:
        self.waiting: dict[int, asyncio.Future[float]] = {}
        original = standin._record

        def record(method: str, params: Any, **kwargs: Any) -> Any:
            call = original(method, params, **kwargs)
            if method == "sendMessage" and call.ok:
                future = self.waiting.pop(int(call.chat_id or 0), None)
                if future is not None and not future.done():
                    future.set_result(time.perf_counter())
            return call

        standin._record = record  # type: ignore[method-assign]

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        """A future for the next message to this chat."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[chat_id] = future
        return future


def summary(name: str, values: list[float]) -> str:
    """One line of percentiles in milliseconds."""
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3

    return (
        f"{name:<34} n={len(values):<4} median {statistics.median(values) * 1e3:7.1f} ms"
        f"  p90 {pick(0.90):7.1f} ms  p99 {pick(0.99):7.1f} ms  max {ordered[-1] * 1e3:7.1f} ms"
    )


async def run(backend: str, count: int) -> None:
    """Send the lines and print the figures."""
    risk = (lines("risk") * (count // 100 + 1))[:count]
    safe = (lines("safe") * (count // 100 + 1))[: count // 3]
    start = time.perf_counter()
    default_lexicon()
    print(f"Lexicon load and compile: {time.perf_counter() - start:.2f} s (once per process)")
    async with fresh_database(backend) as url:
        bed = Testbed(url, start=datetime(2026, 6, 2, 7, tzinfo=UTC), send_rate_global=1000)
        await bed.start()
        try:
            watch = ReplyWatch(bed.standin)
            therapist = await enrolled_therapist(bed)
            clients = [
                await enrolled_client(bed, therapist, f"client{i:02d}") for i in range(CLIENTS)
            ]
            await bed.advance(minutes=5)  # the welcome messages are out and paced
            results: dict[str, list[float]] = {"risk": [], "safe": []}
            flagged = 0
            turn = 0
            for label, texts in (("risk", risk), ("safe", safe)):
                for text in texts:
                    client = clients[turn % CLIENTS]
                    turn += 1
                    future = watch.expect(client.chat_id)
                    sent = time.perf_counter()
                    await client.says(text)
                    replied = await asyncio.wait_for(future, 10)
                    results[label].append(replied - sent)
                    flagged += label == "risk" and assess_risk(text).at_risk
                    await bed.tick()  # let the therapist alert go out, as in a running bot
        finally:
            await bed.stop()
    cost = []
    for text in risk + safe:
        t0 = time.perf_counter()
        assess_risk(text)
        cost.append(time.perf_counter() - t0)
    print(f"Backend {backend}; {len(risk)} risk messages ({flagged} flagged), {len(safe)} safe")
    print(summary("message -> crisis reply (risk)", results["risk"]))
    print(summary("message -> ordinary reply (safe)", results["safe"]))
    print(summary("detector alone, per message", cost))
    print(machine())


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.backend, max(10, args.messages)))


if __name__ == "__main__":
    main()
