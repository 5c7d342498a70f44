"""The simulated caseload: seeded, ceiling-heavy, and flagged at a plausible rate."""

from __future__ import annotations

from datetime import timedelta
from statistics import fmean

from bot.core.instrument import get_instrument
from bot.core.simulation import (
    SIMULATION_START,
    history_as_of,
    measure_alert_burden,
    simulate_caseload,
)


def test_same_seed_same_caseload() -> None:
    assert simulate_caseload(3) == simulate_caseload(3)
    assert simulate_caseload(3) != simulate_caseload(4)


def test_answers_sit_near_the_ceiling() -> None:
    answered = [
        record
        for seed in range(1, 4)
        for client in simulate_caseload(seed)
        for record in client.history.checkins
        if record.status == "completed"
    ]
    perfect = [r for r in answered if all(r.answers[i] == 5 for i in ("bond", "goals", "tasks"))]
    assert 0.4 < len(perfect) / len(answered) < 0.75
    unanswered = sum(1 for c in simulate_caseload(1) for r in c.history.checkins if r.non_response)
    total = sum(len(c.history.checkins) for c in simulate_caseload(1))
    assert 0.1 < unanswered / total < 0.35


def test_history_as_of_hides_the_future() -> None:
    client = simulate_caseload(5)[0]
    moment = SIMULATION_START + timedelta(weeks=3)
    view = history_as_of(client, moment)
    assert all(c.session_end <= moment for c in view.checkins)
    assert all(
        c.status != "unanswered" or c.due_at + timedelta(hours=72) <= moment for c in view.checkins
    )


def test_alert_burden_is_clinically_plausible() -> None:
    # Defaults are tuned so a weekly digest suggests a conversation for a
    # single-digit to low-teens share of clients (see docs/clinical.md).
    weeks = [
        row
        for seed in (1, 2, 3)
        for row in measure_alert_burden(simulate_caseload(seed), get_instrument(), 12)
    ]
    share = fmean(row.conversation_share for row in weeks)
    assert 0.03 <= share <= 0.15
    assert fmean(row.alerts for row in weeks) < 1.5
