"""A library of client stories, each with what the strain rules should conclude.

Each scenario is a client's check-ins after weekly sessions, written compactly:
``c(bond, goals, tasks, openness)`` is one answered check-in on the default 1-5
scale, with keywords for tension, the talked-through follow-up, the support item,
the therapist's own rating, partial answers or a comment; ``MISSED`` is a check-in
sent and never answered. The digest is read three days after the last session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.core.instrument import Instrument, get_instrument, parse_instrument
from bot.core.scoring import CheckinRecord, CheckinStatus
from bot.core.strain import ClientHistory, ClientStatus, Severity

FIRST_SESSION = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Visit:
    """One check-in as the client left it: answers by item id, or nothing."""

    answers: Mapping[str, int | None]
    status: CheckinStatus = "completed"
    comment: str | None = None
    therapist_rating: int | None = None
    instrument_id: str = "alliance-default"


MISSED = Visit(answers={}, status="unanswered")


def c(
    bond: int | None,
    goals: int | None,
    tasks: int | None,
    openness: int | None,
    *,
    tension: int = 0,
    talked: int | None = None,
    support: int | None = None,
    rating: int | None = None,
    status: CheckinStatus = "completed",
    comment: str | None = None,
) -> Visit:
    """An answered check-in on the default instrument (None = skipped or not reached)."""
    answers: dict[str, int | None] = {
        "bond": bond,
        "goals": goals,
        "tasks": tasks,
        "openness": openness,
        "tension": tension,
    }
    if tension > 0:
        answers["talked_through"] = talked
    if support is not None:
        answers["support"] = support
    if status == "partial":
        answers = {k: v for k, v in answers.items() if v is not None}
    return Visit(answers=answers, status=status, comment=comment, therapist_rating=rating)


def steady(n: int, *scores: int) -> list[Visit]:
    """n identical check-ins (default all 5s)."""
    values = scores or (5, 5, 5, 5)
    return [c(*values) for _ in range(n)]


def build_history(
    visits: list[Visit],
    *,
    alias: str = "client",
    client_id: int = 1,
    status: ClientStatus = "active",
    first_session: datetime = FIRST_SESSION,
    locale: str = "en",
) -> ClientHistory:
    """Weekly sessions from the first session on, one check-in after each."""
    records = []
    for index, visit in enumerate(visits):
        session_end = first_session + index * WEEK
        records.append(
            CheckinRecord(
                checkin_id=client_id * 1000 + index + 1,
                sequence=index + 1,
                session_end=session_end,
                due_at=session_end + timedelta(hours=1),
                status=visit.status,
                answers=visit.answers,
                has_comment=visit.comment is not None,
                comment=visit.comment,
                therapist_rating=visit.therapist_rating,
                instrument_id=visit.instrument_id,
            )
        )
    last = first_session + max(len(visits) - 1, 0) * WEEK
    return ClientHistory(
        client_id=client_id,
        alias=alias,
        locale=locale,
        enrolled_at=first_session - timedelta(days=2),
        status=status,
        status_since=last + timedelta(days=2) if status != "active" else None,
        checkins=tuple(records),
    )


def digest_time(visits: list[Visit], first_session: datetime = FIRST_SESSION) -> datetime:
    """Three days after the last session (or after enrolment when there is none)."""
    return first_session + max(len(visits) - 1, 0) * WEEK + timedelta(days=3)


REVERSED_TOML = {
    "id": "reverse-demo",
    "version": 1,
    "locales": ["en"],
    "name": {"en": "Reverse-scored demo"},
    "scales": {"agree5": {"min": 1, "max": 5, "labels": {"en": ["1", "2", "3", "4", "5"]}}},
    "items": [
        {
            "id": "heard",
            "domain": "bond",
            "kind": "scale",
            "scale": "agree5",
            "core": True,
            "text": {"en": "I felt heard."},
        },
        {
            "id": "distant",
            "domain": "bond",
            "kind": "scale",
            "scale": "agree5",
            "core": True,
            "reverse": True,
            "text": {"en": "I felt distant from my therapist."},
        },
        {
            "id": "aims",
            "domain": "goals",
            "kind": "scale",
            "scale": "agree5",
            "core": True,
            "text": {"en": "We worked on my aims."},
        },
    ],
}


def reversed_instrument() -> Instrument:
    """A small instrument with one reverse-scored item (higher answer = weaker bond)."""
    return parse_instrument(REVERSED_TOML, source="tests:reverse-demo")


def r(heard: int, distant: int, aims: int) -> Visit:
    """A check-in on the reverse-scored demo instrument."""
    return Visit(
        answers={"heard": heard, "distant": distant, "aims": aims}, instrument_id="reverse-demo"
    )


@dataclass(frozen=True)
class Scenario:
    """A client's story and what the strain rules should make of it."""

    name: str
    story: str
    visits: list[Visit]
    severity: Severity
    rules: frozenset[str]
    status: ClientStatus = "active"
    repaired: bool = False
    severe: bool = False
    dipped_first: str | None = None
    no_data: bool = False
    instrument_id: str = "alliance-default"
    extra: dict[str, object] = field(default_factory=dict)

    def history(self) -> ClientHistory:
        """The scenario as a client history."""
        return build_history(self.visits, alias=self.name, status=self.status)

    def now(self) -> datetime:
        """When the digest reads it."""
        return digest_time(self.visits)

    def instrument(self) -> Instrument:
        """The instrument the check-ins were answered on."""
        if self.instrument_id == "reverse-demo":
            return reversed_instrument()
        return get_instrument(self.instrument_id)


def S(
    name: str,
    story: str,
    visits: list[Visit],
    severity: Severity,
    *rules: str,
    **kwargs: object,
) -> Scenario:
    """Shorthand for a scenario."""
    return Scenario(name, story, visits, severity, frozenset(rules), **kwargs)  # type: ignore[arg-type]


STEADY, WATCH, TALK = Severity.STEADY, Severity.WATCH, Severity.CONVERSATION

SCENARIOS: list[Scenario] = [
    # --- doing well -------------------------------------------------------------
    S(
        "steady_high",
        "Mostly fives with the odd four, week after week.",
        [
            c(5, 5, 4, 5),
            c(5, 5, 5, 5),
            c(5, 4, 5, 5),
            c(5, 5, 5, 4),
            c(5, 5, 5, 5),
            c(5, 5, 4, 5),
            c(5, 5, 5, 5),
        ],
        STEADY,
    ),
    S(
        "steady_at_mostly",
        "A client who always answers 'mostly' (4) — a stable, good alliance.",
        steady(6, 4, 4, 4, 4),
        STEADY,
    ),
    S(
        "noisy_but_fine",
        "Answers jump between 4 and 5 with no direction; latest 4s are usual.",
        [
            c(5, 4, 5, 4),
            c(4, 5, 4, 5),
            c(5, 4, 4, 5),
            c(4, 5, 5, 4),
            c(4, 4, 5, 5),
            c(5, 5, 4, 4),
            c(4, 5, 4, 5),
            c(4, 4, 4, 4),
        ],
        STEADY,
    ),
    S(
        "only_one_checkin",
        "Just started; the first check-in is all fours and fives.",
        [c(4, 5, 4, 4)],
        STEADY,
    ),
    S(
        "early_mostly",
        "First three check-ins at 'mostly': fine, nothing at the midpoint.",
        [c(4, 4, 4, 4), c(4, 4, 4, 5), c(4, 5, 4, 4)],
        STEADY,
    ),
    S(
        "single_missed",
        "One check-in went unanswered between ordinary ones.",
        [*steady(4), MISSED, c(5, 5, 5, 5)],
        STEADY,
    ),
    S(
        "settles_one_point_lower",
        "A ceiling client moves to 4 on bond and stays there: "
        "noticed at first, then their new normal.",
        [*steady(6), *steady(5, 4, 5, 5, 5)],
        STEADY,
    ),
    S(
        "partial_but_fine",
        "Answers the first two questions only, both high.",
        [*steady(3), c(5, 5, None, None, status="partial")],
        STEADY,
    ),
    S(
        "reverse_scored_fine",
        "On an instrument with a reverse-scored item the client "
        "answers 'distant' with 1 — that is a strong bond.",
        [r(5, 1, 5), r(5, 1, 5), r(5, 2, 4), r(5, 1, 5)],
        STEADY,
        instrument_id="reverse-demo",
    ),
    S(
        "pending_follow_up",
        "The newest check-in is still open: tension 'a lot' answered, the "
        "talked-through question not asked yet — wait for it.",
        [*steady(3), Visit(answers={"tension": 2}, status="pending")],
        STEADY,
    ),
    S(
        "old_strain_forgotten",
        "A low bond six weeks ago, steady since: no longer news.",
        [*steady(4), c(2, 5, 5, 5), *steady(6)],
        STEADY,
    ),
    # --- good news: repair --------------------------------------------------------
    S(
        "v_shape_repaired",
        "A ceiling client dips (bond 2, a lot of tension, not talked through); the "
        "next session has tension again and it is talked through, back at the top: "
        "repair confirmed, strain last week, better after.",
        [*steady(4), c(2, 3, 5, 5, tension=2, talked=0), c(5, 5, 5, 5, tension=1, talked=2)],
        STEADY,
        repaired=True,
    ),
    S(
        # Was "v_shape_repaired" (steady, good news) before issue 11: a quiet week
        # is not a repair (docs/clinical.md, "Changed verdicts").
        "v_shape_back_up_unconfirmed",
        "A ceiling client dips (bond 2, a lot of tension, not talked through), and the "
        "next check-in is back at the top with no word on the tension: the scores "
        "recovered, but nobody said it was talked through, so it stays worth watching.",
        [*steady(4), c(2, 3, 5, 5, tension=2, talked=0), c(5, 5, 5, 5)],
        WATCH,
        "unresolved_tension",
        dipped_first="tension",
    ),
    S(
        "tension_talked_through",
        "Some tension, fully talked through in the session: a repair.",
        [*steady(3), c(5, 5, 5, 5, tension=1, talked=2)],
        STEADY,
        repaired=True,
    ),
    S(
        "a_lot_talked_through",
        "A lot of tension, and they talked it through: good news.",
        [*steady(3), c(5, 5, 5, 5, tension=2, talked=2)],
        STEADY,
        repaired=True,
    ),
    # --- watch --------------------------------------------------------------------
    S(
        "ceiling_then_four",
        "Always 5, now a 4 on bond: a small but real dip for this client.",
        [*steady(6), c(4, 5, 5, 5)],
        WATCH,
        "below_baseline",
        dipped_first="bond",
    ),
    S(
        "slow_decline",
        "Each week one more answer slips a point: every step is noticed, and "
        "together they make a sustained decline.",
        [*steady(3), c(5, 5, 4, 5), c(5, 4, 4, 5), c(4, 4, 4, 5), c(4, 4, 4, 4)],
        WATCH,
        "decline",
        "below_baseline",
    ),
    S(
        "tension_a_little_partly",
        "A little tension, partly talked through.",
        [*steady(3), c(5, 5, 5, 5, tension=1, talked=1)],
        WATCH,
        "unresolved_tension",
        dipped_first="tension",
    ),
    S(
        "withdrawal_two_unanswered",
        "Answered every week, then two check-ins in a row unanswered.",
        [*steady(4), MISSED, MISSED],
        WATCH,
        "withdrawal",
        dipped_first="withdrawal",
    ),
    S(
        "paused",
        "Answered well, then paused the check-ins.",
        steady(4),
        WATCH,
        "withdrawal",
        status="paused",
        dipped_first="withdrawal",
    ),
    S(
        "unreachable",
        "Answered well, then blocked the bot.",
        steady(4),
        WATCH,
        "withdrawal",
        status="unreachable",
    ),
    S(
        # Was a standing watch before issue 11 (docs/clinical.md, "Changed verdicts").
        "always_somewhat_open",
        "Reliably answers 'somewhat' on openness, week after week: their usual, "
        "shown as '3/5, usually 3–3', not news every week.",
        steady(8, 5, 5, 5, 3),
        STEADY,
    ),
    S(
        "support_low",
        "The every-4th support item drops to 'a little'; the therapy relationship itself is fine.",
        [*steady(3), c(5, 5, 5, 5, support=4), *steady(3), c(5, 5, 5, 5, support=2)],
        WATCH,
        "low_item",
        dipped_first="support",
    ),
    S(
        "therapist_more_worried",
        "The therapist rates the session 3, the client all fives.",
        [*steady(3), c(5, 5, 5, 5, rating=3)],
        WATCH,
        "disagreement",
    ),
    S(
        # Was a watch before issue 11 (docs/clinical.md, "Changed verdicts").
        "therapist_sees_no_problem",
        "The therapist rates the session 5; the client's answers drop to 'somewhat' on "
        "three items: the worrying direction of disagreement, and signs that add up.",
        [*steady(3, 4, 4, 4, 4), c(4, 3, 3, 3, rating=5)],
        TALK,
        "low_item",
        "below_baseline",
        "disagreement",
        "convergence",
    ),
    S(
        "partial_three",
        "Closed after two answers; bond at the midpoint for a usually-4 client.",
        [*steady(4, 4, 4, 4, 4), c(3, 4, None, None, status="partial")],
        WATCH,
        "low_item",
        "below_baseline",
    ),
    # --- consider a relationship conversation -------------------------------------
    S(
        "ceiling_then_three",
        "Always 5, now 'somewhat' felt heard: a deep dip for this client.",
        [*steady(6), c(3, 5, 5, 5)],
        TALK,
        "below_baseline",
        "low_item",
        dipped_first="bond",
    ),
    S(
        "v_shape_now",
        "Ceiling client, this week bond 2 and a lot of tension not talked through.",
        [*steady(4), c(2, 4, 5, 5, tension=2, talked=0)],
        TALK,
        "below_baseline",
        "low_item",
        "unresolved_tension",
        severe=True,
        dipped_first="tension",
    ),
    S(
        "strain_persisting",
        "Bond fell to 2 last week and is only at 3 this week: not over yet.",
        [*steady(4), c(2, 5, 5, 5), c(3, 5, 5, 5)],
        TALK,
        "below_baseline",
        "low_item",
        dipped_first="bond",
    ),
    S(
        "tension_a_little_unresolved",
        "A little tension, not talked through, in an otherwise steady course: "
        "worth keeping in mind, not yet a conversation.",
        [*steady(3), c(5, 5, 5, 5, tension=1, talked=0)],
        WATCH,
        "unresolved_tension",
    ),
    S(
        "tension_a_little_after_a_dip",
        "A dip on the bond last week, and now a little tension not talked "
        "through: the second strained check-in in a row is a conversation.",
        [*steady(3), c(4, 5, 5, 5), c(5, 5, 5, 5, tension=1, talked=0)],
        TALK,
        "below_baseline",
        "unresolved_tension",
    ),
    S(
        "tension_a_lot_partly",
        "A lot of tension, only partly talked through.",
        [*steady(3), c(5, 5, 5, 5, tension=2, talked=1)],
        TALK,
        "unresolved_tension",
    ),
    S(
        "tension_a_lot_unresolved",
        "A lot of tension, not talked through: immediate alert.",
        [*steady(3), c(5, 5, 5, 5, tension=2, talked=0)],
        TALK,
        "unresolved_tension",
        severe=True,
        dipped_first="tension",
    ),
    S(
        "tension_a_lot_left_open",
        "A lot of tension, then the check-in closed before the "
        "talked-through question: treat as not talked through.",
        [
            *steady(3),
            Visit(
                answers={"bond": 5, "goals": 5, "tasks": 5, "openness": 5, "tension": 2},
                status="partial",
            ),
        ],
        TALK,
        "unresolved_tension",
        severe=True,
    ),
    S(
        "early_low_first",
        "The very first check-in: 'somewhat' on goals.",
        [c(4, 3, 4, 4)],
        TALK,
        "early_low",
        dipped_first="goals",
    ),
    S(
        "early_low_third",
        "Two fine check-ins, then 'a little' on tasks in the third.",
        [c(5, 4, 4, 4), c(4, 4, 4, 4), c(4, 4, 2, 4)],
        TALK,
        "early_low",
        dipped_first="tasks",
    ),
    S(
        "several_domains_low",
        "Bond and goals both at 2 at once: immediate alert.",
        [*steady(5, 4, 4, 4, 4), c(2, 2, 4, 4)],
        TALK,
        "low_item",
        "below_baseline",
        severe=True,
    ),
    S(
        "steep_decline",
        "Slides from fives to threes over four weeks.",
        [*steady(3), c(5, 4, 4, 5), c(4, 4, 4, 4), c(4, 3, 4, 4), c(3, 3, 3, 4)],
        TALK,
        "low_item",
        "below_baseline",
        "decline",
        "convergence",
    ),
    S(
        "withdrawal_three_unanswered",
        "Three check-ins in a row unanswered after answering.",
        [*steady(4), MISSED, MISSED, MISSED],
        TALK,
        "withdrawal",
    ),
    S(
        "withdrawal_after_strain",
        "A dip to 4 for a ceiling client, then silence twice.",
        [*steady(5), c(4, 5, 5, 5), MISSED, MISSED],
        TALK,
        "below_baseline",
        "withdrawal",
        dipped_first="withdrawal",
    ),
    S(
        "left_after_rupture",
        "Bond 2 in the last check-in, then left the programme.",
        [*steady(4), c(2, 5, 5, 5)],
        TALK,
        "below_baseline",
        "low_item",
        "withdrawal",
        status="stopped",
    ),
    S(
        "reverse_scored_low",
        "On the reverse-scored instrument the client answers 'distant' "
        "with 5: a weak bond, although the number is high.",
        [r(5, 1, 5), r(5, 1, 5), r(5, 1, 5), r(4, 5, 5)],
        TALK,
        "low_item",
        "below_baseline",
        instrument_id="reverse-demo",
        dipped_first="bond",
    ),
    # --- issue 11: judgement that puts signals together ---------------------------
    S(
        "unresolved_recurring_then_quiet",
        "A little tension, not talked through, three times in four weeks, then a quiet "
        "week: not a repair but a pattern never addressed.",
        [
            *steady(3),
            c(5, 5, 5, 5, tension=1, talked=0),
            c(5, 5, 5, 5, tension=1, talked=0),
            c(5, 5, 5, 5),
            c(5, 5, 5, 5, tension=1, talked=0),
            c(5, 5, 5, 5),
        ],
        TALK,
        "recurring_tension",
        dipped_first="tension",
    ),
    S(
        "unresolved_once_then_quiet",
        "A little tension, not talked through, then two quiet weeks: not confirmed as "
        "repaired, so still worth keeping in mind.",
        [*steady(3), c(5, 5, 5, 5, tension=1, talked=0), *steady(2)],
        WATCH,
        "unresolved_tension",
    ),
    S(
        "one_point_drop_everywhere",
        "A client at 'mostly' drops a point on every item at once, and the therapist "
        "rated the session 5: many findings pointing the same way.",
        [*steady(5, 4, 4, 4, 4), c(3, 3, 3, 3, rating=5)],
        TALK,
        "low_item",
        "below_baseline",
        "disagreement",
        "convergence",
    ),
    S(
        "ceiling_one_point_everywhere",
        "A client always at the top answers 4 on every item at once.",
        [*steady(6), c(4, 4, 4, 4)],
        TALK,
        "below_baseline",
        "convergence",
    ),
    S(
        "chronic_midpoint",
        "'Somewhat' on every item for two months: a weak alliance that persists, "
        "a conversation since the first week.",
        steady(9, 3, 3, 3, 3),
        TALK,
        "chronic_low",
        extra={"since_visit": 0},
    ),
    S(
        "chronic_midpoint_after_good_start",
        "Five weeks at 'somewhat' after a good start: since the run began.",
        [*steady(4, 4, 4, 4, 4), *steady(5, 3, 3, 3, 3)],
        TALK,
        "chronic_low",
        "low_item",
        "below_baseline",
        "convergence",
        extra={"since_visit": 4},
    ),
    S(
        "second_rupture",
        "A ceiling client had a rupture (bond 2, goals 2), four weeks at the top since, "
        "now 'somewhat' on bond: the earlier rupture does not hide the new one.",
        [*steady(3), c(2, 2, 3, 4), *steady(4), c(3, 5, 5, 5)],
        TALK,
        "below_baseline",
        "low_item",
        dipped_first="bond",
    ),
    S(
        "noisy_responder_usual_dip",
        "Answers swing between 3 and 5 every week; this week a 3 on bond: inside their "
        "range, shown as '3/5, usually 3–5', not news.",
        [
            c(4, 5, 3, 4),
            c(5, 3, 4, 5),
            c(3, 4, 5, 4),
            c(5, 4, 4, 3),
            c(4, 5, 3, 5),
            c(3, 4, 4, 5),
            c(3, 4, 4, 4),
        ],
        STEADY,
    ),
    S(
        "openness_dips",
        "A ceiling client answers 'somewhat' on openness.",
        [*steady(5), c(5, 5, 5, 3)],
        TALK,
        "below_baseline",
        "low_item",
        dipped_first="openness",
    ),
    S(
        "stably_low",
        "Answers 2, 2, 3, 3 every week from the start: a conversation, but the sixth "
        "identical check-in is no new alert.",
        steady(6, 2, 2, 3, 3),
        TALK,
        "low_item",
        "early_low",
        "chronic_low",
    ),
    S(
        "newly_low",
        "At 'mostly' for four weeks, then 2, 2, 3, 3: an alert, the first time.",
        [*steady(4, 4, 4, 4, 4), c(2, 2, 3, 3)],
        TALK,
        "low_item",
        "below_baseline",
        severe=True,
    ),
    S(
        "a_lot_partly_deep_drop",
        "Always at the top; bond falls to 2, a lot of tension only partly talked "
        "through, and an angry note: an immediate alert.",
        [*steady(5), c(2, 4, 5, 5, tension=2, talked=1, comment="You did not listen.")],
        TALK,
        "below_baseline",
        "low_item",
        "unresolved_tension",
        severe=True,
        dipped_first="tension",
    ),
    # --- nothing to go on ---------------------------------------------------------
    S("no_checkins", "Enrolled, no session recorded yet.", [], STEADY, no_data=True),
    S(
        "never_answered",
        "Two check-ins sent, neither answered: no data, not a withdrawal "
        "(they never answered before).",
        [MISSED, MISSED],
        STEADY,
        no_data=True,
    ),
    S("invited_only", "Invited, has not joined.", [], STEADY, status="invited", no_data=True),
]


def caseload(
    scenarios: list[Scenario] | None = None, weeks: int = 12
) -> tuple[list[ClientHistory], datetime]:
    """The default-instrument scenarios as one therapist's clients, all ending the same week."""
    chosen = [s for s in scenarios or SCENARIOS if s.instrument_id == "alliance-default"]
    histories = []
    for number, scenario in enumerate(chosen, start=1):
        first = FIRST_SESSION + (weeks - len(scenario.visits)) * WEEK
        histories.append(
            build_history(
                scenario.visits,
                alias=scenario.name,
                client_id=number,
                status=scenario.status,
                first_session=first,
            )
        )
    return histories, FIRST_SESSION + (weeks - 1) * WEEK + timedelta(days=3)


def by_name(name: str) -> Scenario:
    """The scenario with this name."""
    return next(s for s in SCENARIOS if s.name == name)
