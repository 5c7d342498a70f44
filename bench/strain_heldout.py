"""Held-out agreement: how often the strain rules give a clinician's verdict on unseen stories.

Run:  .venv/bin/python bench/strain_heldout.py [--cases] [--block a|b]

The stories and verdicts are in tests/core/heldout_histories.py (block a, the default),
written before the rules were changed and never edited to make them pass, and in
tests/core/heldout_histories_b.py (block b), written and committed later by someone
who had not read the rules, before they were run on it. Prints agreement on the
digest's severity (steady / watch / conversation), on the immediate alert (yes/no),
on good news (where a story is about it) and on "since" (where a story is about it);
with ``--cases``, every case with what the rules said.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast, get_args

ROOT = Path(__file__).resolve().parents[1]
# This checkout's code and test stories, whichever copy of the project is installed.
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "core")]

from heldout_histories import HELDOUT, HeldOut  # noqa: E402
from heldout_histories_b import HELDOUT_B, HeldOutB  # noqa: E402
from scenarios import FIRST_SESSION, WEEK, build_history, digest_time  # noqa: E402

from bot.core.instrument import get_instrument  # noqa: E402
from bot.core.strain import ClientStatus, assess_checkin_alert, assess_strain  # noqa: E402

NAMES = {0: "steady", 1: "watch", 2: "conversation"}


def judge(case: HeldOut | HeldOutB) -> dict[str, object]:
    """What the rules make of one held-out story."""
    instrument = get_instrument()
    # Block b can say the client has paused the check-ins; block a's clients are active.
    status = getattr(case, "client_status", "active")
    assert status in get_args(ClientStatus), status
    history = build_history(case.visits, alias=case.name, status=cast(ClientStatus, status))
    assessment = assess_strain(history, instrument, digest_time(case.visits))
    since = None
    if assessment.since is not None:
        since = round((assessment.since - FIRST_SESSION) / WEEK)
    return {
        "severity": int(assessment.severity),
        "alert": assess_checkin_alert(history, instrument),
        "good_news": assessment.repaired,
        "since": since,
    }


def main() -> None:
    """Print the agreement figures (and, on request, each case)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", action="store_true", help="list every case")
    parser.add_argument(
        "--block", choices=("a", "b"), default="a", help="which held-out block (default a)"
    )
    args = parser.parse_args()
    cases: list[HeldOut] | list[HeldOutB] = HELDOUT if args.block == "a" else HELDOUT_B
    agree = {"severity": 0, "alert": 0, "good_news": 0, "since": 0, "all": 0}
    asked = {"good_news": 0, "since": 0}
    for case in cases:
        got = judge(case)
        hits = {
            "severity": got["severity"] == int(case.severity),
            "alert": got["alert"] == case.alert,
        }
        if case.good_news is not None:
            asked["good_news"] += 1
            hits["good_news"] = got["good_news"] == case.good_news
        if case.since_visit is not None:
            asked["since"] += 1
            hits["since"] = got["since"] == case.since_visit
        for key, hit in hits.items():
            agree[key] += hit
        agree["all"] += all(hits.values())
        if args.cases:
            mark = "ok " if all(hits.values()) else "XX "
            print(
                f"{mark}{case.name:<38} want {NAMES[int(case.severity)]:<13}"
                f"alert={'y' if case.alert else 'n'}  got {NAMES[int(got['severity'])]:<13}"  # type: ignore[call-overload]
                f"alert={'y' if got['alert'] else 'n'}"
                + (f"  good_news={got['good_news']}" if case.good_news is not None else "")
                + (f"  since={got['since']}" if case.since_visit is not None else "")
            )
    n = len(cases)
    block = "" if args.block == "a" else f" (block {args.block})"
    print(f"Held-out histories{block}: {n}")
    print(f"  severity agreement   {agree['severity']}/{n} = {agree['severity'] / n:.0%}")
    print(f"  alert agreement      {agree['alert']}/{n} = {agree['alert'] / n:.0%}")
    for key in ("good_news", "since"):
        if asked[key]:
            print(f"  {key:<20} {agree[key]}/{asked[key]} = {agree[key] / asked[key]:.0%}")
    print(f"  whole verdict        {agree['all']}/{n} = {agree['all'] / n:.0%}")


if __name__ == "__main__":
    main()
