"""Alert burden: how many clients the strain rules flag per week on a realistic caseload.

Run:  .venv/bin/python bench/alert_burden.py [--seed 7] [--clients 40] [--weeks 12] [--seeds 20]

Prints, for one seeded caseload, each weekly digest's share of clients at WATCH and
at CONVERSATION ("consider a relationship conversation") and the immediate alerts
of that week; then the same averaged over several seeds. The caseload comes from
bot.core.simulation (ceiling-heavy answers, some ruptures, some withdrawal).
"""

from __future__ import annotations

import argparse
from collections import Counter
from statistics import fmean

from bot.core.instrument import get_instrument
from bot.core.simulation import WeekBurden, measure_alert_burden, simulate_caseload


def burden(seed: int, clients: int, weeks: int) -> list[WeekBurden]:
    """The weekly figures for one seeded caseload."""
    caseload = simulate_caseload(seed, clients=clients, weeks=weeks)
    return measure_alert_burden(caseload, get_instrument(), weeks)


def main() -> None:
    """Print the weekly table and the summary over seeds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=20, help="caseloads in the summary")
    args = parser.parse_args()

    rows = burden(args.seed, args.clients, args.weeks)
    print(f"Caseload seed {args.seed}: {args.clients} clients, {args.weeks} weekly digests")
    print(f"{'digest':<12}{'clients':>8}{'watch':>9}{'conversation':>14}{'alerts':>8}")
    for row in rows:
        print(
            f"{row.digest_at:%Y-%m-%d}  {row.clients:>8}{row.watch_share:>9.1%}"
            f"{row.conversation_share:>14.1%}{row.alerts:>8}"
        )
    print(
        f"{'mean':<12}{fmean(r.clients for r in rows):>8.1f}"
        f"{fmean(r.watch_share for r in rows):>9.1%}"
        f"{fmean(r.conversation_share for r in rows):>14.1%}"
        f"{fmean(r.alerts for r in rows):>8.2f}"
    )

    seeds = range(1, args.seeds + 1)
    weekly = [row for seed in seeds for row in burden(seed, args.clients, args.weeks)]
    conversation = sorted(r.conversation_share for r in weekly)
    print()
    print(f"Over {args.seeds} caseloads ({len(weekly)} weekly digests):")
    print(f"  watch         mean {fmean(r.watch_share for r in weekly):.1%}")
    print(
        f"  conversation  mean {fmean(conversation):.1%}, "
        f"middle 80 % {conversation[len(conversation) // 10]:.1%}"
        f"–{conversation[len(conversation) * 9 // 10]:.1%}"
    )
    print(
        f"  immediate alerts  {fmean(r.alerts for r in weekly):.2f} per week per caseload "
        f"({fmean(r.alerts / r.clients for r in weekly if r.clients):.1%} of clients)"
    )
    rules: Counter[str] = Counter()
    for row in weekly:
        rules.update(row.conversation_rules)
    flagged = sum(r.conversation for r in weekly)
    print("  what put clients at conversation (a client can have several):")
    for rule, count in rules.most_common():
        print(f"    {rule:<20}{count / flagged:>6.0%}")


if __name__ == "__main__":
    main()
