"""How good the strain rules' flags are on a simulated caseload whose truth is known.

Two steps. ``trace_caseload`` runs the rules (only their public functions,
``assess_strain`` and ``assess_checkin_alert``) as the bot would: a digest every
Monday on what was known then, and the immediate-alert judgement on each answered
check-in once it has closed. ``judge`` then compares that trace with the events the
simulation recorded (``bot.offline.caseload``) and counts: burden, precision and
recall of "consider a relationship conversation", time to detection per kind of
event, event-free clients flagged, runs of the same flag, and alerts repeated
without new information. The definitions are in docs/clinical.md. Pure: no clock.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.instrument import Instrument
from bot.core.scoring import CheckinRecord
from bot.core.strain import (
    DEFAULT_SETTINGS,
    ClientHistory,
    Severity,
    StrainSettings,
    assess_checkin_alert,
    assess_strain,
)
from bot.offline.caseload import (
    CHECKIN_OPEN,
    CORE_ITEMS,
    SimulatedClient,
    SimulatedEvent,
    history_as_of,
)

# A flag this soon after an event's last session still refers to it: a strain is
# carried until a steady check-in follows, and sessions are weekly.
RELEVANCE = timedelta(days=14)
# Reported tension is carried this long when precision counts it as real (the rules
# carry a strain for up to four weeks).
TENSION_MEMORY = timedelta(days=28)


@dataclass(frozen=True)
class ClientTrace:
    """What the rules said about one client: a severity per digest, and the alerts."""

    client_id: int
    severities: tuple[Severity | None, ...]  # None: not enrolled yet at that digest
    alerts: tuple[int, ...] = ()  # check-in ids that raised an immediate alert
    conversation_rules: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # Digests in which each rule gave the client's flag (watch or conversation).
    flag_rules: Mapping[str, int] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Detection:
    """How one simulated event was found."""

    kind: str
    timed: bool  # began inside the simulated weeks, so the time to find it counts
    knowable: bool  # the rules had something to see by some digest (an answer, a miss)
    first_watch: bool  # watch or above in the first digest that could know
    first_conversation: bool
    conversation: bool  # at conversation in some digest while the event was relevant
    days_to_watch: float | None
    days_to_conversation: float | None


@dataclass(frozen=True)
class Quality:
    """The counts behind every figure of the bench; add caseloads with ``merge``."""

    client_weeks: int = 0
    watch_weeks: int = 0
    conversation_weeks: int = 0
    conversation_in_event: int = 0
    # Outside any event, but the client had reported tension not (fully) talked through.
    conversation_on_tension: int = 0
    digests: int = 0
    alerts: int = 0
    alerts_in_event: int = 0
    alerts_repeated: int = 0
    event_free: int = 0
    event_free_flagged: int = 0
    event_free_conversation: int = 0
    longest_run: int = 0
    longest_run_event_free: int = 0
    detections: tuple[Detection, ...] = ()
    conversation_rules: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # Event-free clients per response style, and how many of them were flagged.
    event_free_styles: Mapping[str, int] = dataclasses.field(default_factory=dict)
    event_free_flagged_styles: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # What flagged event-free clients: digests per rule, and flagged digests in all.
    event_free_rules: Mapping[str, int] = dataclasses.field(default_factory=dict)
    event_free_flagged_weeks: int = 0

    @property
    def watch_share(self) -> float:
        """Share of enrolled clients per weekly digest at watch."""
        return self.watch_weeks / self.client_weeks if self.client_weeks else 0.0

    @property
    def conversation_share(self) -> float:
        """Share of enrolled clients per weekly digest at conversation."""
        return self.conversation_weeks / self.client_weeks if self.client_weeks else 0.0

    @property
    def precision(self) -> float:
        """Of the clients put at conversation in a digest, the share with a real event then."""
        return (
            self.conversation_in_event / self.conversation_weeks if self.conversation_weeks else 0.0
        )

    @property
    def precision_with_tension(self) -> float:
        """Precision if reported tension left not (fully) talked through counts as real too."""
        right = self.conversation_in_event + self.conversation_on_tension
        return right / self.conversation_weeks if self.conversation_weeks else 0.0

    @property
    def alerts_per_week(self) -> float:
        """Immediate alerts per caseload-week."""
        return self.alerts / self.digests if self.digests else 0.0

    @property
    def event_free_flagged_share(self) -> float:
        """Share of event-free clients flagged (watch or above) at least once."""
        return self.event_free_flagged / self.event_free if self.event_free else 0.0

    @property
    def event_free_conversation_share(self) -> float:
        """Share of event-free clients put at conversation at least once."""
        return self.event_free_conversation / self.event_free if self.event_free else 0.0

    def recall(self, kinds: Iterable[str] | None = None) -> float:
        """Share of events (of these kinds) put at conversation while they were relevant."""
        chosen = self._of(kinds)
        return sum(d.conversation for d in chosen) / len(chosen) if chosen else 0.0

    def first_digest(self, kinds: Iterable[str] | None = None, *, conversation: bool) -> float:
        """Share of timed, knowable events flagged in the first digest that could know."""
        chosen = [d for d in self._of(kinds) if d.timed and d.knowable]
        if not chosen:
            return 0.0
        hits = sum(d.first_conversation if conversation else d.first_watch for d in chosen)
        return hits / len(chosen)

    def _of(self, kinds: Iterable[str] | None) -> list[Detection]:
        """The detections of these kinds (all when None)."""
        wanted = None if kinds is None else set(kinds)
        return [d for d in self.detections if wanted is None or d.kind in wanted]


_COUNTERS = (
    "conversation_rules",
    "event_free_styles",
    "event_free_flagged_styles",
    "event_free_rules",
)
_MAXIMA = ("longest_run", "longest_run_event_free")


def merge(parts: Iterable[Quality]) -> Quality:
    """Add up the counts of several caseloads (runs: the longest)."""
    total = Quality()
    for part in parts:
        added = {
            f.name: getattr(total, f.name) + getattr(part, f.name)
            for f in dataclasses.fields(Quality)
            if f.name not in _COUNTERS + _MAXIMA
        }
        longest = {name: max(getattr(total, name), getattr(part, name)) for name in _MAXIMA}
        counted = {
            name: dict(Counter(getattr(total, name)) + Counter(getattr(part, name)))
            for name in _COUNTERS
        }
        fields: dict[str, Any] = {**added, **longest, **counted}
        total = Quality(**fields)
    return total


def _closed_view(client: SimulatedClient, record: CheckinRecord) -> ClientHistory:
    """The client's history when this check-in closed, this check-in the newest."""
    view = history_as_of(client, record.due_at + CHECKIN_OPEN)
    kept = tuple(c for c in view.checkins if c.sequence <= record.sequence)
    return dataclasses.replace(view, checkins=kept)


def trace_caseload(
    caseload: Sequence[SimulatedClient],
    instrument: Instrument,
    digests: Sequence[datetime],
    settings: StrainSettings = DEFAULT_SETTINGS,
) -> list[ClientTrace]:
    """Run the rules on every client at every digest, and on every answered check-in."""
    traces = []
    since = digests[0] - timedelta(weeks=1) if digests else None
    for client in caseload:
        severities: list[Severity | None] = []
        rules: Counter[str] = Counter()
        flags: Counter[str] = Counter()
        for moment in digests:
            if client.history.enrolled_at > moment:
                severities.append(None)
                continue
            assessment = assess_strain(history_as_of(client, moment), instrument, moment, settings)
            severities.append(assessment.severity)
            flags.update({r.rule for r in assessment.reasons if r.severity == assessment.severity})
            if assessment.severity == Severity.CONVERSATION:
                rules.update(
                    {r.rule for r in assessment.reasons if r.severity == Severity.CONVERSATION}
                )
        alerts = tuple(
            record.checkin_id
            for record in client.history.checkins
            if record.responded
            and since is not None
            and since < record.session_end <= digests[-1]
            and assess_checkin_alert(_closed_view(client, record), instrument, settings)
        )
        traces.append(
            ClientTrace(
                client.history.client_id, tuple(severities), alerts, dict(rules), dict(flags)
            )
        )
    return traces


def _open_tension(client: SimulatedClient, moment: datetime) -> bool:
    """Whether the client reported tension not (fully) talked through in the four weeks before."""
    return any(
        moment - TENSION_MEMORY < c.session_end <= moment
        and (c.answers.get("tension") or 0) > 0
        and c.answers.get("talked_through") != 2
        for c in client.history.checkins
    )


def _relevant(event: SimulatedEvent, moment: datetime) -> bool:
    """Whether a flag at `moment` refers to this event."""
    return event.start <= moment <= event.end + RELEVANCE


def _knowable_from(client: SimulatedClient, event: SimulatedEvent) -> datetime | None:
    """When the rules could first see the event: its first answer, or its start for a withdrawal."""
    if event.kind == "withdrawal":
        return event.start
    answered = [
        c.session_end
        for c in client.history.checkins
        if c.responded and event.start <= c.session_end <= event.end
    ]
    return min(answered) if answered else None


def _detect(
    client: SimulatedClient,
    trace: ClientTrace,
    event: SimulatedEvent,
    digests: Sequence[datetime],
) -> Detection:
    """How the rules' digests met one event."""
    timed = bool(digests) and event.start >= digests[0] - timedelta(weeks=1)
    relevant = [
        (moment, severity)
        for moment, severity in zip(digests, trace.severities, strict=True)
        if severity is not None and _relevant(event, moment)
    ]
    watch = [m for m, s in relevant if s >= Severity.WATCH]
    talk = [m for m, s in relevant if s >= Severity.CONVERSATION]
    knowable = _knowable_from(client, event)
    first = next(
        (
            (moment, severity)
            for moment, severity in zip(digests, trace.severities, strict=True)
            if knowable is not None and moment >= knowable and severity is not None
        ),
        None,
    )
    return Detection(
        kind=event.kind,
        timed=timed,
        knowable=first is not None,
        first_watch=first is not None and first[1] >= Severity.WATCH,
        first_conversation=first is not None and first[1] >= Severity.CONVERSATION,
        conversation=bool(talk),
        days_to_watch=(watch[0] - event.start).total_seconds() / 86400 if watch else None,
        days_to_conversation=(talk[0] - event.start).total_seconds() / 86400 if talk else None,
    )


def _longest_run(severities: Sequence[Severity | None]) -> int:
    """The longest run of digests in a row with the same flag (watch or conversation)."""
    longest = run = 0
    previous: Severity | None = None
    for severity in severities:
        flagged = severity is not None and severity > Severity.STEADY
        run = run + 1 if flagged and severity == previous else (1 if flagged else 0)
        previous = severity if flagged else None
        longest = max(longest, run)
    return longest


def _worse(new: CheckinRecord, old: CheckinRecord) -> bool:
    """Whether a check-in tells more than an earlier alerted one: a lower answer, a new tension."""
    for item in CORE_ITEMS:
        now, then = new.answers.get(item), old.answers.get(item)
        if now is not None and (then is None or now < then):
            return True
    tension = new.answers.get("tension") or 0
    # A moment of tension not (fully) talked through is a new moment, whatever came before.
    return tension > 0 and new.answers.get("talked_through") != 2


def _recovered(record: CheckinRecord) -> bool:
    """Whether a check-in has every core answer above the midpoint of the 1-5 scale."""
    core = [record.answers.get(item) for item in CORE_ITEMS]
    answered = [v for v in core if v is not None]
    return bool(answered) and all(v > 3 for v in answered)


def _repeated_alerts(client: SimulatedClient, alerts: Sequence[int]) -> int:
    """Alerts that add nothing to the client's previous alert.

    Something is new when the check-in is worse than the one alerted on before, when a
    simulated event began in between, or when the client recovered in between (every
    core answer above the midpoint) and has now fallen again.
    """
    checkins = sorted(client.history.checkins, key=lambda c: c.sequence)
    by_id = {c.checkin_id: c for c in checkins}
    ordered = sorted((by_id[a] for a in alerts if a in by_id), key=lambda c: c.sequence)
    repeated = 0
    for before, after in zip(ordered, ordered[1:], strict=False):
        new_event = any(before.session_end < e.start <= after.session_end for e in client.events)
        between = [c for c in checkins if before.sequence < c.sequence < after.sequence]
        recovered = any(_recovered(c) for c in between)
        if not (new_event or recovered or _worse(after, before)):
            repeated += 1
    return repeated


def judge(
    caseload: Sequence[SimulatedClient], traces: Sequence[ClientTrace], digests: Sequence[datetime]
) -> Quality:
    """Compare the rules' trace on one caseload with what really happened."""
    counts: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    free_styles: Counter[str] = Counter()
    flagged_styles: Counter[str] = Counter()
    free_rules: Counter[str] = Counter()
    detections: list[Detection] = []
    longest = longest_free = 0
    by_id = {c.history.client_id: c for c in caseload}
    for trace in traces:
        client = by_id[trace.client_id]
        rules.update(trace.conversation_rules)
        flagged = talked = False
        for moment, severity in zip(digests, trace.severities, strict=True):
            if severity is None:
                continue
            counts["client_weeks"] += 1
            counts["watch_weeks"] += severity == Severity.WATCH
            if severity == Severity.CONVERSATION:
                counts["conversation_weeks"] += 1
                in_event = any(_relevant(e, moment) for e in client.events)
                counts["conversation_in_event"] += in_event
                counts["conversation_on_tension"] += not in_event and _open_tension(client, moment)
            flagged |= severity >= Severity.WATCH
            talked |= severity >= Severity.CONVERSATION
        run = _longest_run(trace.severities)
        longest = max(longest, run)
        checkins = {c.checkin_id: c for c in client.history.checkins}
        counts["alerts"] += len(trace.alerts)
        counts["alerts_in_event"] += sum(
            any(_relevant(e, checkins[a].session_end) for e in client.events)
            for a in trace.alerts
            if a in checkins
        )
        counts["alerts_repeated"] += _repeated_alerts(client, trace.alerts)
        if client.event_free:
            counts["event_free"] += 1
            counts["event_free_flagged"] += flagged
            counts["event_free_conversation"] += talked
            free_styles[client.style] += 1
            free_rules.update(trace.flag_rules)
            counts["event_free_flagged_weeks"] += sum(
                s is not None and s > Severity.STEADY for s in trace.severities
            )
            flagged_styles[client.style] += flagged
            longest_free = max(longest_free, run)
        detections += [_detect(client, trace, e, digests) for e in client.events]
    return Quality(
        client_weeks=counts["client_weeks"],
        watch_weeks=counts["watch_weeks"],
        conversation_weeks=counts["conversation_weeks"],
        conversation_in_event=counts["conversation_in_event"],
        conversation_on_tension=counts["conversation_on_tension"],
        alerts=counts["alerts"],
        alerts_in_event=counts["alerts_in_event"],
        alerts_repeated=counts["alerts_repeated"],
        event_free=counts["event_free"],
        event_free_flagged=counts["event_free_flagged"],
        event_free_conversation=counts["event_free_conversation"],
        digests=len(digests),
        longest_run=longest,
        longest_run_event_free=longest_free,
        detections=tuple(detections),
        conversation_rules=dict(rules),
        event_free_styles=dict(free_styles),
        event_free_flagged_styles=dict(flagged_styles),
        event_free_rules=dict(free_rules),
        event_free_flagged_weeks=counts["event_free_flagged_weeks"],
    )


def median(values: Sequence[float]) -> float | None:
    """The middle value, None for none."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
