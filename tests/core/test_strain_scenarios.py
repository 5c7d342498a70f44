"""Every story in the scenario library gets the severity and reasons it should."""

from __future__ import annotations

import pytest
from scenarios import SCENARIOS, Scenario

from bot.core.strain import assess_checkin_alert, assess_strain


def test_library_is_large_and_names_are_unique() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) >= 30
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    assessment = assess_strain(scenario.history(), scenario.instrument(), scenario.now())

    assert assessment.severity == scenario.severity, scenario.story
    assert {r.rule for r in assessment.reasons} == scenario.rules, scenario.story
    assert assessment.repaired == scenario.repaired, scenario.story
    assert assessment.severe == scenario.severe, scenario.story
    assert assessment.no_data == scenario.no_data, scenario.story
    if scenario.dipped_first is not None:
        assert assessment.dipped[:1] == (scenario.dipped_first,), scenario.story
    since_visit = scenario.extra.get("since_visit")
    if since_visit is not None:
        assert isinstance(since_visit, int), scenario.story
        assert assessment.since == scenario.history().checkins[since_visit].session_end


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_immediate_alert_only_for_the_severe_end(scenario: Scenario) -> None:
    alert = assess_checkin_alert(scenario.history(), scenario.instrument())
    assert alert == scenario.severe, scenario.story
