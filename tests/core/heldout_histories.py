"""HELD-OUT client histories for the strain rules — never edited to make the rules pass.

Written as a clinician's stories with the verdict a clinician would give, before the
rules of issue 11 were changed and before any rule was run on them. They are not a
tuning set: when the rules disagree with a verdict here, the disagreement is reported
(``bench/strain_heldout.py``, docs/clinical.md), not removed. New cases may be added
in a later, separately committed batch (written before running them); existing cases
are not changed.

Each case: the visits (``c(bond, goals, tasks, openness, ...)`` as in
``tests/core/scenarios.py``; tension 0 none / 1 a little / 2 a lot; talked 2 yes /
1 partly / 0 no), the digest's verdict three days after the last session
(steady / watch / conversation), whether the newest check-in should alert the
therapist at once (new, severe information), and, where the story is about it,
whether the digest should list the client under good news and from which visit
(0-based) the strain it reports began.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios import MISSED, Visit, c, steady

from bot.core.strain import Severity

STEADY, WATCH, TALK = Severity.STEADY, Severity.WATCH, Severity.CONVERSATION


@dataclass(frozen=True)
class HeldOut:
    """One held-out client story and the clinician's verdict."""

    name: str
    story: str
    visits: list[Visit]
    severity: Severity
    alert: bool = False
    good_news: bool | None = None  # None: not what this story is about
    since_visit: int | None = None  # None: not what this story is about


NOISY = [
    c(4, 5, 3, 4),
    c(5, 3, 4, 5),
    c(3, 4, 5, 4),
    c(5, 4, 4, 3),
    c(4, 5, 3, 5),
    c(3, 4, 4, 5),
    c(5, 3, 5, 4),
    c(4, 4, 3, 4),
]
MIDPOINT_USER = [
    c(3, 4, 3, 4),
    c(4, 3, 3, 4),
    c(3, 4, 4, 3),
    c(4, 4, 3, 3),
    c(3, 3, 4, 4),
    c(4, 3, 4, 3),
    c(3, 4, 3, 4),
]
MOSTLY_TOP = [
    c(5, 5, 5, 5),
    c(5, 4, 5, 5),
    c(5, 5, 5, 4),
    c(5, 5, 4, 5),
    c(5, 5, 5, 5),
    c(4, 5, 5, 5),
]

HELDOUT: list[HeldOut] = [
    # --- ordinary clients who should stay quiet ------------------------------------
    HeldOut("ceiling_always", "Ten weeks of fives on everything.", steady(10), STEADY),
    HeldOut(
        "ceiling_single_four",
        "Eight weeks of fives, now a 4 on the way of working: small but real for this client.",
        [*steady(8), c(5, 5, 4, 5)],
        WATCH,
    ),
    HeldOut(
        "noisy_ordinary_dip",
        "Answers swing between 3 and 5 on every item, week to week; this week a 3 on "
        "feeling heard and fours elsewhere — well inside their usual range.",
        [*NOISY, c(3, 4, 4, 4)],
        STEADY,
    ),
    HeldOut(
        "noisy_typical_week",
        "The same swinging client; this week two threes and a five, as so often.",
        [*NOISY, c(4, 3, 5, 3)],
        STEADY,
    ),
    HeldOut(
        "noisy_two_midpoints_in_a_row",
        "The swinging client answers 3 on goals two weeks running; their goals answers "
        "have been 3 before.",
        [*NOISY, c(4, 3, 4, 4), c(5, 3, 4, 4)],
        STEADY,
    ),
    HeldOut(
        "midpoint_user_usual",
        "A client who answers 3 or 4 on everything, every week (mean about 3.5); this "
        "week is like the others.",
        [*MIDPOINT_USER, c(3, 4, 3, 4)],
        STEADY,
    ),
    HeldOut(
        "always_somewhat_on_openness",
        "Fives on bond, goals and tasks, and 'somewhat' on openness every week for two "
        "months: a known, stable pattern, not news week after week.",
        steady(8, 5, 5, 5, 3),
        STEADY,
    ),
    HeldOut(
        "stable_at_mostly",
        "Always 'mostly' on everything, nine weeks.",
        steady(9, 4, 4, 4, 4),
        STEADY,
    ),
    HeldOut(
        "single_missed_week",
        "A steady client misses one check-in, then answers as usual.",
        [*steady(5), MISSED, c(5, 5, 5, 5)],
        STEADY,
    ),
    HeldOut(
        "tension_a_little_talked_through",
        "Some tension this week, and they talked it through in the session.",
        [*steady(5), c(5, 5, 5, 5, tension=1, talked=2)],
        STEADY,
        good_news=True,
    ),
    # --- repair: confirmed, not inferred -------------------------------------------
    HeldOut(
        "v_shape_confirmed",
        "A ceiling client has a bad week (bond 2, a lot of tension, not talked through); "
        "the next session the client reports tension again and that it was talked "
        "through, with fives everywhere: a repair.",
        [*steady(5), c(2, 3, 5, 5, tension=2, talked=0), c(5, 5, 5, 5, tension=1, talked=2)],
        STEADY,
        good_news=True,
    ),
    HeldOut(
        "v_shape_unconfirmed",
        "The same bad week, then a week of fives with no tension reported. The scores "
        "are back, but nobody has said the tension was talked about: keep it in mind, "
        "and do not call it repaired.",
        [*steady(5), c(2, 3, 5, 5, tension=2, talked=0), c(5, 5, 5, 5)],
        WATCH,
        good_news=False,
    ),
    HeldOut(
        "recurring_unresolved_then_quiet",
        "Tension not talked through three times in five weeks ('a little', each time "
        "'no'), then one quiet week. A pattern that has never been addressed.",
        [
            *steady(3),
            c(5, 5, 5, 5, tension=1, talked=0),
            c(5, 5, 5, 5),
            c(5, 5, 5, 5, tension=1, talked=0),
            c(5, 5, 5, 5, tension=1, talked=0),
            c(5, 5, 5, 5),
        ],
        TALK,
        good_news=False,
    ),
    HeldOut(
        "recurring_partly_twice",
        "A lot of tension, partly talked through, twice within four weeks; this week quiet.",
        [
            *steady(4),
            c(4, 5, 5, 5, tension=2, talked=1),
            c(5, 5, 5, 5),
            c(5, 4, 5, 5, tension=2, talked=1),
            c(5, 5, 5, 5),
        ],
        TALK,
        good_news=False,
    ),
    HeldOut(
        "recurring_a_little_no_twice_now",
        "A little tension, not talked through, three weeks ago and again this week.",
        [
            *steady(4),
            c(5, 5, 5, 5, tension=1, talked=0),
            c(5, 5, 5, 5),
            c(5, 5, 5, 5, tension=1, talked=0),
        ],
        TALK,
    ),
    HeldOut(
        "single_unresolved_two_quiet_weeks",
        "One 'a little, not talked through' three weeks ago, two quiet weeks since: "
        "not repaired, still worth keeping in mind, no longer urgent.",
        [*steady(5), c(5, 5, 5, 5, tension=1, talked=0), c(5, 5, 5, 5), c(5, 5, 5, 5)],
        WATCH,
        good_news=False,
    ),
    HeldOut(
        "dip_recovered",
        "A client at the top has one week at bond 2 and goals 3 without tension, and the "
        "next week is back at fives: strain last week, better after.",
        [*steady(5), c(2, 3, 4, 4), c(5, 5, 5, 5)],
        STEADY,
        good_news=True,
    ),
    HeldOut(
        "early_low_then_better",
        "The first check-in has 'somewhat' on feeling heard; the second is all fours and "
        "fives: the early worry eased.",
        [c(3, 4, 4, 4), c(4, 4, 5, 4)],
        STEADY,
        good_news=True,
    ),
    # --- signals that add up -------------------------------------------------------
    HeldOut(
        "ceiling_one_point_everywhere",
        "A client who answers fives (the odd four) drops to 4 on every item at once.",
        [*MOSTLY_TOP, c(4, 4, 4, 4)],
        TALK,
    ),
    HeldOut(
        "mostly_to_somewhat_everywhere",
        "A client always at 'mostly' answers 'somewhat' on every item; the therapist "
        "rated the session 5.",
        [*steady(6, 4, 4, 4, 4), c(3, 3, 3, 3, rating=5)],
        TALK,
    ),
    HeldOut(
        "slow_slide_to_below_range",
        "Fives for three weeks, then one more item slips each week until every item "
        "sits below where this client usually is, openness at 'somewhat'.",
        [*steady(3), c(5, 5, 5, 4), c(4, 5, 5, 4), c(4, 4, 5, 4), c(4, 4, 4, 3)],
        TALK,
    ),
    HeldOut(
        "gentle_slip_two_items",
        "Fives for four weeks, then a 4 on tasks, then 4s on goals and tasks.",
        [*steady(4), c(5, 5, 4, 5), c(5, 4, 4, 5)],
        WATCH,
    ),
    HeldOut(
        "noisy_real_drop",
        "The swinging 3-to-5 client answers 'a little' on feeling heard and on goals in "
        "the same week: below anything they have said before, on two domains at once.",
        [*NOISY, c(2, 2, 3, 3)],
        TALK,
        alert=True,
    ),
    HeldOut(
        "midpoint_user_real_drop",
        "The 3-or-4 client answers 2 on feeling heard and 2 on the way of working.",
        [*MIDPOINT_USER, c(2, 3, 2, 3)],
        TALK,
        alert=True,
    ),
    HeldOut(
        "mostly_top_goals_three",
        "Fives with the odd four, now 'somewhat' on goals: a deep dip for this client.",
        [*MOSTLY_TOP, c(5, 3, 5, 5)],
        TALK,
    ),
    # --- chronic weakness ----------------------------------------------------------
    HeldOut(
        "chronic_midpoint_two_months",
        "'Somewhat' on every item, every week for nine weeks.",
        steady(9, 3, 3, 3, 3),
        TALK,
        since_visit=0,
    ),
    HeldOut(
        "chronic_midpoint_after_good_start",
        "Four weeks at 'mostly', then five weeks at 'somewhat' on everything: a new, "
        "weaker level that has lasted over a month.",
        [*steady(4, 4, 4, 4, 4), *steady(5, 3, 3, 3, 3)],
        TALK,
        since_visit=4,
    ),
    HeldOut(
        "chronic_mixed_at_midpoint",
        "After three good weeks, five weeks averaging exactly the midpoint (3, 3, 2, 4).",
        [*steady(3, 4, 4, 4, 4), *steady(5, 3, 3, 2, 4)],
        TALK,
        since_visit=3,
    ),
    # --- a second rupture ----------------------------------------------------------
    HeldOut(
        "second_rupture",
        "A ceiling client had a rupture in week 4 (bond 2, goals 2), was back at fives for "
        "four weeks, and now answers 'somewhat' on feeling heard: as much news as it would "
        "be for a client with no rupture behind them.",
        [*steady(3), c(2, 2, 3, 4), *steady(4), c(3, 5, 5, 5)],
        TALK,
    ),
    # --- the severe end: immediate alerts -------------------------------------------
    HeldOut(
        "a_lot_not_talked_through",
        "A steady client reports a lot of tension, not talked through.",
        [*steady(5), c(5, 4, 5, 5, tension=2, talked=0)],
        TALK,
        alert=True,
    ),
    HeldOut(
        "a_lot_partly_with_deep_bond_drop",
        "A client always at the top answers 2 on feeling heard, a lot of tension only "
        "partly talked through, and writes an angry note.",
        [
            *steady(6),
            c(
                2,
                4,
                4,
                5,
                tension=2,
                talked=1,
                comment="You kept interrupting me and it felt like you were not listening.",
            ),
        ],
        TALK,
        alert=True,
    ),
    HeldOut(
        "a_lot_partly_scores_fine",
        "A lot of tension, partly talked through, scores at the top as always.",
        [*steady(5), c(5, 5, 5, 5, tension=2, talked=1)],
        TALK,
    ),
    HeldOut(
        "stably_low_from_the_start",
        "From the first session the client answers 2, 2, 3, 3 every week (six weeks): a "
        "weak alliance to talk about, but the sixth identical check-in is not news.",
        steady(6, 2, 2, 3, 3),
        TALK,
    ),
    HeldOut(
        "newly_low_second_week",
        "Four weeks at 'mostly', then 2, 2, 3, 3 two weeks running: the first of the two "
        "was the news; the second repeats it.",
        [*steady(4, 4, 4, 4, 4), *steady(2, 2, 2, 3, 3)],
        TALK,
    ),
    HeldOut(
        "newly_low_this_week",
        "Four weeks at 'mostly', then 2, 2, 3, 3 this week.",
        [*steady(4, 4, 4, 4, 4), c(2, 2, 3, 3)],
        TALK,
        alert=True,
    ),
    # --- the therapist's view --------------------------------------------------------
    HeldOut(
        "therapist_higher_client_slipping",
        "A client at 'mostly' answers 'somewhat' on feeling heard and on openness; the "
        "therapist rated the session 5. The therapist has not noticed what the client felt.",
        [*steady(5, 4, 4, 4, 4), c(3, 4, 4, 3, rating=5)],
        TALK,
    ),
    HeldOut(
        "therapist_agrees_client_slipping",
        "The same answers, but the therapist rated the session 3: they saw it too.",
        [*steady(5, 4, 4, 4, 4), c(3, 4, 4, 3, rating=3)],
        WATCH,
    ),
    HeldOut(
        "therapist_lower_client_top",
        "The client answers fives as always; the therapist rated the session 3. Clients "
        "usually rate higher; the therapist's unease is worth a glance, no more.",
        [*steady(5), c(5, 5, 5, 5, rating=3)],
        WATCH,
    ),
    # --- withdrawal and early sessions ------------------------------------------------
    HeldOut(
        "withdrawal_two_after_good",
        "Six good weeks, then two check-ins unanswered.",
        [*steady(6), MISSED, MISSED],
        WATCH,
    ),
    HeldOut(
        "withdrawal_after_unresolved_tension",
        "A little tension not talked through, then two check-ins unanswered.",
        [*steady(4), c(4, 4, 4, 4, tension=1, talked=0), MISSED, MISSED],
        TALK,
    ),
    HeldOut(
        "early_low_first_checkin",
        "The very first check-in: 'somewhat' on feeling heard, fours elsewhere.",
        [c(3, 4, 4, 4)],
        TALK,
    ),
    HeldOut(
        "early_all_mostly",
        "Three first check-ins at 'mostly' and 'completely'.",
        [c(4, 4, 4, 5), c(4, 5, 4, 4), c(5, 4, 4, 4)],
        STEADY,
    ),
]
