"""Alert quality: how often the strain rules flag clients, and whether they flag the right ones.

Run:  .venv/bin/python bench/alert_burden.py [--seeds 20] [--clients 40] [--weeks 13]
                                             [--tension 0.20 0.35] [--weekly SEED]
                                             [--first-seed 1]

Simulates caseloads that know the truth (bot.offline.caseload: response styles,
clustered non-response, ruptures, declines, withdrawals, dropout) and runs the rules
on them as the bot would: a digest every Monday, the immediate-alert judgement on
each check-in once it closes. Prints, for each tension rate, the burden (clients per
week at watch and at conversation, alerts per caseload-week), the quality against
the simulated events (precision and recall of "conversation", events found in the
first digest that could know, time to detection per kind of event, event-free
clients flagged in the quarter, longest run of one flag, alerts repeated without new
information) and the targets of docs/clinical.md. Deterministic for given seeds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

# This checkout's code, whichever copy of the project is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.instrument import get_instrument  # noqa: E402
from bot.core.strain import Severity  # noqa: E402
from bot.offline.caseload import (  # noqa: E402
    EVENT_KINDS,
    CaseloadRates,
    SimulationConfig,
    caseload_rates,
    digest_moments,
    simulate_caseload,
)
from bot.offline.flag_quality import (  # noqa: E402
    ClientTrace,
    Quality,
    judge,
    median,
    merge,
    trace_caseload,
)

TARGET_KINDS = ("rupture", "large_rupture", "decline", "withdrawal")


def run(
    tension: float,
    seeds: range,
    clients: int,
    weeks: int,
    weekly: int | None = None,
) -> tuple[Quality, list[CaseloadRates]]:
    """Simulate and judge one caseload per seed at one tension rate."""
    config = SimulationConfig(tension_rate=tension)
    digests = digest_moments(weeks)
    instrument = get_instrument()
    parts, rates = [], []
    for seed in seeds:
        caseload = simulate_caseload(seed, clients, weeks, config)
        traces = trace_caseload(caseload, instrument, digests)
        parts.append(judge(caseload, traces, digests))
        rates.append(caseload_rates(caseload))
        if weekly == seed:
            _print_weekly(seed, tension, digests, traces)
    return merge(parts), rates


def _print_weekly(
    seed: int, tension: float, digests: Sequence[datetime], traces: Sequence[ClientTrace]
) -> None:
    """One caseload's digests week by week."""
    print(
        f"Caseload seed {seed}, tension {tension:.0%}: clients at watch / conversation per digest"
    )
    for index, moment in enumerate(digests):
        week = [t.severities[index] for t in traces]
        enrolled = [s for s in week if s is not None]
        print(
            f"  {moment:%Y-%m-%d}  {len(enrolled):>3} clients  "
            f"watch {sum(s == Severity.WATCH for s in enrolled):>3}  "
            f"conversation {sum(s == Severity.CONVERSATION for s in enrolled):>3}"
        )
    print()


def _pct(value: float) -> str:
    """A share as a percentage."""
    return f"{value:.1%}"


ROWS: tuple[tuple[str, Callable[[Quality], str], str], ...] = (
    ("clients per week at watch", lambda q: _pct(q.watch_share), ""),
    ("clients per week at conversation", lambda q: _pct(q.conversation_share), "≤ 10 %"),
    ("immediate alerts per caseload-week", lambda q: f"{q.alerts_per_week:.2f}", ""),
    (
        "  of them during a simulated event",
        lambda q: _pct(q.alerts_in_event / q.alerts) if q.alerts else "–",
        "",
    ),
    ("alerts repeated without new information", lambda q: str(q.alerts_repeated), "0"),
    ("conversation: precision (client-weeks)", lambda q: _pct(q.precision), ""),
    (
        "  counting reported tension not talked through as real",
        lambda q: _pct(q.precision_with_tension),
        "",
    ),
    ("conversation: recall (all events)", lambda q: _pct(q.recall()), ""),
    (
        "ruptures/declines/withdrawals, first digest: watch+",
        lambda q: _pct(q.first_digest(TARGET_KINDS, conversation=False)),
        "≥ 80 %",
    ),
    (
        "ruptures/declines/withdrawals, first digest: conversation",
        lambda q: _pct(q.first_digest(TARGET_KINDS, conversation=True)),
        "≥ 60 %",
    ),
    (
        "event-free clients flagged in the quarter",
        lambda q: _pct(q.event_free_flagged_share),
        "≤ 25 %",
    ),
    (
        "event-free clients at conversation in the quarter",
        lambda q: _pct(q.event_free_conversation_share),
        "",
    ),
    ("longest run of one flag, weeks (any client)", lambda q: str(q.longest_run), ""),
    ("longest run of one flag, weeks (event-free)", lambda q: str(q.longest_run_event_free), ""),
)


def _days(values: Sequence[float | None]) -> str:
    """Median days to detection of the events found, and how many were never found."""
    found = [v for v in values if v is not None]
    middle = median(found)
    shown = "–" if middle is None else f"{middle:.0f}"
    return f"{shown:>4} ({len(values) - len(found)} never)"


def _print_kinds(quality: Quality) -> None:
    """Per kind of event: how many, found in the first digest, recall, days to detection."""
    print(
        f"  {'event':<14}{'n':>5}{'knowable':>10}{'1st watch+':>12}{'1st conv':>10}"
        f"{'recall conv':>13}{'days to watch+':>20}{'days to conv':>20}"
    )
    for kind in EVENT_KINDS:
        chosen = [d for d in quality.detections if d.kind == kind]
        timed = [d for d in chosen if d.timed]
        if not chosen:
            continue
        knowable = [d for d in timed if d.knowable]
        print(
            f"  {kind:<14}{len(chosen):>5}{_pct(len(knowable) / len(timed)) if timed else '–':>10}"
            f"{_pct(quality.first_digest([kind], conversation=False)) if knowable else '–':>12}"
            f"{_pct(quality.first_digest([kind], conversation=True)) if knowable else '–':>10}"
            f"{_pct(quality.recall([kind])):>13}"
            f"{_days([d.days_to_watch for d in timed]):>20}"
            f"{_days([d.days_to_conversation for d in timed]):>20}"
        )


def main() -> None:
    """Print the quality table for each tension rate, then the detail per kind of event."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="caseloads per tension rate")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=1,
        help="seeds run from here (1001: caseloads the rules were not tuned on)",
    )
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--weeks", type=int, default=13, help="weekly digests (13: a quarter)")
    parser.add_argument(
        "--tension", type=float, nargs="+", default=[0.20, 0.35], help="session rate of tension"
    )
    parser.add_argument("--weekly", type=int, default=None, help="also list this seed week by week")
    args = parser.parse_args()

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results = [(t, *run(t, seeds, args.clients, args.weeks, args.weekly)) for t in args.tension]
    print(
        f"Strain rules on simulated caseloads: seeds {seeds.start}–{seeds.stop - 1}, "
        f"{args.clients} clients × {args.weeks} weekly digests each"
    )
    width = 58
    header = "".join(f"{'tension ' + format(t, '.0%'):>14}" for t, _, _ in results)
    print(f"{'':<{width}}{header}{'target':>10}")
    for label, show, target in ROWS:
        cells = "".join(f"{show(q):>14}" for _, q, _ in results)
        print(f"{label:<{width}}{cells}{target:>10}")
    print()
    for tension, quality, rates in results:
        n = len(rates)
        print(
            f"Tension {tension:.0%} — caseload as simulated: compliance "
            f"{sum(r.compliance for r in rates) / n:.1%}, sessions with tension "
            f"{sum(r.tension for r in rates) / n:.1%}, check-ins all at the top "
            f"{sum(r.all_top for r in rates) / n:.1%}, "
            f"dropout {sum(r.dropout for r in rates) / n:.1%}"
            f", event-free clients {sum(r.event_free for r in rates) / n:.1%}"
        )
        _print_kinds(quality)
        flagged = quality.conversation_weeks
        rules = sorted(quality.conversation_rules.items(), key=lambda kv: -kv[1])
        shares = (
            ", ".join(f"{rule} {count / flagged:.0%}" for rule, count in rules) if flagged else "–"
        )
        print(f"  what put clients at conversation (a client can have several): {shares}")
        styles = ", ".join(
            f"{style} {quality.event_free_flagged_styles.get(style, 0) / count:.0%} of {count}"
            for style, count in sorted(quality.event_free_styles.items())
        )
        print(f"  event-free clients flagged in the quarter, by response style: {styles}")
        weeks = quality.event_free_flagged_weeks
        free = sorted(quality.event_free_rules.items(), key=lambda kv: -kv[1])
        why = ", ".join(f"{rule} {count / weeks:.0%}" for rule, count in free) if weeks else "–"
        print(f"  what flagged event-free clients ({weeks} client-weeks): {why}")
        print()


if __name__ == "__main__":
    main()
