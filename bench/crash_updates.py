"""Updates handled after a crash: kill -9 with a burst of polled updates in hand.

    python bench/crash_updates.py [--backend sqlite|postgres|both] [--trials 3] [--kill-after 3]

Each trial seeds a practice (one therapist, eight clients with a check-in open), starts
a real `python -m bot run` polling the Bot API stand-in, and sends one burst that the
bot fetches in one batch: a client writes fifteen quick messages and then a risk
statement, another writes six and then taps an answer, three tap an answer and three
type their note (29 updates). The bot answers each person at Telegram's pace (about one
message a second), so it is killed with SIGKILL after its Nth reply to the first client
while most of the burst is in hand, and started again. The figures, read off the
stand-in: updates in hand at the kill, how many of them were handled after the restart,
crisis replies and therapist alerts, and effects seen twice (at most one per person:
the update each person had in hand at the kill).

Same scenario as tests/reliability/test_update_inbox.py (shared in
tests/reliability/burst.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

from burst import USE_BUTTONS, Burst, at_the_note, replies, send_burst, tally  # noqa: E402
from common import fresh_database, machine  # noqa: E402
from procs import eventually, seed, start_worker, worker_env  # noqa: E402

from bot.offline.standin import BotAPIStandIn  # noqa: E402
from storage.crypto import generate_key  # noqa: E402


@dataclass
class Trial:
    """One kill -9 and restart."""

    size: int
    in_hand: int
    handled_after: int
    crisis_replies: int
    alerts: int
    duplicates: int


async def trial(backend: str, kill_after: int) -> Trial:
    """Seed, start, burst, kill -9 after the Nth reply, restart, wait, count."""
    async with fresh_database(backend) as url, BotAPIStandIn() as standin:
        standin.callback_query_timeout = 600  # late taps are another matter
        key = generate_key()
        practice = await seed(url, key, standin, 8, digest_due=False)
        crisis, busy, *others = practice.client_chats
        burst = Burst(crisis, busy, others[:3], others[3:], practice.therapist_chat)
        await at_the_note(url, burst.writers)
        env = worker_env(standin, url, key)
        with tempfile.TemporaryDirectory() as folder:
            first = start_worker(env, Path(folder) / "first.log")
            second = None
            try:
                await standin.wait_for(
                    lambda: all(standin.sent_to(c) for c in practice.client_chats), timeout=90
                )
                await standin.wait_for(lambda: standin.polls_waiting > 0, timeout=30)
                send_burst(standin, burst)
                await standin.wait_for(
                    lambda: replies(standin, crisis, USE_BUTTONS) >= kill_after, timeout=60
                )
                first.kill9()
                before = tally(standin, burst)
                second = start_worker(env, Path(folder) / "second.log")

                async def done() -> bool:
                    return tally(standin, burst).complete(burst)

                # What is still missing after two minutes is counted as not handled.
                with contextlib.suppress(AssertionError):
                    await eventually(done, 120, "the burst handled")
                after = tally(standin, burst)
                await second.terminate()
            finally:
                first.stop()
                if second is not None:
                    second.stop()
    return Trial(
        size=burst.size,
        in_hand=burst.size - before.handled,
        handled_after=after.handled - before.handled,
        crisis_replies=after.crisis_replies,
        alerts=after.alerts,
        duplicates=after.duplicates,
    )


def main() -> None:
    """Parse options, run the trials, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--kill-after", type=int, default=3)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"updates handled after a crash, on {machine()}")
    print(
        f"{'backend':9} {'trial':>5} {'burst':>5} {'in hand at kill':>15} "
        f"{'handled after restart':>21} {'crisis replies':>14} {'alerts':>6} {'twice':>5}"
    )
    for backend in backends:
        for n in range(1, args.trials + 1):
            row = asyncio.run(trial(backend, args.kill_after))
            print(
                f"{backend:9} {n:>5} {row.size:>5} {row.in_hand:>15} "
                f"{row.handled_after:>21} {row.crisis_replies:>14} {row.alerts:>6} "
                f"{row.duplicates:>5}"
            )


if __name__ == "__main__":
    main()
