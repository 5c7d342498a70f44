"""Persistence: a lone mild sign is a watch; it becomes a conversation when strain persists."""

from __future__ import annotations

import dataclasses

import pytest
from scenarios import MISSED, Visit, build_history, c, digest_time, steady

from bot.core.instrument import get_instrument
from bot.core.strain import (
    DEFAULT_SETTINGS,
    Severity,
    StrainAssessment,
    StrainSettings,
    assess_checkin_alert,
    assess_strain,
    checkin_severities,
)

QUIET = dataclasses.replace(DEFAULT_SETTINGS, persistence_for_single_drop=True)


def assess(visits: list[Visit], settings: StrainSettings = DEFAULT_SETTINGS) -> StrainAssessment:
    return assess_strain(build_history(visits), get_instrument(), digest_time(visits), settings)


def rules_at(assessment: StrainAssessment, severity: Severity) -> set[str]:
    return {r.rule for r in assessment.reasons if r.severity == severity}


def test_a_lone_little_tension_not_talked_through_is_a_watch() -> None:
    result = assess([*steady(4), c(5, 5, 5, 5, tension=1, talked=0)])
    assert result.severity == Severity.WATCH
    assert rules_at(result, Severity.WATCH) == {"unresolved_tension"}
    assert not result.repaired


def test_a_little_tension_after_a_strained_checkin_is_a_conversation() -> None:
    result = assess([*steady(4), c(4, 5, 5, 5), c(5, 5, 5, 5, tension=1, talked=0)])
    assert result.severity == Severity.CONVERSATION
    assert "unresolved_tension" in rules_at(result, Severity.CONVERSATION)


def test_a_strained_checkin_outside_the_persistence_window_does_not_count() -> None:
    visits = [*steady(4), c(4, 5, 5, 5), *steady(2), c(5, 5, 5, 5, tension=1, talked=0)]
    assert assess(visits).severity == Severity.WATCH
    wider = dataclasses.replace(DEFAULT_SETTINGS, persistence_window=4)
    assert assess(visits, wider).severity == Severity.CONVERSATION


def test_a_lot_of_tension_needs_no_second_checkin() -> None:
    result = assess([*steady(4), c(5, 5, 5, 5, tension=2, talked=1)])
    assert result.severity == Severity.CONVERSATION


def test_the_rule_can_be_turned_off() -> None:
    off = dataclasses.replace(DEFAULT_SETTINGS, conversation_needs_persistence=False)
    result = assess([*steady(4), c(5, 5, 5, 5, tension=1, talked=0)], off)
    assert result.severity == Severity.CONVERSATION


def test_by_default_a_deep_drop_stands_alone() -> None:
    result = assess([*steady(4), c(3, 5, 5, 5)])
    assert result.severity == Severity.CONVERSATION
    assert "below_baseline" in rules_at(result, Severity.CONVERSATION)


def test_with_single_drop_persistence_a_lone_deep_drop_is_a_watch_until_it_persists() -> None:
    visits = [*steady(4), c(3, 5, 5, 5)]
    assert assess(visits, QUIET).severity == Severity.WATCH
    assert assess([*visits, c(3, 5, 5, 5)], QUIET).severity == Severity.CONVERSATION


def test_single_drop_persistence_leaves_severe_and_convergent_checkins_alone() -> None:
    several_low = [*steady(4), c(2, 2, 5, 5)]
    assert assess(several_low, QUIET).severity == Severity.CONVERSATION
    assert assess_checkin_alert(build_history(several_low), get_instrument(), QUIET)
    everything_down = [*steady(4), c(4, 4, 4, 5, rating=5)]
    assert assess(everything_down, QUIET).severity == Severity.CONVERSATION


def test_a_dip_held_at_watch_that_eases_is_still_good_news() -> None:
    result = assess([*steady(4), c(3, 5, 5, 5), c(5, 5, 5, 5)], QUIET)
    assert result.severity == Severity.STEADY
    assert result.repaired
    assert {r.rule for r in result.repaired_reasons} == {"below_baseline"}


def test_checkin_severities_report_the_held_severity() -> None:
    history = build_history([*steady(4), c(5, 5, 5, 5, tension=1, talked=0), MISSED])
    severities = checkin_severities(history, get_instrument())
    assert list(severities.values())[-1] == Severity.WATCH


def test_persistence_window_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="persistence_window"):
        dataclasses.replace(DEFAULT_SETTINGS, persistence_window=1)


def test_a_little_tension_with_a_dip_in_the_same_checkin_is_a_conversation() -> None:
    result = assess([*steady(4), c(4, 5, 5, 5, tension=1, talked=0)])
    assert result.severity == Severity.CONVERSATION
    assert rules_at(result, Severity.CONVERSATION) == {"unresolved_tension"}
