"""Reads the held-out conversation-loop and opener cases and says what the code makes of them.

The cases (tests/data/loop_heldout/, README there) were written as a clinician's stories
before the loop's and the openers' rules were read or run on them, and are never edited
to make the code pass. This module only turns them into the pure core's inputs and
replays the weekly digests the way ``bot.digest.loop.settle`` does:

- the digest of the case's ``suggested`` week stores a suggestion naming what the strain
  rules found dipped (the case's own domains where the rules do not call for a
  conversation that week), with "before" the first domain's score in the latest
  check-in, shown in full;
- each therapist tap is stored on the suggestion standing when it is made; a later tap
  replaces the answer and its time. With none standing, a "We talked about it" on the
  latest suggestion closed as eased with no conversation on record is taken late and
  judged at once (closed as repaired when the check-ins say so, else open again, held),
  as ``take_answer`` does; any other tap with none standing is refused as stale;
- every later digest judges the loop; a conversation-level strain with no suggestion
  standing for it makes a new one (the old one closed as "renewed"); a repaired or
  eased loop is closed.

The verdict for the digest of week ``now`` is the latest turn of the story: a new
suggestion made after the case's one (``new_suggestion``); otherwise the outcome the
case's suggestion was closed with (``repaired``, ``eased``); otherwise where it stands
(``held`` → ``held_waiting``, ``held_not_improving``, ``not_needed`` → ``quiet``,
``open``/``still_open`` → ``reminder``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

from bot.core.conversation_loop import (
    CLIENT_ITEM,
    LoopAnswer,
    SuggestionRecord,
    closing,
    current_record,
    judge_loop,
    needs_suggestion,
    reopened_held,
    takes_late_held,
)
from bot.core.instrument import Instrument, get_instrument
from bot.core.openers import choose_opener
from bot.core.scoring import CheckinRecord, CheckinStatus
from bot.core.strain import ClientHistory, Severity, StrainAssessment, assess_strain

DATA = Path(__file__).resolve().parents[1] / "data" / "loop_heldout"
LOOP_FILE = DATA / "2026-12-03-loop.toml"
OPENERS_FILE = DATA / "2026-12-03-openers.toml"
# Each block's loop histories and opener cases; "b" was written blind after "a" was used
# to fix the loop (tests/data/loop_heldout/README.md).
BLOCKS: dict[str, tuple[Path, Path]] = {
    "a": (LOOP_FILE, OPENERS_FILE),
    "b": (DATA / "2026-12-03-b-loop.toml", DATA / "2026-12-03-b-openers.toml"),
}

LOOP_VERDICTS = (
    "repaired",
    "held_waiting",
    "held_not_improving",
    "reminder",
    "quiet",
    "new_suggestion",
    "eased",
)
_STATE_VERDICT = {
    "repaired": "repaired",
    "held": "held_waiting",
    "held_not_improving": "held_not_improving",
    "not_needed": "quiet",
    "open": "reminder",
    "still_open": "reminder",
}
_CODES = {
    "tension": {"none": 0, "a_little": 1, "a_lot": 2},
    "talked_through": {"no": 0, "partly": 1, "yes": 2},
    CLIENT_ITEM: {"no": 0, "partly": 1, "yes": 2},
}
_SCALES = ("bond", "goals", "tasks", "openness", "support")
_COMPLETE = ("bond", "goals", "tasks", "openness", "tension")
SESSION_TIME = time(17, 0, tzinfo=UTC)
DIGEST_TIME = time(7, 0, tzinfo=UTC)


def session_at(start: date, week: int) -> datetime:
    """When session ``week`` ended: weekly from the case's start, 17:00 UTC."""
    return datetime.combine(start + timedelta(days=7 * week), SESSION_TIME)


def digest_at(start: date, week: int) -> datetime:
    """The digest of week ``week``: the Monday before that session, 07:00 UTC."""
    return datetime.combine(start + timedelta(days=7 * week - 1), DIGEST_TIME)


def _checkin(raw: Mapping[str, Any], start: date, index: int) -> CheckinRecord:
    """One check-in table of a case as the core reads it."""
    week = int(raw["w"])
    ended = session_at(start, week)
    answers: dict[str, int | None] = {}
    status: CheckinStatus = "unanswered"
    if not raw.get("unanswered", False):
        for item in _SCALES:
            if item in raw:
                answers[item] = int(raw[item])
        for item, codes in _CODES.items():
            key = "talked" if item == CLIENT_ITEM else item
            if key in raw:
                answers[item] = codes[str(raw[key])]
        status = "completed" if all(k in answers for k in _COMPLETE) else "partial"
    comment = raw.get("comment")
    return CheckinRecord(
        checkin_id=1000 + week + 1,
        sequence=index + 1,
        session_end=ended,
        due_at=ended + timedelta(hours=1),
        status=status,
        answers=answers,
        has_comment=comment is not None,
        comment=None if comment is None else str(comment),
        therapist_rating=int(raw["rating"]) if "rating" in raw else None,
    )


def history_at(case: Mapping[str, Any], moment: datetime) -> ClientHistory:
    """The client's history as stored at ``moment``: the check-ins of sessions before it."""
    start = cast(date, case["start"])
    records = [_checkin(raw, start, i) for i, raw in enumerate(case["checkins"])]
    return ClientHistory(
        client_id=1,
        alias=str(case["id"]),
        locale=str(case["locale"]),
        enrolled_at=session_at(start, 0) - timedelta(days=2),
        status="active",
        status_since=None,
        checkins=tuple(r for r in records if r.session_end <= moment),
    )


def _tap_time(tap: Mapping[str, Any], start: date) -> datetime:
    """When a tap was made: just after a session, or on a Monday's digest."""
    if "after_session" in tap:
        return session_at(start, int(tap["after_session"])) + timedelta(hours=1)
    return digest_at(start, int(tap["at_digest"])) + timedelta(hours=2)


def _before(assessment: StrainAssessment, domain: str | None) -> float | None:
    """The domain's score in the latest check-in (the "before" of the digest's numbers)."""
    if assessment.latest is None or domain is None:
        return None
    return assessment.latest.domains.get(domain)


@dataclass(frozen=True)
class LoopResult:
    """What the replayed digests said about one case."""

    verdict: str
    week: int  # the digest at which the verdict was reached
    trail: tuple[str, ...]  # each digest's state, for the listing


def replay_loop(
    case: Mapping[str, Any], instrument: Instrument | None = None, *, named: bool = False
) -> LoopResult:
    """Replay the weekly digests from the suggestion to ``now`` and return the verdict.

    The suggestion stores what the strain rules found at that digest, as ``settle``
    does; where they do not call for a conversation there, the domains the case names
    stand in (the story says it was suggested). ``named``: always the case's domains.
    """
    instrument = instrument or get_instrument()
    start = cast(date, case["start"])
    first_week, last_week = int(case["suggested"]), int(case["now"])
    taps = sorted(
        ((_tap_time(t, start), t) for t in case.get("taps", [])), key=lambda pair: pair[0]
    )
    records: list[SuggestionRecord] = []
    trail: list[str] = []
    renewed_at: int | None = None
    closed: tuple[str, int] | None = None

    def new_record(at: datetime, assessment: StrainAssessment, domains: Sequence[str]) -> None:
        records.append(
            SuggestionRecord(
                suggestion_id=len(records) + 1,
                client_id=1,
                created_at=at,
                strain_since=assessment.since,
                domains=tuple(domains),
                before=_before(assessment, domains[0] if domains else None),
                first_shown_at=at,
            )
        )

    def close(suggestion_id: int, at: datetime, outcome: str, improved: datetime | None) -> None:
        records[:] = [
            replace(r, closed_at=at, outcome=outcome, improved_at=improved)  # type: ignore[arg-type]
            if r.suggestion_id == suggestion_id
            else r
            for r in records
        ]

    for week in range(first_week, last_week + 1):
        at = digest_at(start, week)
        while taps and taps[0][0] <= at:
            tapped_at, tap = taps.pop(0)
            standing = current_record(records)
            latest = max(records, key=lambda r: (r.created_at, r.suggestion_id), default=None)
            if (
                standing is None
                and latest is not None
                and tap["answer"] == "held"
                and takes_late_held(latest, records)
            ):
                late = reopened_held(latest, tapped_at)
                records[:] = [late if r.suggestion_id == late.suggestion_id else r for r in records]
                then = history_at(case, tapped_at)
                judged = judge_loop(
                    then, assess_strain(then, instrument, tapped_at), records, instrument, tapped_at
                )
                repaired = judged is not None and judged.state == "repaired"
                trail.append("late-tap>" + ("repaired" if repaired else "held"))
                if judged is not None and repaired:
                    close(late.suggestion_id, tapped_at, "repaired", judged.improved_at)
                    if late.suggestion_id == 1:
                        closed = ("repaired", week)
                elif late.suggestion_id == 1:
                    closed = None
            elif standing is not None:
                answered = replace(
                    standing,
                    answer=cast(LoopAnswer, tap["answer"]),
                    answered_at=tapped_at,
                    reason=tap.get("reason"),
                )
                records[:] = [
                    answered if r.suggestion_id == standing.suggestion_id else r for r in records
                ]
        history = history_at(case, at)
        assessment = assess_strain(history, instrument, at)
        if week == first_week:
            found = assessment.severity == Severity.CONVERSATION and assessment.dipped
            domains = list(assessment.dipped) if found and not named else case["domains"]
            new_record(at, assessment, [str(d) for d in domains])
            trail.append(f"{week}:suggested")
            continue
        loop = judge_loop(history, assessment, records, instrument, at) if records else None
        if needs_suggestion(assessment, loop):
            old = current_record(records)
            if old is not None:
                close(old.suggestion_id, at, "renewed", None)
            new_record(at, assessment, list(assessment.dipped))
            trail.append(f"{week}:new")
            if renewed_at is None:
                renewed_at = week
            continue
        if loop is None:
            trail.append(f"{week}:-")
            continue
        ended = closing(assessment, loop)
        trail.append(f"{week}:{loop.state}" + (f">{ended[0]}" if ended else ""))
        if ended is not None:
            close(loop.suggestion_id, at, ended[0], ended[1])
            if loop.suggestion_id == 1 and closed is None:
                closed = (ended[0], week)
        state_week = (_STATE_VERDICT[loop.state], week) if loop.suggestion_id == 1 else None
        if week == last_week and renewed_at is None and closed is None and state_week:
            return LoopResult(state_week[0], state_week[1], tuple(trail))
    if renewed_at is not None:
        return LoopResult("new_suggestion", renewed_at, tuple(trail))
    if closed is not None:
        return LoopResult(closed[0], closed[1], tuple(trail))
    return LoopResult("none", last_week, tuple(trail))


@dataclass(frozen=True)
class OpenerResult:
    """What the digest makes of one opener case."""

    topic: str
    severity: Severity


def judge_opener(case: Mapping[str, Any], instrument: Instrument | None = None) -> OpenerResult:
    """The opener topic for the case's digest, and the strain level it was read at."""
    instrument = instrument or get_instrument()
    at = digest_at(cast(date, case["start"]), int(case["now"]))
    history = history_at(case, at)
    assessment = assess_strain(history, instrument, at)
    week_ago = at - timedelta(days=7)
    note = any(c.has_comment and c.session_end > week_ago for c in history.checkins)
    choice = choose_opener(assessment, note=note, check_back=bool(case.get("check_back")))
    return OpenerResult(choice.topic, assessment.severity)


def load(path: Path) -> list[dict[str, Any]]:
    """The cases of one held-out file, in file order."""
    with path.open("rb") as handle:
        return cast(list[dict[str, Any]], tomllib.load(handle)["case"])
