"""Strain thresholds compared on the simulated caseloads: burden against detection.

Run:  .venv/bin/python bench/strain_tradeoff.py [--set NAME=VALUE ...] [--seeds 20]
                                                 [--first-seed 1] [--tension 0.20 0.35]

Runs the quality bench's simulation and judgement (bot.offline.flag_quality) with the
default strain settings changed by each --set (a setting of bot.core.strain's
StrainSettings, as in prompts/strain_policy.toml), and prints one line per tension
rate: clients per week at conversation and at watch, precision and recall of
"conversation", ruptures/declines/withdrawals found in the first digest (watch or
above, conversation), event-free clients flagged and at conversation in the quarter.
Use it to see what a practice's policy would trade; bench/alert_burden.py gives the
full figures for the defaults. With --ceilings it also prints what bounds any rule
set on these caseloads: the share of client-weeks inside a simulated event (or the
14 days after it), and the share of event-free clients who reported a tension not
(fully) talked through in the quarter.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

# This checkout's code, whichever copy of the project is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.instrument import get_instrument  # noqa: E402
from bot.core.strain import DEFAULT_SETTINGS, StrainSettings, settings_from_policy  # noqa: E402
from bot.offline.caseload import (  # noqa: E402
    SimulatedClient,
    SimulationConfig,
    digest_moments,
    simulate_caseload,
)
from bot.offline.flag_quality import RELEVANCE, judge, merge, trace_caseload  # noqa: E402

TARGET_KINDS = ("rupture", "large_rupture", "decline", "withdrawal")


def _settings(assignments: list[str]) -> StrainSettings:
    """The default settings with each NAME=VALUE (a TOML value) applied."""
    policy = {f.name: getattr(DEFAULT_SETTINGS, f.name) for f in dataclasses.fields(StrainSettings)}
    for assignment in assignments:
        policy.update(tomllib.loads(assignment.replace("=", " = ", 1)))
    return settings_from_policy(policy)


def _ceilings(caseloads: list[list[SimulatedClient]], digests: list[datetime]) -> str:
    """Client-weeks inside an event; event-free clients with a tension left open."""
    start, end = digests[0] - timedelta(weeks=1), digests[-1]
    weeks = inside = free = free_tension = 0
    for caseload in caseloads:
        for client in caseload:
            for moment in digests:
                if client.history.enrolled_at <= moment:
                    weeks += 1
                    inside += any(e.start <= moment <= e.end + RELEVANCE for e in client.events)
            if client.event_free:
                free += 1
                free_tension += any(
                    start < c.session_end <= end
                    and (c.answers.get("tension") or 0) > 0
                    and c.answers.get("talked_through") != 2
                    for c in client.history.checkins
                )
    return (
        f"client-weeks inside an event {inside / weeks:.1%}, event-free clients who "
        f"reported tension not talked through {free_tension / free:.1%}"
    )


def main() -> None:
    """Print the trade-off figures for the given settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--tension", type=float, nargs="+", default=[0.20, 0.35])
    parser.add_argument("--ceilings", action="store_true", help="also print the ceilings")
    args = parser.parse_args()
    settings = _settings(args.set)
    instrument = get_instrument()
    digests = digest_moments(13)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"settings changed: {', '.join(args.set) or 'none'}; seeds {seeds[0]}–{seeds[-1]}")
    for tension in args.tension:
        parts, caseloads = [], []
        for seed in seeds:
            caseload = simulate_caseload(seed, 40, 13, SimulationConfig(tension_rate=tension))
            traces = trace_caseload(caseload, instrument, digests, settings)
            parts.append(judge(caseload, traces, digests))
            caseloads.append(caseload)
        q = merge(parts)
        print(
            f"tension {tension:.0%}: conversation/week {q.conversation_share:.1%}, "
            f"watch/week {q.watch_share:.1%}, precision {q.precision:.1%}, "
            f"recall {q.recall():.1%}, first digest watch+ "
            f"{q.first_digest(TARGET_KINDS, conversation=False):.1%}, conversation "
            f"{q.first_digest(TARGET_KINDS, conversation=True):.1%}, event-free flagged "
            f"{q.event_free_flagged_share:.1%}, at conversation "
            f"{q.event_free_conversation_share:.1%}"
        )
        if args.ceilings:
            print(f"  ceilings at {tension:.0%}: {_ceilings(caseloads, list(digests))}")


if __name__ == "__main__":
    main()
