"""Held-out agreement: the conversation loop and the opener choice against a clinician's verdicts.

Run:  .venv/bin/python bench/loop_heldout.py [--block a|b] [--cases] [--named-domains]

The cases are in tests/data/loop_heldout/ (README there): conversation-loop histories
(what the digest says next after a suggested relationship conversation) and strain
patterns (which topic the two openers are about), written as a clinician's stories
before the rules were read or run on them and never edited to make them pass. The
digests are replayed as tests/core/loop_heldout_cases.py describes. Prints agreement per
verdict and overall, and lists every disagreement; ``--cases`` lists every case.

``--block``: "b" (the default) is the block written blind after block "a" had been used
to fix the loop; block "a" is a tuning set since then (its first run is the figure it
gave as a held-out set, in docs/clinical.md).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This checkout's code and cases, whichever copy of the project is installed.
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "core")]

from loop_heldout_cases import (  # noqa: E402
    BLOCKS,
    LOOP_VERDICTS,
    judge_opener,
    load,
    replay_loop,
)

from bot.core.openers import TOPICS  # noqa: E402
from bot.core.strain import Severity  # noqa: E402


def _table(title: str, order: tuple[str, ...], want: Counter[str], hit: Counter[str]) -> None:
    """Agreement per verdict, then overall."""
    print(title)
    for verdict in order:
        if want[verdict]:
            print(f"  {verdict:<20} {hit[verdict]:>2}/{want[verdict]:<2}")
    total, agreed = sum(want.values()), sum(hit.values())
    print(f"  {'overall':<20} {agreed:>2}/{total:<2} = {agreed / total:.0%}")


def main() -> None:
    """Print the agreement figures and the disagreements (every case on request)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", action="store_true", help="list every case")
    parser.add_argument(
        "--named-domains",
        action="store_true",
        help="store the domains each case names, not what the rules found (the first run)",
    )
    parser.add_argument("--block", choices=sorted(BLOCKS), default="b")
    args = parser.parse_args()
    LOOP_FILE, OPENERS_FILE = BLOCKS[args.block]

    want: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    misses: list[str] = []
    for case in load(LOOP_FILE):
        got = replay_loop(case, named=args.named_domains)
        expect = str(case["expect"])
        want[expect] += 1
        hit[expect] += got.verdict == expect
        line = (
            f"{case['id']}  want {expect:<19} got {got.verdict:<19} (week {got.week})"
            f"  digests {' '.join(got.trail)}"
        )
        if got.verdict != expect:
            misses.append(f"{line}\n      {case['story']}\n      clinician: {case['why']}")
        if args.cases:
            print(("ok " if got.verdict == expect else "XX ") + line)
    _table(f"Conversation loop, held-out ({LOOP_FILE.name}):", LOOP_VERDICTS, want, hit)
    for miss in misses:
        print("  XX " + miss)

    want, hit, misses = Counter(), Counter(), []
    offered = 0
    for case in load(OPENERS_FILE):
        opener = judge_opener(case)
        expect = str(case["expect"])
        want[expect] += 1
        hit[expect] += opener.topic == expect
        level = Severity(opener.severity).name.lower()
        offered += opener.severity == Severity.CONVERSATION
        line = f"{case['id']}  want {expect:<13} got {opener.topic:<13} strain {level}"
        if opener.topic != expect:
            misses.append(f"{line}\n      {case['story']}\n      clinician: {case['why']}")
        if args.cases:
            print(("ok " if opener.topic == expect else "XX ") + line)
    print()
    _table(f"Opener topic, held-out ({OPENERS_FILE.name}):", TOPICS, want, hit)
    total = sum(want.values())
    print(f"  (the digest offers openers at all, strain at conversation level: {offered}/{total})")
    for miss in misses:
        print("  XX " + miss)


if __name__ == "__main__":
    main()
