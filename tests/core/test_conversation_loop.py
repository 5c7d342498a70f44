"""The conversation loop's judgement (bot.core.conversation_loop), pure: suggestion records and
check-ins in, where the suggested conversation stands out; and the monthly count."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from scenarios import FIRST_SESSION, MISSED, WEEK, Visit, build_history, c, steady

from bot import callbacks
from bot.core.conversation_loop import (
    CLIENT_ITEM,
    ConversationLoop,
    SuggestionRecord,
    asked_rarely,
    closing,
    eased_view,
    judge_loop,
    loop_line,
    needs_suggestion,
    reopened_held,
    summarise,
    summary_month,
    summary_text,
    takes_late_held,
)
from bot.core.digest import compose_digest, render_digest
from bot.core.instrument import get_instrument
from bot.core.strain import Severity, assess_strain
from bot.digest.loop import loop_buttons
from bot.texts import Texts

INSTRUMENT = get_instrument()
TEXTS = Texts()
UTC_ZONE = ZoneInfo("UTC")
DIP = c(2, 4, 4, 4)  # bond 5 → 2: a conversation


def said(visit: Visit, value: int) -> Visit:
    """The check-in with the client's answer to the conversation item (2 yes, 1 partly, 0 no)."""
    return Visit({**visit.answers, CLIENT_ITEM: value}, visit.status)


def session(n: int) -> datetime:
    """The end of the n-th weekly session (0-based), as build_history lays them out."""
    return FIRST_SESSION + n * WEEK


def suggestion(at: datetime, **fields: object) -> SuggestionRecord:
    base: dict[str, object] = {
        "suggestion_id": 7,
        "client_id": 1,
        "created_at": at,
        "strain_since": session(3),
        "domains": ("bond", "goals", "tasks", "openness"),  # as the digest stores them
        "before": 2.0,
        "first_shown_at": at,
    }
    base.update(fields)
    return SuggestionRecord(**base)  # type: ignore[arg-type]


def judge(visits: list[Visit], record: SuggestionRecord, now: datetime) -> ConversationLoop:
    history = build_history(visits)
    assessment = assess_strain(history, INSTRUMENT, now)
    loop = judge_loop(history, assessment, [record], INSTRUMENT, now)
    assert loop is not None
    return loop


MONDAY = session(3) + timedelta(days=3)  # the digest after the dip suggests a conversation


def test_a_new_suggestion_is_open_and_after_its_first_full_appearance_one_line() -> None:
    visits = [*steady(3), DIP]
    record = suggestion(MONDAY, first_shown_at=None)
    assert judge(visits, record, MONDAY).state == "open"
    shown = suggestion(MONDAY)
    later = MONDAY + WEEK
    loop = judge([*visits, DIP], shown, later)
    assert loop.state == "still_open" and loop.answerable
    line = TEXTS.date("en", MONDAY)
    assert loop_line(TEXTS, "en", "alex", loop, UTC_ZONE) == (
        f"<b>alex</b> — relationship conversation still open since {line}."
    )
    not_yet = judge([*visits, DIP], suggestion(MONDAY, answer="not_yet", answered_at=MONDAY), later)
    assert not_yet.state == "still_open"
    assert "(you said: not yet)" in loop_line(TEXTS, "en", "alex", not_yet, UTC_ZONE)


def test_held_and_improving_is_a_repair_with_the_numbers() -> None:
    held = MONDAY + timedelta(days=1)
    record = suggestion(MONDAY, answer="held", answered_at=held)
    visits = [*steady(3), DIP, said(c(5, 5, 5, 5), 2)]  # the next session: talked, bond 5
    now = session(4) + timedelta(days=3)
    loop = judge(visits, record, now)
    assert loop.state == "repaired"
    assert (loop.before, loop.after, loop.client_said) == (2.0, 5.0, "yes")
    assert loop.improved_at == session(4)
    text = loop_line(TEXTS, "en", "alex", loop, UTC_ZONE)
    date = TEXTS.date("en", held)
    assert f"talked on {date}; since then Felt heard and respected 2 → 5" in text
    assert closing(assess_strain(build_history(visits), INSTRUMENT, now), loop) == (
        "repaired",
        session(4),
    )


def test_the_clients_yes_alone_counts_as_held_from_that_session() -> None:
    visits = [*steady(3), DIP, said(c(5, 5, 5, 5), 1)]  # partly
    loop = judge(visits, suggestion(MONDAY), session(4) + timedelta(days=3))
    assert loop.state == "repaired" and loop.held_on == session(4)
    assert loop.client_said == "partly"


def test_held_and_not_improving_after_two_checkins_gets_decision_support() -> None:
    record = suggestion(MONDAY, answer="held", answered_at=MONDAY + timedelta(days=1))
    one = [*steady(3), DIP, c(2, 4, 4, 4)]
    assert judge(one, record, session(4) + timedelta(days=3)).state == "held"
    two = [*one, c(2, 3, 4, 4)]
    loop = judge(two, record, session(5) + timedelta(days=3))
    assert loop.state == "held_not_improving" and loop.checkins_since_held == 2
    text = loop_line(TEXTS, "en", "alex", loop, UTC_ZONE)
    assert "2 check-ins since have not eased" in text
    assert "supervision" in text.split("\n")[1]


def test_a_tap_after_the_session_counts_that_sessions_checkin() -> None:
    """Tasks-like story: the therapist taps "We talked about it" an hour after session 4
    (or on the prompt after /session); the client says no and two check-ins stay low.
    The talk was in session 4, so its check-in is the first after the talk: decision
    support comes with the second, not a week later."""
    tapped = session(4) + timedelta(hours=1)
    record = suggestion(MONDAY, answer="held", answered_at=tapped)
    one = [*steady(3), DIP, said(c(2, 4, 4, 4), 0)]
    loop = judge(one, record, session(4) + timedelta(days=3))
    assert (loop.state, loop.held_on, loop.checkins_since_held) == ("held", session(4), 1)
    two = [*one, c(2, 4, 4, 4)]
    loop = judge(two, record, session(5) + timedelta(days=3))
    assert (loop.state, loop.checkins_since_held) == ("held_not_improving", 2)
    assert loop.client_said == "no"

    # A tap on the digest, before any session since the suggestion: the talk is dated
    # by the tap (it happened before, by phone or in an earlier session).
    on_digest = suggestion(MONDAY, answer="held", answered_at=MONDAY + timedelta(hours=2))
    assert judge(two, on_digest, session(5) + timedelta(days=3)).held_on == (
        MONDAY + timedelta(hours=2)
    )
    # A tap two weeks late: the talk was in the latest session before it at the latest,
    # and only the check-ins certainly after the talk count.
    late = suggestion(MONDAY, answer="held", answered_at=session(5) + timedelta(days=2))
    loop = judge(two, late, session(5) + timedelta(days=3))
    assert (loop.state, loop.held_on, loop.checkins_since_held) == ("held", session(5), 1)


def test_repaired_needs_an_answer_on_the_domain_the_suggestion_was_about() -> None:
    """Goals fell 5 → 2; after the talk the client answers only the bond item (5), twice.
    Nothing says goals recovered: held and waiting, neither a repair nor "not improving".
    The first check-in that answers goals again (5) is the repair, with its numbers."""
    goals_dip = c(5, 2, 4, 4)
    record = suggestion(
        MONDAY,
        domains=("goals",),
        answer="held",
        answered_at=MONDAY + timedelta(days=1),
    )
    bond_only = c(5, None, None, None, status="partial")
    visits = [*steady(3), goals_dip, bond_only]
    loop = judge(visits, record, session(4) + timedelta(days=3))
    assert (loop.state, loop.after) == ("held", None)
    visits = [*visits, bond_only]
    loop = judge(visits, record, session(5) + timedelta(days=3))
    assert (loop.state, loop.after, loop.checkins_since_held) == ("held", None, 2)
    assert "Waiting for the next check-ins" in loop_line(TEXTS, "en", "alex", loop, UTC_ZONE)
    visits = [*visits, c(5, 5, 5, 5)]
    loop = judge(visits, record, session(6) + timedelta(days=3))
    assert (loop.state, loop.before, loop.after) == ("repaired", 2.0, 5.0)
    assert loop.improved_at == session(6)


def test_silence_after_the_talk_is_not_improvement() -> None:
    """A client who always answered stops answering after the talk. One missed check-in
    is ordinary; two in a row (the withdrawal rule) is not improvement: the digest says
    they went unanswered and gives the decision support for a pause."""
    record = suggestion(MONDAY, answer="held", answered_at=session(4) + timedelta(hours=1))
    one = [*steady(3), DIP, MISSED]
    assert judge(one, record, session(4) + timedelta(days=3)).state == "held"
    loop = judge([*one, MISSED], record, session(5) + timedelta(days=3))
    assert (loop.state, loop.unanswered_since, loop.checkins_since_held) == (
        "held_not_improving",
        2,
        0,
    )
    assert loop.answerable
    first, support = loop_line(TEXTS, "en", "alex", loop, UTC_ZONE).split("\n")
    date = TEXTS.date("en", session(4))
    assert first == (
        f"<b>alex</b> — talked on {date}, and since then 2 check-ins in a row have gone unanswered."
    )
    assert support.startswith("💡 Falling silent after a conversation about the relationship")
    assert "supervision" in support
    # The digest's triage line says it in a few words too.
    history = build_history([*one, MISSED], alias="alex")
    later = session(5) + timedelta(days=3)
    digest = compose_digest([history], INSTRUMENT, later, loops={1: [record]})
    text = "\n".join(render_digest(TEXTS, "en", digest, "Dr. Ada", later - WEEK, later, UTC_ZONE))
    assert f"<b>alex</b> · talked {TEXTS.short_date('en', session(4))}, no answers since" in text

    # The suggestion was about the silence itself, and the talk did not end it: the
    # check-ins unanswered since the talk count, not the ones before it.
    quiet = [*steady(4), MISSED, MISSED]
    asked = session(5) + timedelta(days=3)
    talked = suggestion(
        asked,
        domains=("withdrawal",),
        before=None,
        answer="held",
        answered_at=session(6) + timedelta(hours=1),
    )
    assert judge([*quiet, MISSED], talked, session(6) + timedelta(days=3)).state == "held"
    loop = judge([*quiet, MISSED, MISSED], talked, session(7) + timedelta(days=3))
    assert (loop.state, loop.unanswered_since) == ("held_not_improving", 2)


def test_silence_after_not_needed_ends_the_quiet() -> None:
    """ "Not needed" for a bond dip, then the client stops answering. One missed check-in
    keeps the quiet; two in a row right after the strain is withdrawal the strain rules
    call for a conversation about, a deepening in a new form: suggested afresh."""
    record = suggestion(MONDAY, answer="not_needed", answered_at=MONDAY, reason="usual")
    one = [*steady(3), DIP, MISSED]
    now = session(4) + timedelta(days=3)
    assert judge(one, record, now).state == "not_needed"
    two = [*one, MISSED]
    later = session(5) + timedelta(days=3)
    loop = judge(two, record, later)
    assessment = assess_strain(build_history(two), INSTRUMENT, later)
    assert "withdrawal" in assessment.dipped
    assert loop.state == "still_open" and needs_suggestion(assessment, loop)


def test_not_needed_quiets_the_strain_until_its_time_is_over_or_it_deepens() -> None:
    record = suggestion(MONDAY, answer="not_needed", answered_at=MONDAY, reason="usual")
    same = [*steady(3), DIP, c(2, 4, 4, 4)]
    now = session(4) + timedelta(days=3)
    loop = judge(same, record, now)
    assert loop.state == "not_needed" and not loop.answerable
    assert loop.quiet_until == MONDAY + timedelta(days=28)
    assessment = assess_strain(build_history(same), INSTRUMENT, now)
    assert not needs_suggestion(assessment, loop)
    text = loop_line(TEXTS, "en", "alex", loop, UTC_ZONE)
    assert "(usual for them)" in text and "unless it deepens" in text

    deeper = [*steady(3), DIP, c(1, 2, 4, 4)]  # bond lower still, and goals now too
    loop = judge(deeper, record, now)
    assert loop.state == "still_open"
    assert needs_suggestion(assess_strain(build_history(deeper), INSTRUMENT, now), loop)

    much_later = [*same, c(2, 4, 4, 4), c(2, 4, 4, 4), c(2, 4, 4, 4), c(2, 4, 4, 4)]
    late = session(8) + timedelta(days=3)
    assert late > MONDAY + timedelta(days=28)
    assert judge(much_later, record, late).state == "still_open"


def test_a_strain_that_eased_without_a_conversation_closes_as_eased() -> None:
    visits = [*steady(3), DIP, c(5, 5, 5, 5)]
    now = session(4) + timedelta(days=3)
    loop = judge(visits, suggestion(MONDAY), now)
    assert loop.state == "still_open"
    assert closing(assess_strain(build_history(visits), INSTRUMENT, now), loop) == ("eased", None)


def test_an_eased_suggestion_still_takes_a_late_talked_and_then_it_is_a_repair() -> None:
    """No tap, and the next check-in is back at 5: the digest closes it as eased and says
    so, offering only "talked". A late "We talked about it" reopens it as held and the
    check-in since makes it a repair. "Not needed", or a newer suggestion, closes that door."""
    visits = [*steady(3), DIP, c(5, 5, 5, 5)]
    now = session(4) + timedelta(days=3)
    loop = judge(visits, suggestion(MONDAY), now)
    view = eased_view(loop)
    assert (view.state, view.answerable) == ("eased", True)
    assert loop_line(TEXTS, "en", "alex", view, UTC_ZONE) == (
        f"<b>alex</b> — better again since the relationship conversation suggested on "
        f"{TEXTS.date('en', MONDAY)}, with no conversation on record. "
        "If you did talk about it, say so below."
    )
    assert [data for _, data in loop_buttons(TEXTS, "en", view)[0]] == ["k:7:h"]
    eased = suggestion(MONDAY, closed_at=now, outcome="eased")
    assert takes_late_held(eased, [eased])
    late = reopened_held(eased, now + timedelta(hours=2))
    loop = judge(visits, late, now + timedelta(hours=2))
    assert (loop.state, loop.held_on, loop.after) == ("repaired", session(4), 5.0)

    waved = suggestion(MONDAY, answer="not_needed", answered_at=MONDAY)
    assert eased_view(judge(visits, waved, now)).state == "not_needed"
    assert not takes_late_held(replace(waved, closed_at=now, outcome="eased"), [waved])
    newer = suggestion(now, suggestion_id=8)
    assert not takes_late_held(eased, [eased, newer])


def test_no_record_no_loop_and_a_closed_one_is_history() -> None:
    history = build_history([*steady(3), DIP])
    assessment = assess_strain(history, INSTRUMENT, MONDAY)
    assert judge_loop(history, assessment, [], INSTRUMENT, MONDAY) is None
    closed = suggestion(MONDAY, closed_at=MONDAY, outcome="eased")
    assert judge_loop(history, assessment, [closed], INSTRUMENT, MONDAY) is None
    assert assessment.severity == Severity.CONVERSATION
    assert needs_suggestion(assessment, None)


def test_the_digest_lists_a_repair_as_good_news_and_not_needed_under_watch() -> None:
    held = suggestion(MONDAY, answer="held", answered_at=MONDAY + timedelta(days=1))
    quiet = suggestion(
        MONDAY, suggestion_id=8, client_id=2, answer="not_needed", answered_at=MONDAY
    )
    alex = build_history([*steady(3), DIP, c(5, 5, 5, 5)], alias="alex", client_id=1)
    sam = build_history([*steady(3), DIP, c(2, 4, 4, 4)], alias="sam", client_id=2)
    now = session(4) + timedelta(days=3)
    digest = compose_digest([alex, sam], INSTRUMENT, now, loops={1: [held], 2: [quiet]})
    groups = {e.history.alias: e.group for e in digest.entries}
    assert groups == {"alex": "repaired", "sam": "watch"}
    text = "\n".join(render_digest(TEXTS, "en", digest, "Dr. Ada", now - WEEK, now, UTC_ZONE))
    assert "<b>alex</b> — talked on" in text
    # The triage keeps "not needed" to a few words on sam's one line.
    assert "<b>sam</b> · not needed, quiet until " in text


def test_buttons_carry_only_the_suggestion_and_parse_back() -> None:
    loop = judge([*steady(3), DIP], suggestion(MONDAY, first_shown_at=None), MONDAY)
    rows = loop_buttons(TEXTS, "en", loop)
    assert [label for label, _ in rows[0]] == [
        "✅ We talked about it",
        "⏳ Not yet",
        "➖ Not needed",
    ]
    assert [data for _, data in rows[0]] == ["k:7:h", "k:7:y", "k:7:n"]
    assert callbacks.parse("k:7:n:usual") == callbacks.ConversationPress(7, "not_needed", "usual")
    assert callbacks.conversation(7, "not_needed", "later") == "k:7:n:later"
    for forged in ("k:7:h:usual", "k:7:n:free text", "k:x:h", "k:7:q", "k:7:n:unknown"):
        assert callbacks.parse(forged) is None, forged


def test_the_client_item_is_asked_rarely_by_a_fixed_seed() -> None:
    picks = [asked_rarely(client, seq, 6) for client in range(1, 41) for seq in range(1, 26)]
    assert picks == [
        asked_rarely(client, seq, 6) for client in range(1, 41) for seq in range(1, 26)
    ]
    share = sum(picks) / len(picks)
    assert 0.12 < share < 0.22, share  # about one in six
    assert all(asked_rarely(5, seq, 1) for seq in range(1, 5))


def test_the_monthly_summary_counts_suggested_held_and_improved_within_a_month() -> None:
    nov, dec = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    day = timedelta(days=1)
    records = [
        suggestion(
            nov + 2 * day,
            suggestion_id=1,
            answer="held",
            answered_at=nov + 3 * day,
            outcome="repaired",
            closed_at=nov + 12 * day,
            improved_at=nov + 10 * day,
        ),
        suggestion(
            nov + 5 * day,
            suggestion_id=2,
            answer="held",
            answered_at=nov + 6 * day,
            outcome="repaired",
            closed_at=dec + 30 * day,
            improved_at=dec + 29 * day,
        ),
        suggestion(nov + 8 * day, suggestion_id=3, answer="not_needed", answered_at=nov + 9 * day),
        suggestion(nov + 9 * day, suggestion_id=4),  # the client said yes: held
        suggestion(nov + 20 * day, suggestion_id=6, answer="not_yet", answered_at=nov + 21 * day),
        suggestion(dec + day, suggestion_id=5),  # next month
    ]
    summary = summarise(records, nov, dec, client_held=[4])
    assert (summary.suggested, summary.held, summary.improved_within_month) == (5, 3, 1)
    assert (summary.not_needed, summary.open) == (1, 1)
    assert summary_text(TEXTS, "en", summary, UTC_ZONE) == (
        "📅 <b>November 2026</b>: 5 relationship conversations suggested, 3 held, "
        "1 followed by improvement within a month. Not needed: 1."
    )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (datetime(2026, 11, 30, 7), datetime(2026, 12, 7, 7), (datetime(2026, 11, 1),)),
        (datetime(2026, 11, 23, 7), datetime(2026, 11, 30, 7), None),
        (datetime(2026, 12, 25, 7), datetime(2027, 1, 1, 0), (datetime(2026, 12, 1),)),
    ],
)
def test_the_summary_comes_in_the_digest_whose_week_holds_the_first(
    start: datetime, end: datetime, expected: tuple[datetime] | None
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    found = summary_month(start.replace(tzinfo=UTC), end.replace(tzinfo=berlin), berlin)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found[0] == expected[0].replace(tzinfo=berlin)
