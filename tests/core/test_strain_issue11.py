"""Issue 11's rules as the therapist sees them, and the practice's policy file of thresholds."""

from __future__ import annotations

import dataclasses
import html
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from scenarios import build_history, c, digest_time, steady

from bot.core.digest import compose_digest, detail_entries, render_detail, render_digest
from bot.core.instrument import get_instrument
from bot.core.strain import (
    DEFAULT_SETTINGS,
    Severity,
    StrainPolicyError,
    StrainSettings,
    assess_checkin_alert,
    assess_strain,
    settings_from_policy,
)
from bot.doctor import check_strain_policy
from bot.strain_policy import POLICY_FILE, read_strain_policy
from bot.texts import Texts

NOISY = [c(4, 5, 3, 4), c(5, 3, 4, 5), c(3, 4, 5, 4), c(5, 4, 4, 3), c(4, 5, 3, 5), c(3, 4, 4, 5)]
RECURRING = [
    *steady(3),
    c(5, 5, 5, 5, tension=1, talked=0),
    c(5, 5, 5, 5),
    c(5, 5, 5, 5, tension=1, talked=0),
    c(5, 5, 5, 5),
]


def shown(histories: list, locale: str = "en") -> str:  # type: ignore[type-arg]
    """The digest as the therapist reads it (tags stripped)."""
    now = max(h.checkins[-1].session_end for h in histories) + timedelta(days=3)
    digest = compose_digest(histories, get_instrument(), now)
    start, tz = now - timedelta(days=7), ZoneInfo("UTC")
    messages = render_digest(Texts(), locale, digest, "Dr", start, now, tz)
    # The triage, then the detail behind each conversation-level client's button.
    for entry in detail_entries(digest):
        messages += render_detail(Texts(), locale, entry, start, now, tz)
    return html.unescape("\n".join(messages).replace("<b>", "").replace("</b>", ""))


def test_a_usual_midpoint_is_shown_with_the_range_that_makes_it_no_news() -> None:
    history = build_history([*NOISY, c(3, 4, 4, 4)], alias="noisy")
    text = shown([history])
    # The triage names a steady client on the steady line and says nothing more: a 3 inside
    # their usual 3–5 is no news, so it is neither a finding to watch nor a reason to talk.
    assert "1 steady" in text
    assert "Steady: noisy" in text
    assert "0 to watch" in text and "0 to talk with" in text
    assessment = assess_strain(history, get_instrument(), history.checkins[-1].session_end)
    assert assessment.severity is Severity.STEADY


def test_recurring_unresolved_tension_has_its_own_plain_line() -> None:
    text = shown([build_history(RECURRING, alias="kai")])
    assert (
        "Tension you haven't heard was resolved, for the second time in their last "
        "5 check-ins" in text
    )
    assert "Good news" not in text


def test_a_domain_with_several_findings_counts_once_when_ordering() -> None:
    # "aaa": bond 3 for a usually-4 client trips the low-item and the baseline rule on
    # one domain; "zzz": two domains below their usual range. Same severity (watch):
    # two domains weigh more than one domain counted twice.
    one_domain = build_history([*steady(4, 4, 4, 4, 4), c(3, 4, 4, 4)], alias="aaa", client_id=1)
    two_domains = build_history([*steady(4), c(4, 4, 5, 5)], alias="zzz", client_id=2)
    now = digest_time([c(4, 4, 4, 4)] * 5)
    digest = compose_digest([one_domain, two_domains], get_instrument(), now)
    watch = [e.history.alias for e in digest.group("watch")]
    assert watch == ["zzz", "aaa"]


def test_an_earlier_rupture_does_not_hide_the_next_one() -> None:
    fresh = [*steady(7), c(3, 5, 5, 5)]
    after_rupture = [*steady(2), c(2, 2, 3, 4), *steady(4), c(3, 5, 5, 5)]
    for visits in (fresh, after_rupture):
        result = assess_strain(build_history(visits), get_instrument(), digest_time(visits))
        baseline = [r for r in result.reasons if r.rule == "below_baseline"]
        assert [r.severity for r in baseline] == [Severity.CONVERSATION]
        assert baseline[0].baseline == 5


def test_the_shipped_policy_names_every_threshold_at_its_default() -> None:
    text = POLICY_FILE.read_text(encoding="utf-8")
    for setting in dataclasses.fields(StrainSettings):
        assert f"\n{setting.name} = " in text, setting.name
    assert read_strain_policy() == DEFAULT_SETTINGS


def test_a_practice_changes_a_threshold_without_code(tmp_path: Path) -> None:
    policy = tmp_path / "strain_policy.toml"
    policy.write_text("recurring_tension_reports = 3\n", encoding="utf-8")
    settings = read_strain_policy(policy)
    history = build_history(RECURRING)
    now = digest_time(RECURRING)
    assert assess_strain(history, get_instrument(), now).severity == Severity.CONVERSATION
    assert assess_strain(history, get_instrument(), now, settings).severity == Severity.WATCH


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"recurring_tension_report": 2}, "unknown threshold 'recurring_tension_report'"),
        ({"chronic_checkins": "three"}, "'chronic_checkins' must be a int"),
        ({"low_item_relative": 1}, "'low_item_relative' must be a bool"),
        ({"baseline_watch_sd": 3.0}, "baseline_watch_sd must be ≤ baseline_conversation_sd"),
    ],
)
def test_a_bad_policy_is_refused_with_the_problem_named(
    policy: dict[str, object], message: str
) -> None:
    with pytest.raises(StrainPolicyError, match=message.replace("(", r"\(")):
        settings_from_policy(policy)


def test_doctor_reports_a_bad_policy_file_in_one_line(tmp_path: Path) -> None:
    policy = tmp_path / "strain_policy.toml"
    policy.write_text("convergence_points = 1\nnot_a_rule = 2\n", encoding="utf-8")
    check = check_strain_policy(policy)
    assert check.status == "FAIL"
    assert "unknown threshold 'not_a_rule'" in check.detail
    assert "\n" not in check.line()
    assert check_strain_policy().status == "OK"


def alert(visits: list) -> bool:  # type: ignore[type-arg]
    """Whether the newest check-in of these visits alerts at once."""
    return assess_checkin_alert(build_history(visits), get_instrument())


def test_a_client_who_stays_low_is_alerted_again_only_after_recovering_or_worsening() -> None:
    low = c(2, 2, 3, 3)
    assert alert([*steady(4, 4, 4, 4, 4), low])
    assert not alert([*steady(4, 4, 4, 4, 4), low, c(3, 3, 3, 3), low]), "not recovered"
    assert alert([*steady(4, 4, 4, 4, 4), low, c(4, 4, 4, 4), low]), "recovered in between"
    assert alert([*steady(4, 4, 4, 4, 4), low, c(2, 2, 2, 3)]), "worse: a third domain"
    # "Worse" is measured against the worst since the client was last well, not
    # against the check-in just before.
    worst, milder = c(2, 2, 2, 2), c(2, 2, 3, 3)
    assert not alert([*steady(4, 4, 4, 4, 4), worst, milder, c(3, 3, 3, 3), c(2, 2, 2, 3)])


def test_open_tension_alerts_once_until_it_is_talked_through() -> None:
    lot_no = c(5, 5, 5, 5, tension=2, talked=0)
    assert alert([*steady(4), lot_no])
    assert not alert([*steady(4), lot_no, c(5, 5, 5, 5), lot_no]), "still open"
    talked = c(5, 5, 5, 5, tension=1, talked=2)
    assert alert([*steady(4), lot_no, talked, lot_no]), "talked through in between: new"


def test_a_check_in_left_mid_way_is_judged_only_when_settled() -> None:
    history = build_history([*steady(4), c(5, 5, 5, 5, tension=2, talked=None, status="pending")])
    assert not assess_checkin_alert(history, get_instrument())
    assert assess_checkin_alert(history, get_instrument(), settled=True)
