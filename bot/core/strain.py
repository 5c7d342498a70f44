"""Where strain is decided: the seven rules of docs/clinical.md over a client's check-ins.

Fixed cut-offs alone fail because most alliance ratings sit at the top of the
scale (ceiling effect), and no alliance measure has standardised cut-offs
(Horvath), so the rules compare each check-in both with the scale and with the
client's own history. Each check-in is judged against the ones before it; a strain
lasts until a steady check-in follows it. Every threshold is a field of
``StrainSettings``; the defaults and their sources are listed in docs/clinical.md.
Pure: no clock is read, ``now`` is passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum
from functools import lru_cache
from math import sqrt
from statistics import fmean
from typing import Literal

from bot.core.instrument import Instrument, Item
from bot.core.scoring import (
    REPAIR_DOMAIN,
    TENSION_DOMAIN,
    CheckinRecord,
    CheckinScore,
    first_item,
    full_repair_value,
    position,
    score_checkin,
)

ClientStatus = Literal["active", "paused", "stopped", "unreachable", "invited"]
Rule = Literal[
    "unresolved_tension",
    "recurring_tension",
    "convergence",
    "chronic_low",
    "early_low",
    "below_baseline",
    "low_item",
    "decline",
    "withdrawal",
    "disagreement",
    "talked_through",
    "within_range",
]

# Order of importance when two findings weigh the same: the moment of tension is
# the most concrete thing to talk about, then the bond, the core of the alliance
# (Bordin), then agreement on goals and tasks.
RULE_ORDER: tuple[str, ...] = (
    "recurring_tension",
    "unresolved_tension",
    "convergence",
    "chronic_low",
    "early_low",
    "below_baseline",
    "low_item",
    "decline",
    "withdrawal",
    "disagreement",
    "talked_through",
    "within_range",
)
DOMAIN_ORDER: tuple[str, ...] = (
    "tension",
    "bond",
    "goals",
    "tasks",
    "openness",
    "withdrawal",
    "support",
)
AWAY_STATUSES: tuple[str, ...] = ("paused", "stopped", "unreachable")
_EPSILON = 1e-9


class Severity(IntEnum):
    """How much a client's check-ins call for attention."""

    STEADY = 0
    WATCH = 1
    CONVERSATION = 2  # consider a relationship conversation


@dataclass(frozen=True)
class StrainSettings:
    """Every threshold of the strain rules.

    Score thresholds are in points on a 1–5 agreement scale (the default check-in's)
    and are rescaled to an instrument's own scale, so 3.0 is the midpoint of any scale.
    """

    # Rule 1, low item: at or below the scale's midpoint ("neutral" or "disagree")
    # is a low answer (CLINICAL.md §4.1; some services flag any neutral answer).
    low_item_watch_at_or_below: float = 3.0
    # An answer below the midpoint ("a little", "not at all") is a disagreement.
    low_item_conversation_at_or_below: float = 2.0
    # A midpoint answer is not news for a client whose usual answers on that domain
    # include it (their baseline window reaches as low); answers below the midpoint
    # always count.
    low_item_relative: bool = True

    # Rule 2, below the client's own baseline. The baseline is the mean of the last
    # `baseline_window` earlier check-ins, needing `baseline_min_checkins` of them.
    baseline_min_checkins: int = 3
    baseline_window: int = 8
    # A drop of >= 1 SD of the client's own variability marks a rupture (Strauss et
    # al. 2006) ...
    baseline_watch_sd: float = 1.0
    # ... with a floor of one scale point, so a client who always answers 5 and now
    # answers 4 is noticed (SD 0; the ceiling effect, Meier & Feeley; ACORN).
    baseline_watch_floor: float = 1.0
    # >= 2 SD is the deep dip of a "V-shaped" rupture (Stiles et al. 2004); the floor
    # makes 5 -> 3 in a ceiling client count as one.
    baseline_conversation_sd: float = 2.0
    baseline_conversation_floor: float = 1.5
    # A drop is news only when it leaves the client's own usual range (the lowest
    # and highest answers of the baseline window): on a single 5-point item one SD
    # is often less than one answer step, so a noisy client's ordinary 3 would
    # otherwise count as a drop most weeks.
    baseline_needs_range: bool = True
    # A check-in that was itself a rupture (a conversation-level drop or low answer)
    # does not join the baseline that judges the next one: otherwise its low scores
    # widen the spread and hide the next rupture (Stiles et al. 2004 describe
    # ruptures as departures from the client's own level, not part of it).
    baseline_excludes_ruptures: bool = True

    # Rule 3, unresolved tension: coded 0 none, 1 a little, 2 a lot. "A lot" not
    # talked through, or only partly, is a conversation; clients report tension in
    # 19-42 % of sessions (Eubanks et al. 2018), so "a little, partly" is a watch.
    tension_a_lot: int = 2
    # Repair is confirmed, not inferred: an unresolved tension stays open until a
    # later check-in says a tension was talked through (a quiet week is not a
    # repair). Unresolved reports recurring -- this many within the last
    # `recurring_tension_window` judged check-ins -- are a conversation: repeated
    # unrepaired ruptures go with dropout (Eubanks, Muran & Safran 2018; Muran et
    # al. 2009).
    recurring_tension_reports: int = 2
    recurring_tension_window: int = 5

    # Rule 4, early low alliance: a midpoint answer in the first check-ins already
    # calls for a conversation, because weak early alliance predicts dropout
    # (Sharf et al. 2010, d = .55) and early repair keeps clients (Muran et al. 2009).
    early_checkins: int = 3
    early_low_at_or_below: float = 3.0

    # Rule 5, sustained decline: least-squares fall of the overall mean over the
    # last `decline_window` check-ins, going down in at least `decline_min_falls`
    # steps, even without a single big drop (Lambert & Shimokawa 2011: feedback
    # helps most when a client drifts off track).
    decline_window: int = 4
    decline_min_falls: int = 2
    decline_watch_drop: float = 0.75
    decline_conversation_drop: float = 1.5

    # Rule 6, withdrawal: two unanswered in a row after answering before is the
    # common rule; single misses are ordinary (EMA compliance ~79 %, Wrzus &
    # Neubauer 2023). Going quiet right after a strained check-in weighs more.
    withdrawal_watch_unanswered: int = 2
    withdrawal_conversation_unanswered: int = 3
    withdrawal_after_strain_escalates: bool = True

    # Rule 7, disagreement of views: therapist's 1-5 rating vs the client's mean.
    # Therapists tend to rate the alliance differently from clients, and the
    # client's view predicts outcome best (Horvath & Bedi).
    disagreement_gap: float = 1.5

    # Convergence: findings pointing the same way add up. In one check-in, each
    # core domain below the client's own range or low counts once, a sustained
    # decline once, and a therapist rating clearly higher than the client once
    # (the worrying direction: clients usually rate higher, Tryon et al. 2007).
    # This many points, or a baseline drop, a decline and a low answer together,
    # are a conversation: convergent evidence is more reliable than any single
    # item (Lambert & Shimokawa 2011 use several signals for "not on track").
    convergence_points: int = 3

    # Persistence: "a little" tension not talked through, alone in a check-in, is a
    # watch; it is a conversation when another check-in among the last
    # `persistence_window` (this one included) was strained too (or as recurring
    # tension, rule 3b). Clients report tension in 19-42 % of sessions (Eubanks et
    # al. 2018), so one mild report cannot call for a conversation every time; "a
    # lot" of tension stands on its own.
    conversation_needs_persistence: bool = True
    persistence_window: int = 3
    # Also hold at watch a lone drop out of the usual range or a lone answer below the
    # midpoint (no other sign, not severe) until it persists. Off by default: it
    # quiets the digest but finds fewer ruptures in their first week (the trade-off
    # is measured in docs/clinical.md); single-session V-shaped ruptures are real
    # (Stiles et al. 2004).
    persistence_for_single_drop: bool = False

    # Chronic weakness: the core mean at or below the midpoint this many answered
    # check-ins in a row is a conversation, from the start of the run; a weak
    # alliance that persists predicts dropout as much as an early one (Sharf et
    # al. 2010), and three is the early rule's own span.
    chronic_checkins: int = 3
    chronic_at_or_below: float = 3.0

    # Immediate alert, kept to the severe end to avoid alert fatigue (CLINICAL.md
    # §4): "a lot" of tension not talked through, or several core domains low at once.
    severe_low_domains: int = 2
    severe_low_at_or_below: float = 2.0
    # Also severe: "a lot" of tension only partly talked through together with a
    # deep (conversation-level) drop below the client's own range on a core domain.
    severe_partly_with_deep_drop: bool = True
    # A check-in left mid-way is judged for an alert after this long without a new
    # answer (the client may still be typing the note); one that is finished is
    # judged at once. A design choice: long enough for a note, short for a therapist.
    alert_grace_minutes: int = 30

    # A strain is carried until a steady check-in follows it, for at most this long
    # (about four weekly sessions; a design choice, not a research figure).
    strain_memory_days: int = 28
    # "Strain last week, better after" is reported for strains this recent.
    repair_lookback_days: int = 14

    def __post_init__(self) -> None:
        """Reject settings that contradict each other."""
        problems = []
        if not 1.0 <= self.low_item_conversation_at_or_below <= self.low_item_watch_at_or_below:
            problems.append("low_item_conversation_at_or_below must be ≤ the watch threshold")
        if self.baseline_min_checkins < 2 or self.baseline_window < self.baseline_min_checkins:
            problems.append("baseline needs ≥ 2 check-ins and a window at least that long")
        if self.baseline_watch_sd > self.baseline_conversation_sd:
            problems.append("baseline_watch_sd must be ≤ baseline_conversation_sd")
        if self.baseline_watch_floor > self.baseline_conversation_floor:
            problems.append("baseline_watch_floor must be ≤ baseline_conversation_floor")
        if self.decline_window < 3 or self.decline_watch_drop > self.decline_conversation_drop:
            problems.append("decline needs a window ≥ 3 and watch drop ≤ conversation drop")
        if not 1 <= self.decline_min_falls < self.decline_window:
            problems.append("decline_min_falls must be ≥ 1 and below decline_window")
        if not 1 <= self.withdrawal_watch_unanswered <= self.withdrawal_conversation_unanswered:
            problems.append("withdrawal counts must be ≥ 1 and watch ≤ conversation")
        if self.severe_low_domains < 1 or self.early_checkins < 0 or self.tension_a_lot < 1:
            problems.append("severe_low_domains, tension_a_lot ≥ 1 and early_checkins ≥ 0")
        if self.alert_grace_minutes < 1:
            problems.append("alert_grace_minutes must be ≥ 1")
        if not 1 <= self.recurring_tension_reports <= self.recurring_tension_window:
            problems.append("recurring_tension_reports must be ≥ 1 and ≤ its window")
        if self.persistence_window < 2:
            problems.append("persistence_window must be ≥ 2")
        if self.convergence_points < 2 or self.chronic_checkins < 2:
            problems.append("convergence_points and chronic_checkins must be ≥ 2")
        if not 1.0 <= self.chronic_at_or_below <= 5.0:
            problems.append("chronic_at_or_below must be on the 1-5 scale")
        if self.strain_memory_days < 1 or self.repair_lookback_days < 1:
            problems.append("strain_memory_days and repair_lookback_days must be ≥ 1")
        if problems:
            raise ValueError("; ".join(problems))


DEFAULT_SETTINGS = StrainSettings()


class StrainPolicyError(ValueError):
    """A strain policy that names an unknown threshold, has a wrong type or contradicts itself."""


def settings_from_policy(policy: Mapping[str, object]) -> StrainSettings:
    """Strain settings from a practice's policy (threshold name -> value), defaults elsewhere.

    Unknown names and values of the wrong type are refused with every problem named, so
    a typo never silently leaves a default in force.
    """
    fields = {f.name: f for f in dataclasses.fields(StrainSettings)}
    problems = [f"unknown threshold '{name}'" for name in policy if name not in fields]
    values: dict[str, object] = {}
    for name, value in policy.items():
        if name not in fields:
            continue
        default = getattr(DEFAULT_SETTINGS, name)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value  # type: ignore[arg-type]
        if not ok:
            problems.append(f"'{name}' must be a {type(default).__name__}, not {value!r}")
        values[name] = value
    if problems:
        raise StrainPolicyError("; ".join(problems))
    try:
        return StrainSettings(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise StrainPolicyError(str(exc)) from exc


@dataclass(frozen=True)
class ClientHistory:
    """A client as the strain rules see them: status and check-ins, oldest first."""

    client_id: int
    alias: str
    locale: str
    enrolled_at: datetime
    status: ClientStatus
    status_since: datetime | None
    checkins: Sequence[CheckinRecord]


@dataclass(frozen=True)
class Reason:
    """One finding behind a severity, with the numbers the digest shows."""

    rule: Rule
    severity: Severity
    domain: str | None = None
    value: float | None = None  # the client's score (item's scale), or unanswered count
    scale_max: int | None = None
    baseline: float | None = None  # the client's usual score
    sd: float | None = None
    drop: float | None = None
    count: int | None = None  # check-ins: sequence number, window or unanswered streak
    gap: float | None = None  # therapist minus client, on 1-5
    therapist_rating: int | None = None
    tension: str | None = None  # option code, e.g. "a_lot"
    talked_through: str | None = None  # option code, None when not answered
    status: str | None = None
    since: datetime | None = None
    checkin_id: int | None = None
    usual_low: float | None = None  # the client's usual range on this domain
    usual_high: float | None = None
    window: int | None = None  # check-ins looked at (recurring tension)


@dataclass(frozen=True)
class StrainAssessment:
    """The verdict on one client at one moment, and why."""

    severity: Severity
    reasons: tuple[Reason, ...]
    dipped: tuple[str, ...]
    since: datetime | None
    repaired: bool
    severe: bool
    latest: CheckinScore | None
    no_data: bool
    repaired_reasons: tuple[Reason, ...] = ()
    latest_at: datetime | None = None
    strained_checkins: tuple[int, ...] = ()
    # Answers in the latest check-in that look low but are usual for this client:
    # shown with their range, to say why they are not news.
    usual_notes: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class _Evaluation:
    """One scored check-in and what the per-check-in rules found in it."""

    record: CheckinRecord
    score: CheckinScore
    reasons: tuple[Reason, ...]
    severe: bool
    # The weightiest finding of this check-in (read several times per assessment).
    severity: Severity
    # Why it is severe: several core domains low at once (repeated weekly by a client
    # who is stably low, so an alert is only due when it is new) or the tension.
    severe_low: bool = False
    # Several core domains low at once, whatever else (to tell a repeat from news).
    many_low: bool = False
    # How many core domains were at or below the severe threshold.
    low_count: int = 0
    # Every core answer above the midpoint: the client recovered (re-arms the alert).
    recovered: bool = False
    # A rupture by itself: kept out of the baseline that judges later check-ins.
    rupture: bool = False
    # Midpoint answers not counted as news because they are usual for this client.
    notes: tuple[Reason, ...] = ()
    # The findings before the persistence rule held a lone sign at watch (good news
    # still reports a dip that eased, at the weight it had).
    raw_reasons: tuple[Reason, ...] = ()
    raw_severity: Severity = Severity.STEADY


def _on_scale(item: Item, points_on_five: float) -> float:
    """A threshold given on a 1-5 scale, moved to the item's scale."""
    assert item.scale_min is not None and item.scale_max is not None
    return item.scale_min + (points_on_five - 1.0) / 4.0 * (item.scale_max - item.scale_min)


def _span(item: Item, points_on_five: float) -> float:
    """A distance given in points of a 1-5 scale, moved to the item's scale."""
    assert item.scale_min is not None and item.scale_max is not None
    return points_on_five / 4.0 * (item.scale_max - item.scale_min)


def _sample_sd(values: Sequence[float], mean: float) -> float:
    """Sample standard deviation in plain floats.

    statistics.stdev computes exactly with fractions, which made it most of the time
    a weekly digest takes; scores are small numbers and thresholds allow 1e-9 slack.
    """
    return sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


@lru_cache(maxsize=4096)
def _window_stats(window: tuple[float, ...]) -> tuple[float, float]:
    """Mean and sample SD of a baseline window.

    Answers are a handful of scale points, so the same windows recur across
    check-ins and clients; the figures are computed once per distinct window.
    """
    mean = fmean(window)
    return mean, _sample_sd(window, mean)


def _slope(values: Sequence[float]) -> float:
    """Least-squares slope per step of equally spaced values."""
    n = len(values)
    x_mean = (n - 1) / 2
    y_mean = fmean(values)
    num = sum((i - x_mean) * (y - y_mean) for i, y in enumerate(values))
    den = sum((i - x_mean) ** 2 for i in range(n))
    return num / den


@dataclass(frozen=True)
class _ScaleRule:
    """A scale item with its allowed answers scored and its thresholds on its own scale."""

    item: Item
    scores: Mapping[int, float]  # allowed value -> score (reverse scoring applied)
    positions: Mapping[int, float]  # allowed value -> where it sits on the scale, 0..1
    early_low: float  # each threshold includes the 1e-9 slack
    low_conversation: float
    low_watch: float
    severe_low: float
    baseline_conversation_floor: float
    baseline_watch_floor: float
    decline_conversation: float
    decline_watch: float
    chronic: float


@dataclass(frozen=True)
class _Prepared:
    """What the rules need from an instrument and the settings, worked out once."""

    instrument: Instrument
    core_scales: tuple[_ScaleRule, ...]
    other_scales: tuple[_ScaleRule, ...]
    by_domain: Mapping[str, _ScaleRule]  # the first core scale item of each domain
    overall: _ScaleRule | None  # the first core scale item of any domain
    tension_item: Item | None
    repair_item: Item | None
    full_repair: int | None


def _scale_rule(item: Item, s: StrainSettings) -> _ScaleRule:
    """One scale item's answers and thresholds, computed as the rules compute them."""
    allowed = [option.value for option in item.options]
    return _ScaleRule(
        item=item,
        scores={value: item.score(value) for value in allowed},
        positions={value: position(item, item.score(value)) for value in allowed},
        early_low=_on_scale(item, s.early_low_at_or_below) + _EPSILON,
        low_conversation=_on_scale(item, s.low_item_conversation_at_or_below) + _EPSILON,
        low_watch=_on_scale(item, s.low_item_watch_at_or_below) + _EPSILON,
        severe_low=_on_scale(item, s.severe_low_at_or_below) + _EPSILON,
        baseline_conversation_floor=_span(item, s.baseline_conversation_floor),
        baseline_watch_floor=_span(item, s.baseline_watch_floor),
        decline_conversation=_span(item, s.decline_conversation_drop) - _EPSILON,
        decline_watch=_span(item, s.decline_watch_drop) - _EPSILON,
        chronic=_on_scale(item, s.chronic_at_or_below) + _EPSILON,
    )


# Keyed by the instrument's identity (instruments hold dicts, so they do not hash);
# the entry keeps the instrument alive, so an id is never reused while cached.
_PREPARED: dict[tuple[int, StrainSettings], _Prepared] = {}
_PREPARED_LIMIT = 64


def _prepare(instrument: Instrument, s: StrainSettings) -> _Prepared:
    """The instrument's scale items and thresholds for these settings (cached)."""
    key = (id(instrument), s)
    found = _PREPARED.get(key)
    if found is not None and found.instrument is instrument:
        return found
    scales = [item for item in instrument.items if item.kind == "scale"]
    core = tuple(_scale_rule(item, s) for item in scales if item.core)
    by_domain: dict[str, _ScaleRule] = {}
    for rule in core:
        by_domain.setdefault(rule.item.domain, rule)
    repair_item = first_item(instrument, REPAIR_DOMAIN)
    prepared = _Prepared(
        instrument=instrument,
        core_scales=core,
        other_scales=tuple(_scale_rule(item, s) for item in scales if not item.core),
        by_domain=by_domain,
        overall=core[0] if core else None,
        tension_item=first_item(instrument, TENSION_DOMAIN),
        repair_item=repair_item,
        full_repair=full_repair_value(repair_item) if repair_item and repair_item.options else None,
    )
    if len(_PREPARED) >= _PREPARED_LIMIT:
        _PREPARED.clear()
    _PREPARED[key] = prepared
    return prepared


def _lowest_answers(
    rules: Sequence[_ScaleRule], answers: Mapping[str, int | None]
) -> dict[str, tuple[_ScaleRule, float]]:
    """Per domain, the lowest-scoring answered scale item among ``rules``."""
    lowest: dict[str, tuple[_ScaleRule, float]] = {}
    for rule in rules:
        value = answers.get(rule.item.id)
        if value is None:
            continue
        score = rule.scores.get(value)
        if score is None:  # not an allowed answer (a corrupt value)
            continue
        domain = rule.item.domain
        if domain not in lowest or score < lowest[domain][1]:
            lowest[domain] = (rule, score)
    return lowest


@dataclass(frozen=True)
class _Usual:
    """A client's usual answers on one domain: the baseline window and its figures."""

    window: tuple[float, ...]
    mean: float
    sd: float
    low: float
    high: float


def _usual(earlier: Sequence[float], s: StrainSettings) -> _Usual | None:
    """The baseline of one domain, or None before there is enough history."""
    window = tuple(earlier[-s.baseline_window :])
    if len(window) < s.baseline_min_checkins:
        return None
    mean, sd = _window_stats(window)
    return _Usual(window, mean, sd, min(window), max(window))


def _low_item_reasons(
    lowest_core: Mapping[str, tuple[_ScaleRule, float]],
    lowest_other: Mapping[str, tuple[_ScaleRule, float]],
    usual: Mapping[str, _Usual],
    record: CheckinRecord,
    s: StrainSettings,
) -> tuple[list[Reason], list[Reason]]:
    """Rules 1 and 4: answers at or below the midpoint, weighing more early on.

    Returns the findings and the notes: midpoint answers left out because the
    client's usual answers on that domain include them.
    """
    reasons: list[Reason] = []
    notes: list[Reason] = []
    early = record.sequence <= s.early_checkins
    for core, lowest in ((True, lowest_core), (False, lowest_other)):
        for domain, (rule, score) in lowest.items():
            known = usual.get(domain) if core else None
            if core and early and score <= rule.early_low:
                kind: Rule = "early_low"
                severity = Severity.CONVERSATION
            elif score <= rule.low_conversation:
                # Items outside the core (e.g. support from important people) are
                # context, not the therapy relationship itself: they stay a watch.
                kind, severity = "low_item", Severity.CONVERSATION if core else Severity.WATCH
            elif score <= rule.low_watch:
                if s.low_item_relative and known is not None and known.low <= score + _EPSILON:
                    kind, severity = "within_range", Severity.STEADY
                else:
                    kind, severity = "low_item", Severity.WATCH
            else:
                continue
            found = Reason(
                kind,
                severity,
                domain=domain,
                value=score,
                scale_max=rule.item.scale_max,
                baseline=known.mean if known else None,
                count=record.sequence,
                since=record.session_end,
                checkin_id=record.checkin_id,
                usual_low=known.low if known else None,
                usual_high=known.high if known else None,
            )
            (notes if kind == "within_range" else reasons).append(found)
    return reasons, notes


def _baseline_reason(
    rule: _ScaleRule,
    current: float,
    usual: _Usual | None,
    record: CheckinRecord,
    s: StrainSettings,
) -> Reason | None:
    """Rule 2: a drop out of the client's own usual range, in SDs of their own variability."""
    if usual is None:
        return None
    if s.baseline_needs_range and current >= usual.low - _EPSILON:
        return None  # inside the client's own usual range: not news
    drop = usual.mean - current
    deep = max(s.baseline_conversation_sd * usual.sd, rule.baseline_conversation_floor)
    clear = max(s.baseline_watch_sd * usual.sd, rule.baseline_watch_floor)
    if drop >= deep - _EPSILON:
        severity = Severity.CONVERSATION
    elif drop >= clear - _EPSILON:
        severity = Severity.WATCH
    else:
        return None
    item = rule.item
    return Reason(
        "below_baseline",
        severity,
        domain=item.domain,
        value=current,
        scale_max=item.scale_max,
        baseline=usual.mean,
        sd=usual.sd,
        drop=drop,
        count=len(usual.window),
        since=record.session_end,
        checkin_id=record.checkin_id,
        usual_low=usual.low,
        usual_high=usual.high,
    )


def _decline_reason(
    rule: _ScaleRule,
    current: float,
    earlier: list[float],
    record: CheckinRecord,
    s: StrainSettings,
) -> Reason | None:
    """Rule 5: the overall mean falling step by step over the last few check-ins."""
    values = [*earlier[-(s.decline_window - 1) :], current]
    falls = sum(1 for before, after in zip(values, values[1:], strict=False) if after < before)
    # One step down is a dip (rule 2) or a new level, not a sustained decline.
    if len(values) < s.decline_window or current >= values[0] or falls < s.decline_min_falls:
        return None
    drop = -_slope(values) * (len(values) - 1)
    if drop >= rule.decline_conversation:
        severity = Severity.CONVERSATION
    elif drop >= rule.decline_watch:
        severity = Severity.WATCH
    else:
        return None
    return Reason(
        "decline",
        severity,
        value=current,
        scale_max=rule.item.scale_max,
        baseline=values[0],
        drop=drop,
        count=len(values),
        since=record.session_end,
        checkin_id=record.checkin_id,
    )


@dataclass
class _Series:
    """Earlier scores of each domain (ruptures left out) and of the overall mean, oldest first."""

    domains: dict[str, list[float]]
    overall: list[float]

    def add(self, score: CheckinScore, rupture: bool) -> None:
        """Extend the series with one more judged check-in."""
        if not rupture:
            for domain, value in score.domains.items():
                self.domains.setdefault(domain, []).append(value)
        if score.overall is not None:
            # The trend keeps every check-in: a decline is made of its low points.
            self.overall.append(score.overall)


def _trend_reasons(
    p: _Prepared,
    record: CheckinRecord,
    score: CheckinScore,
    usual: Mapping[str, _Usual],
    earlier: _Series,
    s: StrainSettings,
) -> list[Reason]:
    """Rule 2 for each core domain; rule 5 on the overall mean, which moves smoothly."""
    reasons: list[Reason] = []
    for domain, current in score.domains.items():
        rule = p.by_domain.get(domain)
        if rule is None:
            continue
        found = _baseline_reason(rule, current, usual.get(domain), record, s)
        if found is not None:
            reasons.append(found)
    if score.overall is not None and p.overall is not None:
        found = _decline_reason(p.overall, score.overall, earlier.overall, record, s)
        if found is not None:
            reasons.append(found)
    return reasons


def _tension_reason(
    p: _Prepared, record: CheckinRecord, score: CheckinScore, s: StrainSettings
) -> tuple[Reason | None, bool, bool]:
    """Rule 3: tension not (fully) talked through; whether it is severe, and a lot but partly."""
    tension_item = p.tension_item
    if not score.unresolved or tension_item is None or score.tension is None:
        return None, False, False
    repair_item = p.repair_item
    talked = score.talked_through
    partly = (
        repair_item is not None
        and p.full_repair is not None
        and talked is not None
        and 0 < talked < p.full_repair
    )
    a_lot = score.tension >= s.tension_a_lot
    severity = Severity.CONVERSATION if a_lot or not partly else Severity.WATCH
    tension_option = tension_item.option(score.tension)
    talked_option = repair_item.option(talked) if repair_item and talked is not None else None
    reason = Reason(
        "unresolved_tension",
        severity,
        domain=TENSION_DOMAIN,
        value=float(score.tension),
        tension=tension_option.code if tension_option else None,
        talked_through=talked_option.code if talked_option else None,
        since=record.session_end,
        checkin_id=record.checkin_id,
    )
    return reason, a_lot and not partly, a_lot and partly


def _disagreement_reason(p: _Prepared, record: CheckinRecord, s: StrainSettings) -> Reason | None:
    """Rule 7: the therapist's rating of the session far from the client's answers."""
    rating = record.therapist_rating
    if rating is None or not 1 <= rating <= 5:
        return None
    positions = []
    for rule in p.core_scales:
        value = record.answers.get(rule.item.id)
        if value is None:
            continue
        found = rule.positions.get(value)
        if found is not None:
            positions.append(found)
    if not positions:
        return None
    client = 1.0 + 4.0 * fmean(positions)
    gap = rating - client
    if abs(gap) < s.disagreement_gap - _EPSILON:
        return None
    return Reason(
        "disagreement",
        Severity.WATCH,
        value=client,
        scale_max=5,
        gap=gap,
        therapist_rating=rating,
        since=record.session_end,
        checkin_id=record.checkin_id,
    )


def _convergence_reason(
    reasons: Sequence[Reason],
    core_domains: Collection[str],
    record: CheckinRecord,
    s: StrainSettings,
) -> Reason | None:
    """Watch-level findings of one check-in pointing the same way, added up.

    Each core domain counts once however many rules it tripped; a decline once; a
    therapist rating clearly higher than the client once (the worrying direction).
    """
    domains = {
        r.domain
        for r in reasons
        if r.rule in ("below_baseline", "low_item") and r.domain in core_domains
    }
    rules = {r.rule for r in reasons}
    declining = "decline" in rules
    higher = any(r.rule == "disagreement" and (r.gap or 0.0) > 0 for r in reasons)
    points = len(domains) + int(declining) + int(higher)
    together = {"below_baseline", "decline", "low_item"} <= rules
    if points < s.convergence_points and not together:
        return None
    return Reason(
        "convergence",
        Severity.CONVERSATION,
        count=points,
        value=float(len(domains)),
        since=record.session_end,
        checkin_id=record.checkin_id,
    )


def _evaluate(
    p: _Prepared,
    record: CheckinRecord,
    score: CheckinScore,
    earlier: _Series,
    s: StrainSettings,
) -> _Evaluation:
    """Apply the per-check-in rules (1-5, 7) to one check-in given the ones before it."""
    usual: dict[str, _Usual] = {}
    for domain in p.by_domain:
        found_usual = _usual(earlier.domains.get(domain, ()), s)
        if found_usual is not None:
            usual[domain] = found_usual
    lowest_core = _lowest_answers(p.core_scales, record.answers)
    reasons, notes = _low_item_reasons(
        lowest_core, _lowest_answers(p.other_scales, record.answers), usual, record, s
    )
    reasons += _trend_reasons(p, record, score, usual, earlier, s)
    disagreement = _disagreement_reason(p, record, s)
    if disagreement is not None:
        reasons.append(disagreement)
    if not any(r.severity == Severity.CONVERSATION for r in reasons):
        convergence = _convergence_reason(reasons, p.by_domain.keys(), record, s)
        if convergence is not None:
            reasons.append(convergence)
    # A rupture by its scores alone (tension leaves the scores a fair baseline).
    # An early check-in's midpoint answer is a conversation by rule 4 but can be the
    # client's ordinary level; an answer below the midpoint is a rupture at any time.
    below_midpoint = any(value <= rule.low_conversation for rule, value in lowest_core.values())
    rupture = s.baseline_excludes_ruptures and (
        below_midpoint
        or any(r.severity == Severity.CONVERSATION and r.rule != "early_low" for r in reasons)
    )
    tension, severe_tension, a_lot_partly = _tension_reason(p, record, score, s)
    if tension is not None:
        reasons.append(tension)
    low_domains = sum(1 for rule, value in lowest_core.values() if value <= rule.severe_low)
    severe_low = low_domains >= s.severe_low_domains
    deep_drop = any(
        r.rule == "below_baseline" and r.severity == Severity.CONVERSATION for r in reasons
    )
    if s.severe_partly_with_deep_drop and a_lot_partly and deep_drop:
        severe_tension = True
    severity = max((r.severity for r in reasons), default=Severity.STEADY)
    return _Evaluation(
        record,
        score,
        tuple(reasons),
        severe_tension or severe_low,
        severity,
        severe_low=severe_low and not severe_tension,
        many_low=severe_low,
        low_count=low_domains,
        recovered=bool(lowest_core)
        and all(value > rule.low_watch for rule, value in lowest_core.values()),
        rupture=rupture,
        notes=tuple(notes),
    )


def _evaluate_all(
    instrument: Instrument, checkins: Iterable[CheckinRecord], s: StrainSettings
) -> list[_Evaluation]:
    """Judge every answered check-in of this instrument against the ones before it."""
    p = _prepare(instrument, s)
    evaluations: list[_Evaluation] = []
    earlier = _Series({}, [])
    for record in sorted(checkins, key=lambda c: c.sequence):
        if record.instrument_id != instrument.id:
            # Scores on another instrument are not comparable with this one's.
            continue
        score = score_checkin(instrument, record)
        if not score.scored and score.tension is None:
            continue
        evaluation = _persistence(_evaluate(p, record, score, earlier, s), evaluations, s)
        evaluations.append(evaluation)
        earlier.add(score, evaluation.rupture)
    return evaluations


def _lone_sign(evaluation: _Evaluation, s: StrainSettings) -> bool:
    """Whether a check-in's conversation-level findings are a lone sign that needs persisting.

    "A little" tension not talked through with no other finding in the check-in; with
    ``persistence_for_single_drop`` also a drop out of the usual range or an answer
    below the midpoint. Severe check-ins and early, declining, convergent or "a lot"
    findings stand on their own, and so does tension that comes with a dip.
    """
    if evaluation.severe or evaluation.severity < Severity.CONVERSATION:
        return False
    mild_tension = [
        r
        for r in evaluation.reasons
        if r.rule == "unresolved_tension" and (r.value or 0.0) < s.tension_a_lot
    ]
    if mild_tension and len(mild_tension) == len(evaluation.reasons):
        return True
    if not s.persistence_for_single_drop or mild_tension:
        return False
    return all(r.rule in ("below_baseline", "low_item") for r in evaluation.reasons)


def _persistence(
    evaluation: _Evaluation, before: Sequence[_Evaluation], s: StrainSettings
) -> _Evaluation:
    """A lone sign is a watch until another check-in of the persistence window was strained too."""
    raw = replace(evaluation, raw_reasons=evaluation.reasons, raw_severity=evaluation.severity)
    if not s.conversation_needs_persistence or not _lone_sign(evaluation, s):
        return raw
    memory = timedelta(days=s.strain_memory_days)
    end = evaluation.record.session_end
    if any(
        e.raw_severity > Severity.STEADY and end - e.record.session_end <= memory
        for e in before[-(s.persistence_window - 1) :]
    ):
        return raw
    held = tuple(replace(r, severity=min(r.severity, Severity.WATCH)) for r in evaluation.reasons)
    return replace(raw, reasons=held, severity=Severity.WATCH)


def _withdrawal_reasons(
    history: ClientHistory,
    checkins: Sequence[CheckinRecord],
    strained_last: bool,
    s: StrainSettings,
) -> list[Reason]:
    """Rule 6: unanswered check-ins in a row after answering before; pausing or leaving."""
    reasons = []
    # Pending check-ins are still open; an "expired" one without answers was never
    # put to the client (superseded or never sent), so it says nothing either way.
    closed = [
        c
        for c in sorted(checkins, key=lambda c: c.sequence)
        if c.status != "pending" and (c.status != "expired" or c.responded)
    ]
    streak = 0
    for record in reversed(closed):
        if not record.non_response:
            break
        streak += 1
    answered_before = any(c.responded for c in closed[: len(closed) - streak])
    escalate = s.withdrawal_after_strain_escalates and strained_last
    if answered_before and streak >= s.withdrawal_watch_unanswered:
        severity = (
            Severity.CONVERSATION
            if streak >= s.withdrawal_conversation_unanswered or escalate
            else Severity.WATCH
        )
        first = closed[len(closed) - streak]
        reasons.append(
            Reason(
                "withdrawal",
                severity,
                domain="withdrawal",
                value=float(streak),
                count=streak,
                status="unanswered",
                since=first.due_at,
                checkin_id=first.checkin_id,
            )
        )
    if history.status in AWAY_STATUSES:
        severity = Severity.CONVERSATION if escalate else Severity.WATCH
        reasons.append(
            Reason(
                "withdrawal",
                severity,
                domain="withdrawal",
                status=history.status,
                since=history.status_since,
            )
        )
    return reasons


def _merge(evaluations: Sequence[_Evaluation]) -> list[Reason]:
    """The findings of a run of strained check-ins: per rule and domain the weightiest, newest."""
    best: dict[tuple[str, str | None], Reason] = {}
    for evaluation in evaluations:
        for reason in evaluation.reasons:
            key = (reason.rule, reason.domain)
            if key not in best or reason.severity >= best[key].severity:
                best[key] = reason
    return list(best.values())


def _order(reason: Reason) -> tuple[int, int, int]:
    """Sort key: weightiest first, then by rule, then by domain importance."""
    rule = RULE_ORDER.index(reason.rule)
    domain = (
        DOMAIN_ORDER.index(reason.domain) if reason.domain in DOMAIN_ORDER else len(DOMAIN_ORDER)
    )
    return (-int(reason.severity), rule, domain)


def _dipped(reasons: Sequence[Reason]) -> tuple[str, ...]:
    """What dipped, most important first: domains, an unresolved tension, withdrawal."""
    ranked = sorted(
        (r for r in reasons if r.domain is not None and r.rule != "disagreement"),
        key=lambda r: (
            -int(r.severity),
            DOMAIN_ORDER.index(r.domain) if r.domain in DOMAIN_ORDER else len(DOMAIN_ORDER),
        ),
    )
    seen: dict[str, None] = {}
    for reason in ranked:
        assert reason.domain is not None
        seen.setdefault(reason.domain, None)
    return tuple(seen)


def _talked_through(instrument: Instrument, evaluation: _Evaluation) -> Reason:
    """Good news: tension in the session, and the client says it was talked through."""
    tension_item = first_item(instrument, TENSION_DOMAIN)
    repair_item = first_item(instrument, REPAIR_DOMAIN)
    score = evaluation.score
    tension = tension_item.option(score.tension or 0) if tension_item else None
    talked = repair_item.option(score.talked_through or 0) if repair_item else None
    return Reason(
        "talked_through",
        Severity.STEADY,
        domain=TENSION_DOMAIN,
        value=float(score.tension or 0),
        tension=tension.code if tension else None,
        talked_through=talked.code if talked else None,
        since=evaluation.record.session_end,
        checkin_id=evaluation.record.checkin_id,
    )


def _open_tensions(evaluations: Sequence[_Evaluation]) -> list[_Evaluation]:
    """Check-ins with unresolved tension not followed by a confirmed repair, oldest first.

    Repair is confirmed, not inferred: only a later check-in saying a tension was
    talked through closes the earlier ones; a quiet week does not.
    """
    found: list[_Evaluation] = []
    for evaluation in evaluations:
        if evaluation.score.repaired:
            found.clear()
        elif any(r.rule == "unresolved_tension" for r in evaluation.reasons):
            found.append(evaluation)
    return found


def _tension_reasons(
    evaluations: Sequence[_Evaluation],
    run: Sequence[_Evaluation],
    memory_start: datetime,
    s: StrainSettings,
) -> list[Reason]:
    """Unresolved tension beyond the strained run: recurring, or still open (watch)."""
    window = evaluations[-s.recurring_tension_window :]
    still_open = _open_tensions(window)
    if not still_open or still_open[-1].record.session_end < memory_start:
        return []
    newest = next(r for r in still_open[-1].reasons if r.rule == "unresolved_tension")
    if len(still_open) >= s.recurring_tension_reports:
        return [
            replace(
                newest,
                rule="recurring_tension",
                severity=Severity.CONVERSATION,
                count=len(still_open),
                window=len(window),
                since=still_open[0].record.session_end,
            )
        ]
    if still_open[-1] in run:
        return []  # the run reports it at its own weight
    # Quiet since, but nobody said it was talked through: kept in mind, not repaired.
    return [replace(newest, severity=Severity.WATCH)]


def _chronic_reason(
    p: _Prepared, evaluations: Sequence[_Evaluation], memory_start: datetime, s: StrainSettings
) -> Reason | None:
    """Chronic weakness: the core mean at or below the midpoint several check-ins in a row."""
    if p.overall is None:
        return None
    streak: list[_Evaluation] = []
    for evaluation in reversed(evaluations):
        overall = evaluation.score.overall
        if overall is None:
            continue  # tension answered alone: says nothing about the level
        if overall > p.overall.chronic:
            break
        streak.insert(0, evaluation)
    if len(streak) < s.chronic_checkins or streak[-1].record.session_end < memory_start:
        return None
    return Reason(
        "chronic_low",
        Severity.CONVERSATION,
        value=fmean(e.score.overall or 0.0 for e in streak),
        scale_max=p.overall.item.scale_max,
        count=len(streak),
        since=streak[0].record.session_end,
        checkin_id=streak[-1].record.checkin_id,
    )


def _alert_due(evaluations: Sequence[_Evaluation], s: StrainSettings) -> bool:
    """Whether the newest judged check-in is severe *news*.

    Several core domains low is news unless it was shown before since the client last
    recovered (every core answer above the midpoint), and the client is not worse now
    (more domains low than at any point since): a client who stays low gets one alert,
    not one a week. Tension is news unless an earlier alert about tension is still
    open (nothing talked through since) within the strain memory.
    """
    if not evaluations or not evaluations[-1].severe:
        return False
    last = evaluations[-1]
    if last.severe_low:
        worst_since = 0
        for earlier in reversed(evaluations[:-1]):
            if earlier.recovered:
                break
            if earlier.many_low:
                worst_since = max(worst_since, earlier.low_count)
        return last.low_count > worst_since
    memory = timedelta(days=s.strain_memory_days)
    for earlier in reversed(evaluations[:-1]):
        if earlier.score.repaired or last.record.session_end - earlier.record.session_end > memory:
            return True
        if earlier.severe and not earlier.severe_low:
            return False
    return True


def assess_strain(
    history: ClientHistory,
    instrument: Instrument,
    now: datetime,
    settings: StrainSettings = DEFAULT_SETTINGS,
) -> StrainAssessment:
    """Decide how much a client's recent check-ins call for a relationship conversation."""
    s = settings
    checkins = [c for c in history.checkins if c.session_end <= now]
    evaluations = _evaluate_all(instrument, checkins, s)
    memory_start = now - timedelta(days=s.strain_memory_days)
    recent = [e for e in evaluations if e.record.session_end >= memory_start]

    run: list[_Evaluation] = []
    for evaluation in reversed(recent):
        if evaluation.severity == Severity.STEADY:
            break
        run.insert(0, evaluation)
    last = recent[-1] if recent else None
    tension = _tension_reasons(evaluations, run, memory_start, s)
    chronic = _chronic_reason(_prepare(instrument, s), evaluations, memory_start, s)
    reasons = _merge(run) + tension
    if any(r.rule == "recurring_tension" for r in tension):
        # The recurring line names the newest report; one line says it.
        reasons = [r for r in reasons if r.rule != "unresolved_tension"]
    if chronic is not None:
        reasons.append(chronic)
    strained_last = last is not None and (last.severity > Severity.STEADY or bool(tension))
    reasons += _withdrawal_reasons(history, checkins, strained_last, s)
    reasons.sort(key=_order)

    repaired_reasons: list[Reason] = []
    lookback_start = now - timedelta(days=s.repair_lookback_days)
    if last is not None and last.severity == Severity.STEADY and not tension and not chronic:
        eased = [
            e
            for e in recent[:-1]
            if e.raw_severity == Severity.CONVERSATION and e.record.session_end >= lookback_start
        ]
        if eased:
            repaired_reasons += sorted(
                (r for r in eased[-1].raw_reasons if r.severity == Severity.CONVERSATION),
                key=_order,
            )
    if last is not None and last.score.repaired and last.record.session_end >= lookback_start:
        repaired_reasons.append(_talked_through(instrument, last))

    # Since when: the start of the strained run, not its newest finding.
    starts = [r.since for r in reasons if r.since is not None]
    if run:
        starts.append(run[0].record.session_end)
    return StrainAssessment(
        severity=max((r.severity for r in reasons), default=Severity.STEADY),
        reasons=tuple(reasons),
        dipped=_dipped(reasons),
        since=min(starts) if starts else None,
        repaired=bool(repaired_reasons),
        severe=last is not None and _alert_due(evaluations[: evaluations.index(last) + 1], s),
        latest=evaluations[-1].score if evaluations else None,
        no_data=not any(c.responded for c in checkins),
        repaired_reasons=tuple(repaired_reasons),
        latest_at=evaluations[-1].record.session_end if evaluations else None,
        strained_checkins=tuple(
            e.record.checkin_id for e in evaluations if e.severity > Severity.STEADY
        ),
        usual_notes=last.notes if last is not None and last is evaluations[-1] else (),
    )


def assess_checkin_alert(
    history: ClientHistory,
    instrument: Instrument,
    settings: StrainSettings = DEFAULT_SETTINGS,
    *,
    settled: bool = False,
) -> bool:
    """Whether the client's newest check-in, now finished, is severe news for an immediate alert.

    A check-in still open (``pending``) is not judged: the alert waits until it is
    completed or closed, so it rests on every answer and carries the client's note —
    or, with ``settled``, until the client has left it for the grace period, when the
    answers given are judged as if it had closed.
    """
    if not history.checkins:
        return False
    newest = max(history.checkins, key=lambda c: c.sequence)
    checkins: Sequence[CheckinRecord] = history.checkins
    if newest.status == "pending":
        if not settled:
            return False
        newest = replace(newest, status="partial")
        checkins = [newest if c.sequence == newest.sequence else c for c in checkins]
    evaluations = _evaluate_all(instrument, checkins, settings)
    return (
        bool(evaluations) and evaluations[-1].record is newest and _alert_due(evaluations, settings)
    )


def could_be_severe(
    instrument: Instrument,
    answers: Mapping[str, int | None],
    at: datetime,
    settings: StrainSettings = DEFAULT_SETTINGS,
) -> bool:
    """Whether these answers could make a check-in severe, whatever came before.

    A necessary condition of ``assess_checkin_alert`` read from the answers alone, so
    the full judgement (which needs the client's history) runs only when it could alert:
    a lot of tension not fully talked through, or several core domains low at once.
    """
    record = CheckinRecord(
        checkin_id=0,
        sequence=1,
        session_end=at,
        due_at=at,
        status="completed",
        answers=answers,
        has_comment=False,
        instrument_id=instrument.id,
    )
    p = _prepare(instrument, settings)
    evaluation = _evaluate(p, record, score_checkin(instrument, record), _Series({}, []), settings)
    tension = next((r for r in evaluation.reasons if r.rule == "unresolved_tension"), None)
    a_lot = tension is not None and (tension.value or 0.0) >= settings.tension_a_lot
    return evaluation.severe or (a_lot and settings.severe_partly_with_deep_drop)


def checkin_severities(
    history: ClientHistory, instrument: Instrument, settings: StrainSettings = DEFAULT_SETTINGS
) -> dict[int, Severity]:
    """What each answered check-in showed by itself, against the ones before it (rules 1-5, 7).

    Withdrawal (rule 6) belongs to the client, not to one check-in, so it is not included.
    """
    return {
        e.record.checkin_id: e.severity
        for e in _evaluate_all(instrument, history.checkins, settings)
    }
