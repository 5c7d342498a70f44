"""The relationship conversation as a tracked event: suggested, answered, and what followed.

When the digest suggests a relationship conversation, a suggestion is stored (one per
strain). The therapist answers it with one tap ("We talked about it", "Not yet",
"Not needed"); the client's next check-in asks whether the two of them talked about
how things are going between them. ``judge_loop`` reads both with the client's later
check-ins and says where the loop stands: still open, held and waiting, held and
improving on the domain it was about (repaired), held and not improving after two
check-ins or with the client falling silent since (decision support), or quieted as
not needed (until the strain deepens or the client falls silent). ``summarise`` counts
a month of suggestions for the therapist's monthly summary.
Pure: no Telegram, no database, no clock.

Why and for how long: docs/clinical.md, "Closing the loop".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from bot.core.instrument import Instrument
from bot.core.scoring import score_checkin
from bot.core.strain import (
    DEFAULT_SETTINGS,
    ClientHistory,
    Reason,
    Severity,
    StrainAssessment,
    StrainSettings,
    checkin_severities,
)
from bot.texts import Texts

# "eased" is only the view of the digest that closes a suggestion as eased (eased_view).
LoopState = Literal[
    "open", "still_open", "held", "not_needed", "held_not_improving", "repaired", "eased"
]
LoopAnswer = Literal["held", "not_yet", "not_needed"]
Outcome = Literal["repaired", "eased", "renewed"]

ANSWERS: tuple[LoopAnswer, ...] = ("held", "not_yet", "not_needed")
# The fixed reasons a therapist may give for "Not needed": no free text is kept.
#   usual   — this is how the client usually answers
#   outside — the dip is about something outside the therapy relationship
#   talked  — already addressed in another way (e.g. by phone, in an earlier session)
#   later   — a better moment will come; the therapist will watch it
REASONS: tuple[str, ...] = ("usual", "outside", "talked", "later")

# The client's item: did you and your therapist talk about how things are going between
# you? Its answers are coded like the tension follow-up: 2 yes, 1 partly, 0 no.
CLIENT_ITEM = "talked_relationship"
CLIENT_SAID: dict[int, str] = {2: "yes", 1: "partly", 0: "no"}


@dataclass(frozen=True)
class LoopSettings:
    """How long the loop waits and stays quiet (reasons in docs/clinical.md)."""

    # "Not needed" quiets the strain this long: the strain rules remember a strain
    # 28 days (StrainSettings.strain_memory_days), so within that time the same strain
    # would be suggested again; after it, a strain still present is news.
    not_needed_quiet_days: int = 28
    # Held and not improving is said after this many answered check-ins since.
    not_improving_after: int = 2
    # Improvement counts for the monthly summary when it came within this many days.
    improvement_within_days: int = 31


DEFAULT_LOOP = LoopSettings()


@dataclass(frozen=True)
class SuggestionRecord:
    """A stored suggestion of a relationship conversation and the therapist's answer."""

    suggestion_id: int
    client_id: int
    created_at: datetime
    strain_since: datetime | None
    domains: tuple[str, ...]  # what dipped when it was suggested, most important first
    before: float | None  # the first domain's score when it was suggested
    answer: LoopAnswer | None = None
    answered_at: datetime | None = None
    reason: str | None = None
    first_shown_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: Outcome | None = None
    improved_at: datetime | None = None

    @property
    def domain(self) -> str | None:
        """The domain the before → after numbers are about."""
        return self.domains[0] if self.domains else None


@dataclass(frozen=True)
class ConversationLoop:
    """Where one client's suggested conversation stands at one moment (see LoopState)."""

    suggestion_id: int
    state: LoopState
    suggested_at: datetime
    strain_since: datetime | None
    domain: str | None
    before: float | None
    after: float | None
    out_of: int | None
    held_on: datetime | None
    client_said: str | None
    reason: str | None
    quiet_until: datetime | None
    shown_in_full: bool
    checkins_since_held: int
    answerable: bool
    answer: LoopAnswer | None = None
    answered_at: datetime | None = None
    improved_at: datetime | None = None
    # Check-ins left unanswered in a row since the talk (withdrawal after it), else 0.
    unanswered_since: int = 0


def current_record(records: Sequence[SuggestionRecord]) -> SuggestionRecord | None:
    """The client's newest suggestion that is not closed, if any."""
    open_ones = [r for r in records if r.closed_at is None]
    return max(open_ones, key=lambda r: (r.created_at, r.suggestion_id)) if open_ones else None


def _domain_score(
    instrument: Instrument, history: ClientHistory, domain: str | None
) -> dict[int, float]:
    """Per check-in id, the domain's score (check-ins where it was answered)."""
    if domain is None:
        return {}
    found: dict[int, float] = {}
    for record in history.checkins:
        score = score_checkin(instrument, record).domains.get(domain)
        if score is not None:
            found[record.checkin_id] = score
    return found


def client_answers(
    history: ClientHistory, after: datetime, now: datetime
) -> list[tuple[datetime, str]]:
    """The client's answers to the conversation item from ``after`` on, oldest first."""
    said = []
    for record in history.checkins:
        if not after <= record.session_end <= now:
            continue
        value = record.answers.get(CLIENT_ITEM)
        if value in CLIENT_SAID:
            said.append((record.session_end, CLIENT_SAID[value]))
    return said


def talk_session(record: SuggestionRecord, history: ClientHistory) -> datetime | None:
    """When the therapist's "We talked about it" places the talk, or None without one.

    The latest session that ended between the suggestion and the tap: the talk was in
    it or before it, so its check-in is the first one certainly after the talk (a tap
    made after the session, or on the prompt after /session, still counts that
    session's own check-in). With no session in between, the tap itself.
    """
    if record.answer != "held" or record.answered_at is None:
        return None
    tapped = record.answered_at
    ended = [
        c.session_end for c in history.checkins if record.created_at <= c.session_end <= tapped
    ]
    return max(ended, default=tapped)


def _unanswered_run(assessment: StrainAssessment) -> Reason | None:
    """The strain rules' finding of check-ins left unanswered in a row, if any.

    Pausing or leaving is not looked at here: such a client is listed as away.
    """
    return next(
        (r for r in assessment.reasons if r.rule == "withdrawal" and r.status == "unanswered"),
        None,
    )


def silent_since(
    assessment: StrainAssessment,
    history: ClientHistory,
    since: datetime,
    settings: StrainSettings = DEFAULT_SETTINGS,
) -> int:
    """Check-ins left unanswered since ``since``, in the run the withdrawal rule found,
    when there are as many as that rule counts (two by default); else 0. A run that began
    before (the talk was about the silence) counts only its part since."""
    run = _unanswered_run(assessment)
    if run is None:
        return 0
    first = next((c for c in history.checkins if c.checkin_id == run.checkin_id), None)
    if first is None:
        return 0
    count = sum(
        1
        for c in history.checkins
        if c.non_response and c.sequence >= first.sequence and c.session_end >= since
    )
    return count if count >= settings.withdrawal_watch_unanswered else 0


def fell_silent_after(assessment: StrainAssessment, since: datetime) -> bool:
    """Whether a run of unanswered check-ins that began after ``since`` calls for a
    conversation by the strain rules (three in a row, or two right after a strain)."""
    run = _unanswered_run(assessment)
    return (
        run is not None
        and run.severity >= Severity.CONVERSATION
        and run.since is not None
        and run.since > since
    )


def _deepened(
    record: SuggestionRecord,
    history: ClientHistory,
    assessment: StrainAssessment,
    severities: dict[int, Severity],
    scores: dict[int, float],
    now: datetime,
) -> bool:
    """Whether a strain answered "Not needed" has deepened since: then it is suggested again.

    Deeper means a conversation-level check-in since the answer that is severe (an
    immediate alert), or that dipped on a domain the suggestion did not name, or went
    lower on its domain than when it was suggested; or the client falling silent since
    the answer, unanswered check-ins the strain rules call for a conversation about
    (withdrawal after a strain is itself a rupture marker).
    """
    since = record.answered_at or record.created_at
    if fell_silent_after(assessment, since):
        return True
    later = [
        c
        for c in history.checkins
        if since < c.session_end <= now and severities.get(c.checkin_id) == Severity.CONVERSATION
    ]
    if not later:
        return False
    if assessment.severe:
        return True
    if set(assessment.dipped) - set(record.domains) - {"withdrawal"}:
        return True
    return record.before is not None and any(
        scores.get(c.checkin_id, record.before) < record.before for c in later
    )


def judge_loop(
    history: ClientHistory,
    assessment: StrainAssessment,
    records: Sequence[SuggestionRecord],
    instrument: Instrument,
    now: datetime,
    settings: StrainSettings = DEFAULT_SETTINGS,
    loop_settings: LoopSettings = DEFAULT_LOOP,
) -> ConversationLoop | None:
    """Where the client's current suggestion stands, or None when there is none."""
    record = current_record(records)
    if record is None or record.created_at > now:
        return None
    severities = checkin_severities(history, instrument, settings)
    scores = _domain_score(instrument, history, record.domain)
    scale_tops = [i.scale_max for i in instrument.items if i.domain == record.domain and i.core]
    out_of = scale_tops[0] if scale_tops else None
    said = client_answers(history, record.created_at, now)
    client_said = said[-1][1] if said else None

    # When it was held: the session the therapist's answer places the talk in (see
    # talk_session), or the session whose check-in the client confirmed it in (yes or
    # partly), whichever is earlier. The check-ins that judge what followed begin with
    # that session's own (it rates the session of the conversation).
    held_dates = [at for at, word in said if word in ("yes", "partly")][:1]
    tapped = talk_session(record, history)
    if tapped is not None:
        held_dates.append(tapped)
    held_on = min(held_dates) if held_dates else None
    after_held = (
        [
            c
            for c in history.checkins
            if c.responded and held_on <= c.session_end <= now and c.checkin_id in severities
        ]
        if held_on is not None
        else []
    )
    # The domain's latest score since: a repair needs an answer on the domain the
    # suggestion was about (a steady bond says nothing about goals left blank).
    on_domain = [c for c in after_held if c.checkin_id in scores]
    after = scores[on_domain[-1].checkin_id] if on_domain else None
    evidence = out_of is None or after is not None
    improved_at: datetime | None = None
    for c in after_held:
        # The first steady check-in since that also answered the domain (when it has one).
        if severities[c.checkin_id] == Severity.STEADY and (
            out_of is None or c.checkin_id in scores
        ):
            improved_at = c.session_end
            break
    latest_steady = bool(after_held) and severities[after_held[-1].checkin_id] == Severity.STEADY
    settled = latest_steady and assessment.severity < Severity.CONVERSATION
    # Silence after the talk, from check-ins the strain rules count as withdrawal.
    silent = silent_since(assessment, history, held_on, settings) if held_on is not None else 0

    shown = record.first_shown_at is not None and record.first_shown_at < now
    quiet_until = (
        record.answered_at + timedelta(days=loop_settings.not_needed_quiet_days)
        if record.answer == "not_needed" and record.answered_at is not None
        else None
    )
    state: LoopState
    if held_on is not None:
        if silent:
            state = "held_not_improving"
        elif settled and evidence:
            state = "repaired"
        elif settled:
            state = "held"  # steady, but nothing yet on the domain it was about
        elif len(after_held) >= loop_settings.not_improving_after:
            state = "held_not_improving"
        else:
            state = "held"
    elif (
        quiet_until is not None
        and now < quiet_until
        and not _deepened(record, history, assessment, severities, scores, now)
    ):
        state = "not_needed"
    elif shown:
        state = "still_open"
    else:
        state = "open"
    return ConversationLoop(
        suggestion_id=record.suggestion_id,
        state=state,
        suggested_at=record.created_at,
        strain_since=record.strain_since,
        domain=record.domain,
        before=record.before,
        after=after,
        out_of=out_of,
        held_on=held_on,
        client_said=client_said,
        reason=record.reason,
        quiet_until=quiet_until if state == "not_needed" else None,
        shown_in_full=shown,
        checkins_since_held=len(after_held),
        answerable=state in ("open", "still_open", "held", "held_not_improving"),
        answer=record.answer,
        answered_at=record.answered_at,
        improved_at=improved_at if state == "repaired" else None,
        unanswered_since=silent if state == "held_not_improving" else 0,
    )


def needs_suggestion(assessment: StrainAssessment, loop: ConversationLoop | None) -> bool:
    """Whether a new suggestion is due: a conversation-level strain with none standing for it.

    A suggestion stands while it is open, held or quiet; one answered "Not needed" whose
    quiet time is over (or whose strain deepened) gives way to a new one.
    """
    if assessment.severity < Severity.CONVERSATION:
        return False
    if loop is None:
        return True
    return loop.answer == "not_needed" and loop.state != "not_needed"


def closing(
    assessment: StrainAssessment, loop: ConversationLoop
) -> tuple[Outcome, datetime | None] | None:
    """Whether the suggestion is over after this digest, and how: repaired, or eased by itself.

    A repair is reported once (in the digest that finds it) and then closed; a strain
    that eased without a conversation on record closes as eased. Open strains stay open.
    """
    if loop.state == "repaired":
        return "repaired", loop.improved_at
    if assessment.severity == Severity.STEADY and loop.state in (
        "open",
        "still_open",
        "not_needed",
    ):
        return "eased", None
    return None


def eased_view(loop: ConversationLoop) -> ConversationLoop:
    """The loop as the digest that closes it as eased shows it.

    With no conversation on record (unanswered or "Not yet") the digest says the strain
    eased and still takes a "We talked about it" (see takes_late_held): the talk may have
    happened without a tap. After "Not needed" there is nothing to ask.
    """
    if loop.answer not in (None, "not_yet"):
        return loop
    return replace(loop, state="eased", answerable=True)


def takes_late_held(record: SuggestionRecord, records: Sequence[SuggestionRecord]) -> bool:
    """Whether a closed suggestion still takes a late "We talked about it": it closed as
    eased with no conversation on record, and no suggestion was made for the client since.
    """
    if record.outcome != "eased" or record.answer not in (None, "not_yet") or not records:
        return False
    latest = max(records, key=lambda r: (r.created_at, r.suggestion_id))
    return latest.suggestion_id == record.suggestion_id


def reopened_held(record: SuggestionRecord, at: datetime) -> SuggestionRecord:
    """An eased suggestion answered "We talked about it" late: open again, held, to be
    judged as any held one (and closed as repaired when the check-ins since say so)."""
    return replace(
        record,
        answer="held",
        answered_at=at,
        reason=None,
        closed_at=None,
        outcome=None,
        improved_at=None,
    )


def first_checkin_after(
    records: Sequence[SuggestionRecord], previous_checkin_at: datetime | None
) -> bool:
    """Whether a new check-in is the first since a suggestion was made (ask the client item)."""
    return any(previous_checkin_at is None or r.created_at > previous_checkin_at for r in records)


def asked_rarely(client_id: int, sequence: int, one_in: int) -> bool:
    """Whether the client item is asked in this check-in anyway: about one in ``one_in``.

    Seeded by the client and the check-in's number, so it is the same on every run and
    unrelated to any judgement.
    """
    if one_in <= 1:
        return True
    digest = hashlib.sha256(f"conversation-item:{client_id}:{sequence}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % one_in == 0


# --- what the practice learns ----------------------------------------------------


@dataclass(frozen=True)
class LoopSummary:
    """A therapist's month of suggested conversations, counted from stored records."""

    month_start: datetime
    month_end: datetime
    suggested: int
    held: int
    improved_within_month: int
    not_needed: int
    open: int


def summarise(
    records: Sequence[SuggestionRecord],
    month_start: datetime,
    month_end: datetime,
    client_held: Sequence[int] = (),
    loop_settings: LoopSettings = DEFAULT_LOOP,
) -> LoopSummary:
    """Suggestions made in [month_start, month_end): how many were held, how many improved.

    ``client_held`` lists suggestions the client said were talked about (yes or partly)
    though the therapist did not answer "We talked about it".
    """
    made = [r for r in records if month_start <= r.created_at < month_end]
    confirmed = set(client_held)
    held = [r for r in made if r.answer == "held" or r.suggestion_id in confirmed]
    window = timedelta(days=loop_settings.improvement_within_days)
    improved = [
        r
        for r in held
        if r.outcome == "repaired"
        and r.improved_at is not None
        and r.improved_at
        - (r.answered_at if r.answer == "held" and r.answered_at else r.created_at)
        <= window
    ]
    return LoopSummary(
        month_start=month_start,
        month_end=month_end,
        suggested=len(made),
        held=len(held),
        improved_within_month=len(improved),
        not_needed=sum(1 for r in made if r.answer == "not_needed"),
        open=sum(
            1
            for r in made
            if r.closed_at is None and r.answer in (None, "not_yet") and r not in held
        ),
    )


def summary_month(
    period_start: datetime, period_end: datetime, tz: tzinfo
) -> tuple[datetime, datetime] | None:
    """The calendar month to summarise in this digest, or None.

    A digest whose period (start, end] holds the first day of a month (in the
    therapist's time zone) summarises the month before it, once a month.
    """
    end_local = period_end.astimezone(tz)
    first = end_local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if not period_start < first <= period_end:
        return None
    previous = (first - timedelta(days=1)).replace(day=1)
    return previous, first


# --- the words -------------------------------------------------------------------


def _number(texts: Texts, locale: str, value: float | None) -> str:
    """A score with at most one decimal, in the locale's notation (as the digest writes it)."""
    return texts.number(locale, value)


def _date(texts: Texts, locale: str, moment: datetime | None, tz: tzinfo) -> str:
    return "" if moment is None else texts.date(locale, moment.astimezone(tz))


def loop_line(texts: Texts, locale: str, alias: str, loop: ConversationLoop, tz: tzinfo) -> str:
    """The digest's line (HTML) for a client's suggested conversation, by its state.

    "open" has no line of its own: the full block (findings, openers) is the digest's.
    "held_not_improving" comes with the short decision support on a second line.
    """
    if loop.state == "open":
        return ""
    domain = texts.plain(locale, "digest.domain", domain=loop.domain) if loop.domain else ""
    common: dict[str, object] = {
        "alias": alias,
        "since": _date(texts, locale, loop.suggested_at, tz),
        "held_on": _date(texts, locale, loop.held_on, tz),
        "client_said": loop.client_said or "",
        "domain": domain,
        "before": _number(texts, locale, loop.before),
        "after": _number(texts, locale, loop.after),
        "checkins": loop.checkins_since_held,
        "not_yet": loop.answer == "not_yet",
        "unanswered": loop.unanswered_since,
    }
    if loop.state == "not_needed":
        common["reason"] = texts.plain(locale, "loop.reason", reason=loop.reason or "")
        common["answered_on"] = _date(texts, locale, loop.answered_at, tz)
        common["until"] = _date(texts, locale, loop.quiet_until, tz)
    if loop.state == "held_not_improving" and loop.unanswered_since:
        support = texts.render(locale, "loop.support_withdrawn")
        return texts.render(locale, "loop.not_improving_withdrawn", **common) + "\n💡 " + support
    if loop.state == "held_not_improving":
        support = texts.render(locale, "loop.support")
        return texts.render(locale, "loop.not_improving", **common) + "\n💡 " + support
    return texts.render(locale, f"loop.{loop.state}", **common)


def summary_text(texts: Texts, locale: str, summary: LoopSummary, tz: tzinfo) -> str:
    """The monthly summary's line (HTML)."""
    return texts.render(
        locale,
        "loop.monthly",
        month=texts.plain(locale, "loop.month", value=summary.month_start.astimezone(tz)),
        suggested=summary.suggested,
        held=summary.held,
        improved=summary.improved_within_month,
        not_needed=summary.not_needed,
    )
