"""SECOND held-out block (b) of client histories for the strain rules — never edited to pass.

The first held-out block (``heldout_histories.py``) was seen while the rules of issue 11
were being changed, so its agreement figure is no longer a held-out figure. This block
was written afterwards by an engineer who had not read the rules (``bot/core/strain.py``,
``bot/digest/alerts.py``), the tuning scenarios or the rules sections of docs/clinical.md, and it
was committed before any rule was run on it. Verdicts are a clinician's judgement of each
story, not a guess at what the code does. When the rules disagree, the disagreement is
reported (``bench/strain_heldout.py --block b``), not removed; cases are never changed
after being run.

Format as in ``heldout_histories.py``: visits ``c(bond, goals, tasks, openness, ...)``
(1-5; tension 0 none / 1 a little / 2 a lot; talked 2 yes / 1 partly / 0 no; ``rating``
the therapist's own 1-5 rating of the session), ``MISSED`` an unanswered check-in; the
digest's verdict three days after the last session; whether the newest check-in should
alert the therapist at once; where the story is about it, good news and the visit
(0-based) the reported strain began. ``client_status`` is the client's state at the
digest ("paused" when the client has paused the check-ins).
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios import MISSED, Visit, c, steady

from bot.core.strain import Severity

STEADY, WATCH, TALK = Severity.STEADY, Severity.WATCH, Severity.CONVERSATION


@dataclass(frozen=True)
class HeldOutB:
    """One story of block b and the clinician's verdict."""

    name: str
    story: str
    visits: list[Visit]
    severity: Severity
    alert: bool = False
    good_news: bool | None = None  # None: not what this story is about
    since_visit: int | None = None  # None: not what this story is about
    client_status: str = "active"


# A client whose answers swing between 3 and 5 on every item; a week with two 3s is
# ordinary for them (weekly totals 15-17 of 20).
SWINGING = [
    c(5, 4, 3, 4),
    c(3, 5, 4, 3),
    c(4, 3, 5, 5),
    c(5, 4, 3, 3),
    c(3, 5, 4, 4),
    c(5, 3, 5, 4),
    c(4, 4, 3, 5),
    c(3, 5, 4, 4),
]
# A client who only ever uses 3 and 4 ("somewhat", "mostly"); weekly totals 14-15.
THREE_OR_FOUR = [
    c(4, 3, 3, 4),
    c(3, 4, 4, 3),
    c(4, 4, 3, 3),
    c(3, 3, 4, 4),
    c(4, 3, 4, 3),
    c(3, 4, 3, 4),
    c(4, 4, 4, 3),
]
# A ceiling client who had a rupture and repaired it, confirmed the week after.
RUPTURE_REPAIRED = [
    *steady(3),
    c(2, 3, 4, 4, tension=2, talked=0),
    c(5, 5, 5, 5, tension=1, talked=2),
    *steady(3),
]

HELDOUT_B: list[HeldOutB] = [
    # --- ceiling straight-liners ----------------------------------------------------
    HeldOutB(
        "b_ceiling_single_four_on_bond",
        "Ten weeks of fives on every item, now a 4 on feeling heard. Small, but the first "
        "time this client has said anything other than 'completely': worth a glance.",
        [*steady(10), c(4, 5, 5, 5)],
        WATCH,
    ),
    HeldOutB(
        "b_ceiling_old_four_since_fives",
        "A 4 on openness in week 3, then six weeks of fives. The old 4 is long past.",
        [*steady(2), c(5, 5, 5, 4), *steady(6)],
        STEADY,
    ),
    HeldOutB(
        "b_ceiling_all_fours_at_once",
        "Eight weeks of fives, now 'mostly' on every item at once, no tension reported. "
        "The whole profile moved together: something changed for this client.",
        [*steady(8), c(4, 4, 4, 4)],
        TALK,
    ),
    # --- noisy responders -----------------------------------------------------------
    HeldOutB(
        "b_swinging_ordinary_dip",
        "The 3-to-5 client answers 3 on feeling heard and on openness, 4 and 5 elsewhere: "
        "a week like several before it.",
        [*SWINGING, c(3, 4, 5, 3)],
        STEADY,
    ),
    HeldOutB(
        "b_swinging_single_three_on_tasks",
        "The 3-to-5 client: a 3 on the way of working, fours and fives elsewhere.",
        [*SWINGING, c(5, 4, 3, 5)],
        STEADY,
    ),
    HeldOutB(
        "b_swinging_lowest_week_yet",
        "The 3-to-5 client answers 3 on three items at once (total 13, their lowest week; "
        "never below 15 before). Each answer is inside their range, the week as a whole "
        "is not: worth keeping an eye on, not yet a conversation.",
        [*SWINGING, c(3, 3, 4, 3)],
        WATCH,
    ),
    HeldOutB(
        "b_swinging_bond_two",
        "The 3-to-5 client answers 2 on feeling heard and respected, the first time below "
        "3. Disagreeing that they felt heard deserves a conversation even from a noisy "
        "responder; one domain, no tension: the digest is soon enough.",
        [*SWINGING, c(2, 4, 4, 4)],
        TALK,
    ),
    # --- midpoint users -------------------------------------------------------------
    HeldOutB(
        "b_three_or_four_usual_week",
        "A client who answers only 3 or 4 answers 3, 4, 4, 3: their usual.",
        [*THREE_OR_FOUR, c(3, 4, 4, 3)],
        STEADY,
    ),
    HeldOutB(
        "b_three_or_four_drop_two_domains",
        "The 3-or-4 client answers 2 on the way of working and 2 on openness: below "
        "anything they have said, on two domains at once.",
        [*THREE_OR_FOUR, c(3, 3, 2, 2)],
        TALK,
        alert=True,
    ),
    # --- chronic weakness -------------------------------------------------------------
    HeldOutB(
        "b_chronic_midpoint_seven_weeks",
        "Two weeks at 'mostly', then 'somewhat' on everything for seven weeks: a weak "
        "alliance that has settled in.",
        [*steady(2, 4, 4, 4, 4), *steady(7, 3, 3, 3, 3)],
        TALK,
        since_visit=2,
    ),
    HeldOutB(
        "b_chronic_below_midpoint_mixed",
        "Three good weeks, then six weeks averaging below the midpoint, the 2 moving "
        "between items.",
        [
            *steady(3, 5, 4, 5, 4),
            c(3, 3, 3, 2),
            c(3, 2, 3, 3),
            c(2, 3, 3, 3),
            c(3, 3, 2, 3),
            c(3, 2, 3, 3),
            c(3, 3, 3, 2),
        ],
        TALK,
        since_visit=3,
    ),
    HeldOutB(
        "b_chronic_midpoint_from_session_one",
        "'Somewhat' on every item from the first session, six weeks running. Never an "
        "alliance to speak of; the sixth such week is not new information.",
        steady(6, 3, 3, 3, 3),
        TALK,
        since_visit=0,
    ),
    HeldOutB(
        "b_stably_low_seven_weeks",
        "Answers 2, 3, 2, 3 every week for seven weeks from the start: clearly weak, long "
        "known; no reason for an alarm this week.",
        steady(7, 2, 3, 2, 3),
        TALK,
        since_visit=0,
    ),
    # --- decline ----------------------------------------------------------------------
    HeldOutB(
        "b_slow_decline_from_the_top",
        "Fives for three weeks, then a little lower every week for five weeks, ending at "
        "4, 4, 4, 3. No single step is big; the direction is clear.",
        [
            *steady(3),
            c(5, 5, 5, 4),
            c(5, 4, 5, 4),
            c(4, 4, 5, 4),
            c(4, 4, 4, 4),
            c(4, 4, 4, 3),
        ],
        TALK,
        since_visit=3,
    ),
    HeldOutB(
        "b_slow_decline_to_the_midpoint",
        "Three weeks at 'mostly', then sliding one item at a time until everything is 'somewhat'.",
        [*steady(3, 4, 4, 4, 4), c(4, 4, 4, 3), c(4, 3, 4, 3), c(3, 3, 4, 3), c(3, 3, 3, 3)],
        TALK,
    ),
    # --- a sudden drop on one domain ---------------------------------------------------
    HeldOutB(
        "b_sudden_goals_drop",
        "A ceiling client answers 2 on 'we worked on what matters to me', fives elsewhere, "
        "no tension: a clear change on one domain; talk about goals at the next session.",
        [*steady(6), c(5, 2, 5, 5)],
        TALK,
    ),
    HeldOutB(
        "b_sudden_bond_to_one",
        "A client at fives and fours answers 1 on feeling heard, respected and safe, no "
        "tension ticked, no note. 'Not at all safe' from a client who was at the top: the "
        "therapist should know before the next session.",
        [*steady(3), c(5, 4, 5, 5), c(4, 5, 5, 5), c(1, 4, 5, 4)],
        TALK,
        alert=True,
    ),
    HeldOutB(
        "b_goals_dip_recovered",
        "A ceiling client had a 2 on goals last week, no tension; this week fives again: "
        "strain last week, better after.",
        [*steady(5), c(5, 2, 5, 5), c(5, 5, 5, 5)],
        STEADY,
        good_news=True,
    ),
    # --- tension: recurring, unresolved ------------------------------------------------
    HeldOutB(
        "b_recurring_unresolved_then_quiet",
        "'A little' tension, not talked through, in week 5 and again in week 7; a quiet "
        "week 8. Twice unheard is a pattern, and the quiet week resolves nothing.",
        [
            *steady(4),
            c(5, 5, 5, 5, tension=1, talked=0),
            c(5, 5, 5, 5),
            c(5, 5, 4, 5, tension=1, talked=0),
            c(5, 5, 5, 5),
        ],
        TALK,
        good_news=False,
    ),
    HeldOutB(
        "b_unresolved_a_lot_then_two_quiet",
        "A lot of tension, not talked through, three weeks ago (bond 3 that week), then "
        "two ordinary weeks with no tension. Scores are back, but nobody has said it was "
        "talked about: not repaired, still worth raising.",
        [*steady(5), c(3, 4, 5, 4, tension=2, talked=0), c(5, 5, 5, 5), c(5, 5, 5, 5)],
        WATCH,
        good_news=False,
    ),
    # --- tension talked through: repair ---------------------------------------------------
    HeldOutB(
        "b_a_lot_talked_through_same_session",
        "A lot of tension this week, talked through fully in the session, fives "
        "everywhere: a rupture repaired in the room.",
        [*steady(6), c(5, 5, 5, 5, tension=2, talked=2)],
        STEADY,
        good_news=True,
    ),
    HeldOutB(
        "b_partly_then_talked_through",
        "Last week a lot of tension, only partly talked through (goals 4); this week the "
        "client reports a little tension and that it was talked through, fives: repair "
        "confirmed.",
        [*steady(5), c(5, 4, 5, 5, tension=2, talked=1), c(5, 5, 5, 5, tension=1, talked=2)],
        STEADY,
        good_news=True,
    ),
    HeldOutB(
        "b_repair_confirmed_in_note",
        "Last week a lot of tension, not talked through, bond 3. This week fives, no "
        "tension, and the note says they talked about last week at the start of the "
        "session and the client was glad. The client has confirmed the repair in words.",
        [
            *steady(5),
            c(3, 4, 5, 4, tension=2, talked=0),
            c(
                5,
                5,
                5,
                5,
                comment="We talked about last week at the start and I am glad we did.",
            ),
        ],
        STEADY,
        good_news=True,
    ),
    HeldOutB(
        "b_talked_through_but_still_unheard",
        "A lot of tension, 'yes, talked through', yet feeling heard at 2 (usually 5). The "
        "talk happened but did not reach the bond: not a repair yet.",
        [*steady(6), c(2, 4, 5, 4, tension=2, talked=2)],
        TALK,
        good_news=False,
    ),
    # --- a second rupture ---------------------------------------------------------------
    HeldOutB(
        "b_second_rupture_mild",
        "After a rupture repaired weeks ago and three weeks of fives, the client reports "
        "a little tension, not talked through, and 'somewhat' on feeling heard. The "
        "earlier repair does not make this one smaller.",
        [*RUPTURE_REPAIRED, c(3, 5, 5, 5, tension=1, talked=0)],
        TALK,
    ),
    HeldOutB(
        "b_second_rupture_severe",
        "The same client, this time a lot of tension, not talked through, feeling heard 2 "
        "and goals 2.",
        [*RUPTURE_REPAIRED, c(2, 2, 4, 4, tension=2, talked=0)],
        TALK,
        alert=True,
    ),
    # --- early sessions -------------------------------------------------------------------
    HeldOutB(
        "b_early_second_checkin_two_midpoints",
        "Session 1 all fours; session 2 'somewhat' on feeling heard and on goals. Early "
        "weak alliance predicts dropout: raise it now.",
        [c(4, 4, 4, 4), c(3, 3, 4, 4)],
        TALK,
    ),
    HeldOutB(
        "b_early_third_checkin_two_midpoints",
        "Sessions 1 and 2 all fours; session 3 'somewhat' on feeling heard and on the way "
        "of working.",
        [c(4, 4, 4, 4), c(4, 4, 4, 4), c(3, 4, 3, 4)],
        TALK,
    ),
    HeldOutB(
        "b_early_rising",
        "Session 1 at 3s and 4s, session 2 a little better, session 3 fours and a five: "
        "the alliance is forming, last week's 3 on goals has eased.",
        [c(3, 3, 4, 3), c(4, 3, 4, 4), c(4, 4, 5, 4)],
        STEADY,
        good_news=True,
    ),
    HeldOutB(
        "b_first_checkin_all_fours",
        "The very first check-in: 'mostly' on every item.",
        [c(4, 4, 4, 4)],
        STEADY,
    ),
    # --- withdrawal and pauses ------------------------------------------------------------
    HeldOutB(
        "b_two_unanswered_after_steady",
        "Eight weeks of fours and fives answered every time, then two check-ins unanswered.",
        [*steady(4), *steady(4, 4, 5, 4, 5), MISSED, MISSED],
        WATCH,
    ),
    HeldOutB(
        "b_three_unanswered_after_steady",
        "Seven steady weeks, then three check-ins in a row unanswered: a withdrawal that "
        "persists; name the pause, without blame.",
        [*steady(7), MISSED, MISSED, MISSED],
        TALK,
    ),
    HeldOutB(
        "b_one_missed_after_strained_week",
        "Steady fives, then a week at 3 on feeling heard and on goals, then the next "
        "check-in unanswered. One miss is not withdrawal, but after that week it is worth "
        "watching.",
        [*steady(5), c(3, 3, 5, 4), MISSED],
        WATCH,
    ),
    HeldOutB(
        "b_paused_after_steady",
        "Six steady weeks, then the client paused the check-ins. Possibly tired of the "
        "questions; still a step back to note.",
        steady(6),
        WATCH,
        client_status="paused",
    ),
    HeldOutB(
        "b_paused_after_unresolved_a_lot",
        "A lot of tension, not talked through, bond 3 — and straight after, the client "
        "paused the check-ins. Rupture followed by withdrawal.",
        [*steady(4), c(3, 4, 4, 4, tension=2, talked=0)],
        TALK,
        alert=True,
        client_status="paused",
    ),
    # --- the therapist's view -------------------------------------------------------------
    HeldOutB(
        "b_therapist_higher_client_lower",
        "A client at 'mostly' answers 'somewhat' on bond, goals and openness; the therapist "
        "rated the session 5. The therapist did not see what the client felt.",
        [*steady(5, 4, 4, 4, 4), c(3, 3, 4, 3, rating=5)],
        TALK,
    ),
    HeldOutB(
        "b_therapist_lower_rating_two",
        "The client answers fives as always; the therapist rated the session 2. The "
        "therapist's unease is worth a glance; the client's view weighs more.",
        [*steady(6), c(5, 5, 5, 5, rating=2)],
        WATCH,
    ),
    HeldOutB(
        "b_therapist_one_lower",
        "Client fives, therapist 4: clients usually rate higher. Nothing to note.",
        [*steady(6), c(5, 5, 5, 5, rating=4)],
        STEADY,
    ),
    # --- the severe end -------------------------------------------------------------------
    HeldOutB(
        "b_severe_a_lot_not_talked_deep_drop",
        "A client normally at the top answers 2 on feeling heard and 3 on goals and on the "
        "way of working, a lot of tension not talked through, and writes that they felt "
        "judged and wonder whether therapy helps.",
        [
            *steady(4),
            c(5, 4, 5, 5),
            c(
                2,
                3,
                3,
                4,
                tension=2,
                talked=0,
                comment="I felt judged today and I am not sure this is helping me.",
            ),
        ],
        TALK,
        alert=True,
    ),
    HeldOutB(
        "b_partial_checkin_fine",
        "A steady client answers only the first two questions this week (fives), then "
        "stops. Nothing in what they said is a concern.",
        [*steady(6), c(5, 5, None, None, status="partial")],
        STEADY,
    ),
]
