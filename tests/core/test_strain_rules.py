"""The strain rules one at a time: baseline arithmetic, thresholds, settings, time."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from statistics import fmean, stdev

import pytest
from scenarios import (
    FIRST_SESSION,
    MISSED,
    WEEK,
    Visit,
    build_history,
    c,
    digest_time,
    steady,
)

from bot.core.instrument import get_instrument, parse_instrument
from bot.core.strain import (
    DEFAULT_SETTINGS,
    Reason,
    Severity,
    StrainAssessment,
    StrainSettings,
    assess_strain,
)


def assess(visits: list[Visit], settings: StrainSettings = DEFAULT_SETTINGS) -> StrainAssessment:
    history = build_history(visits)
    return assess_strain(history, get_instrument(), digest_time(visits), settings)


def reason(assessment: StrainAssessment, rule: str, domain: str | None = None) -> Reason:
    found = [r for r in assessment.reasons if r.rule == rule and r.domain == domain]
    assert len(found) == 1, assessment.reasons
    return found[0]


def test_baseline_is_mean_and_sd_of_earlier_checkins() -> None:
    bonds = [5, 4, 5, 4]
    result = assess([*(c(b, 5, 5, 5) for b in bonds), c(3, 5, 5, 5)])
    found = reason(result, "below_baseline", "bond")
    assert found.baseline == pytest.approx(fmean(bonds))
    assert found.sd == pytest.approx(stdev(bonds))
    assert found.drop == pytest.approx(fmean(bonds) - 3)
    assert found.value == 3 and found.scale_max == 5 and found.count == 4
    # 1.5 ≥ max(2 SD = 1.15, floor 1.5): a deep dip.
    assert found.severity == Severity.CONVERSATION


def test_ceiling_client_floor_notices_one_point() -> None:
    found = reason(assess([*steady(5), c(5, 4, 5, 5)]), "below_baseline", "goals")
    assert found.sd == 0 and found.drop == 1
    assert found.severity == Severity.WATCH


def test_variable_client_needs_a_bigger_drop() -> None:
    # A client swinging between 3 and 5 (SD ≈ 1.1): a 4 is inside their range.
    bonds = [5, 3, 5, 3, 5]
    result = assess([*(c(b, 5, 5, 5) for b in bonds), c(4, 5, 5, 5)])
    assert not [r for r in result.reasons if r.rule == "below_baseline"]
    # Two SDs below their mean is a V-shaped rupture even for them.
    result = assess([*(c(b, 5, 5, 5) for b in bonds), c(1, 5, 5, 5)])
    assert reason(result, "below_baseline", "bond").severity == Severity.CONVERSATION


def test_no_baseline_before_enough_history() -> None:
    # Only two earlier check-ins (the minimum is three), and past the early phase.
    visits = [MISSED, MISSED, c(5, 5, 5, 5), c(5, 5, 5, 5), c(4, 5, 5, 5)]
    assert assess(visits).severity == Severity.STEADY


def test_baseline_uses_only_the_recent_window() -> None:
    # Long ago the client answered 2; the last eight answers were all 5.
    visits = [*steady(3, 2, 5, 5, 5), *steady(8), c(4, 5, 5, 5)]
    found = reason(assess(visits), "below_baseline", "bond")
    assert found.baseline == 5 and found.count == 8


def test_decline_needs_more_than_one_step_down() -> None:
    stepped = assess([*steady(4), *steady(3, 4, 5, 5, 5)])
    assert not [r for r in stepped.reasons if r.rule == "decline"]
    gradual = assess([*steady(3), c(5, 5, 5, 4), c(5, 5, 4, 4), c(5, 4, 4, 4)])
    found = reason(gradual, "decline")
    assert found.count == 4 and found.value == pytest.approx(4.25)
    assert found.drop == pytest.approx(0.75)


def test_low_item_thresholds_follow_the_scale() -> None:
    ten_point = parse_instrument(
        {
            "id": "ten",
            "version": 1,
            "locales": ["en"],
            "name": {"en": "Ten"},
            "scales": {"ten": {"min": 0, "max": 10, "labels": {"en": [""] * 11}}},
            "items": [
                {
                    "id": "fit",
                    "domain": "tasks",
                    "kind": "scale",
                    "scale": "ten",
                    "core": True,
                    "text": {"en": "Fit"},
                },
            ],
        }
    )
    late = 10  # past the early check-ins

    def verdict(value: int) -> Severity:
        visits = [Visit(answers={"fit": value}, instrument_id="ten")]
        history = build_history([MISSED] * (late - 1) + visits)
        return assess_strain(history, ten_point, digest_time([MISSED] * late)).severity

    assert verdict(6) == Severity.STEADY
    assert verdict(5) == Severity.WATCH  # the midpoint of 0-10
    assert verdict(2) == Severity.CONVERSATION  # below a quarter of the scale


def test_settings_change_the_verdict() -> None:
    visits = [*steady(6), c(4, 5, 5, 5)]
    assert assess(visits).severity == Severity.WATCH
    lenient = dataclasses.replace(DEFAULT_SETTINGS, baseline_watch_floor=1.5)
    assert assess(visits, lenient).severity == Severity.STEADY


def test_settings_are_frozen_and_checked() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_SETTINGS.tension_a_lot = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="baseline"):
        StrainSettings(baseline_min_checkins=1)
    with pytest.raises(ValueError, match="low_item"):
        StrainSettings(low_item_conversation_at_or_below=4.0)
    with pytest.raises(ValueError, match="withdrawal"):
        StrainSettings(withdrawal_watch_unanswered=3, withdrawal_conversation_unanswered=2)


def test_every_setting_is_documented_for_clinicians() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "clinical.md").read_text(encoding="utf-8")
    for setting in dataclasses.fields(StrainSettings):
        assert f"`{setting.name}`" in doc, setting.name


def test_assessment_is_deterministic() -> None:
    visits = [*steady(4), c(2, 4, 5, 5, tension=2, talked=0), MISSED]
    assert assess(visits) == assess(visits)


def test_strain_is_forgotten_after_the_memory_window() -> None:
    visits = [*steady(4), c(2, 5, 5, 5)]
    history = build_history(visits)
    last_session = FIRST_SESSION + 4 * WEEK
    memory = timedelta(days=DEFAULT_SETTINGS.strain_memory_days)
    at_edge = assess_strain(history, get_instrument(), last_session + memory)
    after = assess_strain(history, get_instrument(), last_session + memory + timedelta(hours=1))
    assert at_edge.severity == Severity.CONVERSATION
    assert after.severity == Severity.STEADY


def test_since_is_when_the_strain_began() -> None:
    visits = [*steady(4), c(2, 5, 5, 5), c(3, 5, 5, 5)]
    assert assess(visits).since == FIRST_SESSION + 4 * WEEK
    withdrawn = [*steady(4), MISSED, MISSED]
    history = build_history(withdrawn)
    assessment = assess_strain(history, get_instrument(), digest_time(withdrawn))
    assert assessment.since == history.checkins[4].due_at


def test_expired_without_answers_is_not_a_non_response() -> None:
    never_sent = Visit(answers={}, status="expired")
    assert assess([*steady(4), MISSED, never_sent, MISSED]).severity == Severity.WATCH
    assert assess([*steady(4), MISSED, never_sent]).severity == Severity.STEADY
    late_answer = Visit(answers={"bond": 5}, status="expired")
    assert assess([*steady(4), MISSED, late_answer, MISSED]).severity == Severity.STEADY


def test_checkins_after_now_are_ignored() -> None:
    visits = [*steady(4), c(1, 1, 1, 1)]
    history = build_history(visits)
    before_last = FIRST_SESSION + 3 * WEEK + timedelta(days=1)
    assert assess_strain(history, get_instrument(), before_last).severity == Severity.STEADY


def test_checkins_on_another_instrument_do_not_form_the_baseline() -> None:
    other = [Visit(answers={"bond": 5}, instrument_id="something-else") for _ in range(5)]
    result = assess([*other, c(4, 5, 5, 5)])
    assert result.severity == Severity.STEADY
    assert not result.no_data


def test_repaired_reasons_name_the_eased_strain() -> None:
    result = assess([*steady(4), c(2, 5, 5, 5), c(5, 5, 5, 5)])
    assert result.repaired and result.severity == Severity.STEADY
    assert {r.rule for r in result.repaired_reasons} == {"below_baseline", "low_item"}
    assert result.strained_checkins == (1005,)


def test_repair_is_old_news_after_the_lookback() -> None:
    result = assess([*steady(4), c(2, 5, 5, 5), *steady(3)])
    assert not result.repaired
