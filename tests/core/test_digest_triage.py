"""The digest's first message is a triage on one phone screen; openers fit what moved.

The budget is asserted on the simulated 40-client caseloads (bot.offline.caseload), the
same ones `bench/digest.py --layout` measures: every Monday of a quarter, three seeds.
The 🆘 group and the choice of openers are checked on hand-made histories.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from scenarios import build_history, c, steady

from bot.core.digest import (
    compose_digest,
    detail_entries,
    render_detail,
    render_digest,
)
from bot.core.instrument import get_instrument
from bot.core.openers import TOPICS, choose_opener
from bot.core.strain import ClientHistory, Reason, Severity, StrainAssessment
from bot.digest.loop import loop_keyboard
from bot.offline.caseload import digest_moments, history_as_of, simulate_caseload
from bot.texts import Texts

TEXTS = Texts()
UTC_ZONE = ZoneInfo("UTC")
# About one phone screen for the triage of forty clients: lines as Telegram breaks them
# (a phone wraps long ones again: docs/clinical.md, "The digest on one screen") and
# characters as it counts them after parsing the HTML. Before the triage the first
# message alone averaged 53 lines and 3,700 characters.
SCREEN_LINES = 36
SCREEN_CHARACTERS = 1800


def shown(message: str) -> str:
    """A message as Telegram displays it: tags gone, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", message))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_triage_of_forty_simulated_clients_fits_one_screen(seed: int) -> None:
    caseload = simulate_caseload(seed, 40, 13)
    for now in digest_moments(13):
        histories = [history_as_of(c, now) for c in caseload if c.history.enrolled_at <= now]
        digest = compose_digest(histories, get_instrument(), now)
        messages = render_digest(
            TEXTS, "en", digest, "Dr. Ruiz", now - timedelta(days=7), now, UTC_ZONE
        )
        assert len(messages) == 1, now
        text = shown(messages[0])
        assert text.count("\n") + 1 <= SCREEN_LINES, (now, text)
        assert len(text) <= SCREEN_CHARACTERS, (now, len(text))
        # Everyone is named, and no opener or note is in the triage.
        for history in histories:
            assert history.alias in text
        assert "“" not in text and "💡" not in text


NOW = datetime(2025, 3, 6, 12, tzinfo=UTC)
START = NOW - timedelta(days=3 + 6 * 7)


def _risky_caseload() -> tuple[list[ClientHistory], dict[int, datetime]]:
    strained = build_history(
        [*steady(5), c(2, 2, 3, 3, tension=2, talked=0)],
        alias="ana",
        client_id=1,
        first_session=START,
    )
    other = build_history(
        [*steady(5), c(2, 5, 5, 5)], alias="ben", client_id=2, first_session=START
    )
    calm = build_history(steady(6), alias="cy", client_id=3, first_session=START)
    return [strained, other, calm], {1: NOW - timedelta(days=2), 3: NOW - timedelta(days=5)}


def test_a_risk_alert_puts_the_client_in_the_sos_group_on_top_without_openers() -> None:
    histories, risks = _risky_caseload()
    digest = compose_digest(histories, get_instrument(), NOW, risks=risks)
    groups = {e.history.alias: e.group for e in digest.entries}
    assert groups == {"ana": "risk", "ben": "conversation", "cy": "risk"}
    assert [e.history.alias for e in digest.entries][:2] == ["ana", "cy"]
    lines = shown(
        render_digest(TEXTS, "en", digest, "", NOW - timedelta(days=7), NOW, UTC_ZONE)[0]
    ).splitlines()
    assert lines[1].startswith("🆘 2 · 🗣 1 to talk with")
    sos = lines.index("🆘 Risk language this week: follow your safety procedure")
    assert lines[sos + 1 : sos + 3] == ["ana · alert Mar 4", "cy · alert Mar 1"]
    assert lines.index("🗣 Consider a relationship conversation") == sos + 3
    # No button, no answers, and no opener for the 🆘 clients.
    assert [e.history.alias for e in detail_entries(digest)] == ["ben"]
    assert loop_keyboard(TEXTS, "en", digest) == []
    ana = next(e for e in digest.entries if e.history.alias == "ana")
    detail = shown(render_detail(TEXTS, "en", ana, NOW - timedelta(days=7), NOW, UTC_ZONE)[0])
    assert "Follow your safety procedure first" in detail
    assert "You might open with" not in detail and "“" not in detail


def test_an_immediate_alert_this_week_is_marked_on_the_line() -> None:
    histories, _risks = _risky_caseload()
    digest = compose_digest(histories, get_instrument(), NOW, alerted={2})
    text = shown(render_digest(TEXTS, "en", digest, "", NOW - timedelta(days=7), NOW, UTC_ZONE)[0])
    assert "⚠️ ben · " in text and "⚠️ ana · " in text  # ana's check-in is severe itself
    assert "⚠️ cy" not in text


# --- choosing the opener ------------------------------------------------------------


def assessment(*reasons: Reason) -> StrainAssessment:
    return StrainAssessment(
        severity=Severity.CONVERSATION,
        reasons=reasons,
        dipped=(),
        since=None,
        repaired=False,
        severe=False,
        latest=None,
        no_data=False,
    )


def below(domain: str, value: float, baseline: float) -> Reason:
    return Reason(
        "below_baseline",
        Severity.CONVERSATION,
        domain=domain,
        value=value,
        scale_max=5,
        baseline=baseline,
        drop=baseline - value,
    )


def test_the_largest_dip_wins_not_the_order_of_domains() -> None:
    # Bond comes before goals in the rules' order, but goals fell further.
    choice = choose_opener(assessment(below("bond", 4, 5), below("goals", 2, 5)))
    assert choice.topic == "goals"
    assert choose_opener(assessment(below("bond", 2, 5), below("goals", 4, 5))).topic == "bond"


def test_three_domains_moving_together_get_the_general_opener() -> None:
    together = assessment(below("bond", 3, 5), below("goals", 3, 5), below("tasks", 3.5, 5))
    assert choose_opener(together).topic == "general"
    # One deep dip with small ripples elsewhere is about that one domain.
    ripples = assessment(below("bond", 2, 5), below("goals", 4.5, 5), below("tasks", 4.5, 5))
    assert choose_opener(ripples).topic == "bond"


@pytest.mark.parametrize(
    ("reason", "topic"),
    [
        (
            Reason("disagreement", Severity.WATCH, gap=1.8, therapist_rating=5, value=3.2),
            "disagreement",
        ),
        (Reason("chronic_low", Severity.CONVERSATION, value=3, scale_max=5, count=9), "chronic"),
        (Reason("recurring_tension", Severity.CONVERSATION, count=3, window=5), "recurring"),
        (
            Reason(
                "early_low", Severity.CONVERSATION, domain="goals", value=2, scale_max=5, count=1
            ),
            "early",
        ),
        (
            Reason("unresolved_tension", Severity.CONVERSATION, domain="tension", tension="a_lot"),
            "tension",
        ),
        (
            Reason(
                "withdrawal",
                Severity.CONVERSATION,
                domain="withdrawal",
                count=3,
                status="unanswered",
            ),
            "withdrawal",
        ),
    ],
)
def test_patterns_with_their_own_conversation(reason: Reason, topic: str) -> None:
    assert choose_opener(assessment(reason)).topic == topic


def test_a_chronically_low_client_is_not_a_sudden_general_shift() -> None:
    chronic = Reason("chronic_low", Severity.CONVERSATION, value=3, scale_max=5, count=9)
    lows = [
        Reason("low_item", Severity.CONVERSATION, domain=d, value=3, scale_max=5)
        for d in ("bond", "goals", "tasks", "openness")
    ]
    assert choose_opener(assessment(chronic, *lows)).topic == "chronic"


def test_lukewarm_from_the_first_checkins_is_early_not_chronic() -> None:
    """A new client at 3s in each of the first three check-ins: the chronic run ends in a
    check-in the early rule flagged, so the whole run is early. The early opener (early
    ruptures that are resolved keep clients), not the chronic one (supervision, another
    approach). The same run reaching past the first check-ins stays chronic."""
    early = [
        Reason("early_low", Severity.CONVERSATION, domain=d, value=3, scale_max=5, checkin_id=3)
        for d in ("bond", "goals", "tasks", "openness")
    ]
    run = Reason("chronic_low", Severity.CONVERSATION, value=3, scale_max=5, count=3, checkin_id=3)
    assert choose_opener(assessment(run, *early)).topic == "early"
    lasting = Reason(
        "chronic_low", Severity.CONVERSATION, value=3, scale_max=5, count=9, checkin_id=9
    )
    assert choose_opener(assessment(lasting, *early)).topic == "chronic"


def test_a_new_unresolved_tension_comes_before_checking_back() -> None:
    """After a talk about goals (held on the 10th), a lot of tension not talked through,
    reported on the 24th: the new moment is the topic. The same tension reported before
    the talk, or a mild one the rules only watch, leaves the check-back."""
    talked = datetime(2026, 6, 10, 17, tzinfo=UTC)
    goals = below("goals", 4, 5)

    def tension(on: datetime, severity: Severity = Severity.CONVERSATION) -> Reason:
        return Reason("unresolved_tension", severity, domain="tension", tension="a_lot", since=on)

    new = assessment(goals, tension(talked + timedelta(days=14)))
    assert choose_opener(new, check_back=True, talked_on=talked).topic == "tension"
    old = assessment(goals, tension(talked - timedelta(days=7)))
    assert choose_opener(old, check_back=True, talked_on=talked).topic == "check_back"
    mild = assessment(goals, tension(talked + timedelta(days=14), Severity.WATCH))
    assert choose_opener(mild, check_back=True, talked_on=talked).topic == "check_back"


def test_a_held_conversation_is_checked_back_on_and_a_note_is_thanked_for() -> None:
    choice = choose_opener(assessment(below("bond", 2, 5)), note=True, check_back=True)
    assert (choice.topic, choice.note) == ("check_back", True)
    with_note = TEXTS.plain("en", "conversation.bond_checkin", note=True)
    assert with_note.startswith("Thank you for the note you left in the check-in.")
    assert "check-in" in TEXTS.plain("en", "conversation.bond_checkin", note=False)


@pytest.mark.parametrize("topic", TOPICS)
def test_every_opener_is_an_invitation_not_a_yes_no_verdict(topic: str) -> None:
    """The transparent opener names the check-in; neither asks the client, on the spot,
    a closed question about the therapist's failure ("Did I…?", "Was there a moment when
    you didn't feel heard by me?")."""
    for locale in ("en", "es", "de"):
        for kind in ("checkin", "tentative", "hint"):
            assert TEXTS.plain(locale, f"conversation.{topic}_{kind}", note=False).strip()
    transparent = TEXTS.plain("en", f"conversation.{topic}_checkin", note=False)
    assert "check-in" in transparent
    for kind in ("checkin", "tentative"):
        line = TEXTS.plain("en", f"conversation.{topic}_{kind}", note=False)
        questions = re.findall(r"[^.?!:]*\?", line)
        for question in questions:
            first = question.strip().split()[0]
            assert first not in ("Was", "Were", "Did", "Do", "Is", "Are", "Have", "Has"), line
        assert not re.search(r"\b(didn't|did not) [a-z ]*\bby me\b", line), line
