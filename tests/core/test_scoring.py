"""Scoring one check-in: domain means, reverse scoring, tension and repair, completeness."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from scenarios import reversed_instrument

from bot.core.instrument import get_instrument
from bot.core.scoring import CheckinRecord, CheckinStatus, score_checkin

WHEN = datetime(2025, 3, 3, 10, tzinfo=UTC)


def record(
    answers: Mapping[str, int | None],
    status: CheckinStatus = "completed",
    sequence: int = 1,
    instrument_id: str = "alliance-default",
) -> CheckinRecord:
    return CheckinRecord(
        checkin_id=1,
        sequence=sequence,
        session_end=WHEN,
        due_at=WHEN + timedelta(hours=1),
        status=status,
        answers=answers,
        has_comment=False,
        instrument_id=instrument_id,
    )


ALL_FINE = {"bond": 5, "goals": 4, "tasks": 5, "openness": 3, "tension": 0}


def test_domains_and_overall_are_means_of_core_items() -> None:
    score = score_checkin(get_instrument(), record({**ALL_FINE, "support": 1}, sequence=4))
    assert score.domains == {"bond": 5, "goals": 4, "tasks": 5, "openness": 3, "support": 1}
    # Support is asked every 4th time and is not a core item: it stays out of the overall.
    assert score.overall == pytest.approx(4.25)
    assert score.scored


def test_reverse_scored_item_counts_in_the_alliance_direction() -> None:
    instrument = reversed_instrument()
    score = score_checkin(
        instrument, record({"heard": 5, "distant": 5, "aims": 4}, instrument_id="reverse-demo")
    )
    # "I felt distant" answered 5 scores 1; the bond domain averages 5 and 1.
    assert score.domains["bond"] == pytest.approx(3.0)
    assert score.overall == pytest.approx((5 + 1 + 4) / 3)


def test_tension_talked_through_is_a_repair() -> None:
    score = score_checkin(get_instrument(), record({**ALL_FINE, "tension": 2, "talked_through": 2}))
    assert (score.tension, score.talked_through) == (2, 2)
    assert score.repaired and not score.unresolved


@pytest.mark.parametrize("talked", [0, 1, None])
def test_tension_not_fully_talked_through_is_unresolved(talked: int | None) -> None:
    score = score_checkin(
        get_instrument(), record({**ALL_FINE, "tension": 1, "talked_through": talked})
    )
    assert score.unresolved and not score.repaired


def test_follow_up_not_yet_asked_while_pending_is_not_unresolved() -> None:
    open_checkin = record({"bond": 5, "tension": 2}, status="pending")
    closed_checkin = record({"bond": 5, "tension": 2}, status="partial")
    assert not score_checkin(get_instrument(), open_checkin).unresolved
    assert score_checkin(get_instrument(), closed_checkin).unresolved


def test_no_tension_is_neither_repaired_nor_unresolved() -> None:
    score = score_checkin(get_instrument(), record(ALL_FINE))
    assert score.tension == 0
    assert not score.repaired and not score.unresolved


def test_completeness_counts_applicable_required_items() -> None:
    instrument = get_instrument()
    assert score_checkin(instrument, record(ALL_FINE)).completeness == 1.0
    # The follow-up becomes applicable once tension is reported.
    with_tension = score_checkin(instrument, record({**ALL_FINE, "tension": 1}))
    assert with_tension.completeness == pytest.approx(5 / 6)
    # Every 4th check-in includes the support item.
    fourth = score_checkin(instrument, record(ALL_FINE, sequence=4))
    assert fourth.completeness == pytest.approx(5 / 6)
    half = score_checkin(instrument, record({"bond": 4, "goals": None}, status="partial"))
    assert half.completeness == pytest.approx(1 / 5)


def test_corrupt_and_unknown_answers_are_ignored() -> None:
    score = score_checkin(
        get_instrument(), record({"bond": 9, "goals": -1, "tasks": 4, "nonsense": 3})
    )
    assert score.domains == {"tasks": 4}
    assert score.overall == 4


def test_nothing_answered_scores_nothing() -> None:
    score = score_checkin(get_instrument(), record({}, status="unanswered"))
    assert not score.scored
    assert score.overall is None and score.tension is None
    assert score.completeness == 0.0


def test_responded_and_non_response() -> None:
    silent = record({}, status="unanswered")
    assert silent.non_response and not silent.responded
    skipped_all = record({"bond": None}, status="partial")
    assert not skipped_all.responded and not skipped_all.non_response
    assert record({"bond": 4}).responded
