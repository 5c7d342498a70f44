"""A simulated caseload that knows the truth: check-in histories plus what really happened.

Seeded and pure: the same seed and configuration give the same clients. Each
client has a response style, a tendency to report tension and a tendency to answer;
some go through events (a rupture, a slow decline, a withdrawal, dropping out, a
chronically weak alliance) whose start and end the simulation records, so a rule
set can be judged on whether it finds them and on how often it flags clients who
had none (``bot.offline.flag_quality``). The rates and their sources are listed in
docs/clinical.md ("The simulated caseload"); they are assumptions for a plausible
caseload built from published figures, not estimates from real data.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import exp
from typing import Literal

from bot.core.scoring import CheckinRecord, CheckinStatus
from bot.core.strain import ClientHistory, ClientStatus

SIMULATION_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
CORE_ITEMS = ("bond", "goals", "tasks", "openness")
CHECKIN_DELAY = timedelta(hours=1)
# A check-in closes three days after it is due (the bot's default expiry).
CHECKIN_OPEN = timedelta(hours=72)
QUARTER_WEEKS = 13

EventKind = Literal["rupture", "large_rupture", "decline", "withdrawal", "chronic_low"]
EVENT_KINDS: tuple[EventKind, ...] = (
    "rupture",
    "large_rupture",
    "decline",
    "withdrawal",
    "chronic_low",
)
StyleName = Literal["straight", "ordinary", "noisy", "midpoint"]


@dataclass(frozen=True)
class ResponseStyle:
    """How a kind of person uses a 1-5 scale, whatever their alliance."""

    name: StyleName
    share: float  # of clients
    level: float  # usual latent alliance on 1-5 once therapy is under way
    level_sd: float  # spread of that level between clients of this style
    session_sd: float  # how much whole sessions vary
    item_sd: float  # how much single answers vary around the session
    straight: float  # chance a check-in gives one answer to every item
    compress: float  # 1 uses the whole scale; below 1 pulls answers to the midpoint


# Straight-liners give one answer to every item, nearly always the top one: in large
# alliance data sets about half of all ratings are perfect scores (ACORN; Meier &
# Feeley: 54 % of clients). Noisy users swing between 3 and 5; midpoint users avoid
# the ends of the scale, so a good alliance shows as 4s with some 3s.
STYLES: tuple[ResponseStyle, ...] = (
    ResponseStyle("straight", 0.52, 5.0, 0.08, 0.15, 0.2, 0.92, 1.0),
    ResponseStyle("ordinary", 0.28, 4.6, 0.2, 0.3, 0.45, 0.1, 1.0),
    ResponseStyle("noisy", 0.11, 4.3, 0.2, 0.45, 0.8, 0.0, 1.0),
    ResponseStyle("midpoint", 0.09, 4.5, 0.2, 0.25, 0.4, 0.1, 0.45),
)


@dataclass(frozen=True)
class SimulationConfig:
    """The rates a caseload is drawn with; docs/clinical.md gives the source of each."""

    tension_rate: float = 0.20  # sessions with tension reported (19-42 %, Eubanks et al. 2018)
    compliance: float = 0.79  # check-ins answered (EMA meta-analysis, Wrzus & Neubauer 2023)
    dropout: float = 0.20  # clients who drop out (about 1 in 5, Swift & Greenberg 2012)
    silent_dropout: float = 0.5  # of dropouts: stop answering rather than leave the bot
    rupture_clients: float = 0.5  # clients with a modest rupture in the quarter
    large_rupture_clients: float = 0.05  # clients with a large, unresolved one
    decline_clients: float = 0.06  # clients whose alliance slowly declines
    withdrawal_clients: float = 0.05  # clients who go quiet for a while and come back
    chronic_low_clients: float = 0.04  # clients whose alliance stays weak
    new_clients: float = 0.25  # clients who start during the simulated weeks
    missed_session: float = 0.08  # weeks without a session (holidays, cancellations)
    partial: float = 0.05  # answered check-ins left unfinished
    therapist_rates: float = 0.4  # clients whose therapist also rates each session
    early_deficit: float = 0.45  # how much lower the first session sits than later ones


DEFAULT_CONFIG = SimulationConfig()


@dataclass(frozen=True)
class SimulatedEvent:
    """Something that really happened to the alliance, from its first to its last session."""

    kind: EventKind
    start: datetime
    end: datetime
    depth: float  # how far the latent alliance fell, in points on 1-5


@dataclass(frozen=True)
class SimulatedClient:
    """A client's whole simulated history, how their status changed, and the truth."""

    history: ClientHistory
    style: StyleName
    status_changes: tuple[tuple[datetime, ClientStatus], ...]
    events: tuple[SimulatedEvent, ...] = ()
    dropped_out: bool = False

    @property
    def event_free(self) -> bool:
        """Whether nothing at all happened to this client's alliance."""
        return not self.events


@dataclass
class _Plan:
    """Per session index: how far the alliance is pushed down and what else is going on."""

    offset: dict[int, float] = dataclasses.field(default_factory=dict)
    rupture: dict[int, tuple[EventKind, bool]] = dataclasses.field(default_factory=dict)
    quiet: dict[int, float] = dataclasses.field(default_factory=dict)  # answer chance cap
    spans: list[tuple[EventKind, int, int, float]] = dataclasses.field(default_factory=list)
    last_session: int | None = None  # index of the last session held (dropout)
    leaves: ClientStatus | None = None  # status taken on dropping out, None if silent
    silent_from: int | None = None  # from here on check-ins go unanswered
    dropout_start: int | None = None  # first session of fading interest before dropout

    def push(self, index: int, amount: float) -> None:
        """Lower the latent alliance of one session."""
        self.offset[index] = self.offset.get(index, 0.0) + amount


def _clamp(value: float, low: int = 1, high: int = 5) -> int:
    """Round to an answer on the scale."""
    return max(low, min(high, round(value)))


def _beta(rng: random.Random, mean: float, concentration: float) -> float:
    """A person-level rate drawn around `mean` (larger concentration, less spread)."""
    mean = min(max(mean, 0.005), 0.995)
    return rng.betavariate(mean * concentration, (1 - mean) * concentration)


def _plan_events(
    rng: random.Random, config: SimulationConfig, window: Sequence[int], chronic: bool
) -> _Plan:
    """Choose this client's events among the sessions in the simulated weeks."""
    plan = _Plan()
    if not window:
        return plan
    last = window[-1]
    if rng.random() < config.rupture_clients:
        # Mostly modest and short: 0.5-1.5 points, over within two sessions.
        start = rng.choice(window)
        length = rng.choices((1, 2, 3), weights=(0.55, 0.3, 0.15))[0]
        depth = rng.uniform(0.5, 1.5)
        end = min(start + length - 1, last)
        for index in range(start, end + 1):
            plan.push(index, -depth if index == start else -depth * 0.6)
            plan.rupture[index] = ("rupture", index == end)
        plan.spans.append(("rupture", start, end, depth))
    large = rng.random() < config.large_rupture_clients
    if large:
        start = rng.choice(window)
        depth = rng.uniform(1.5, 2.5)
        end = min(start + rng.randint(3, 6) - 1, last)
        for index in range(start, end + 1):
            plan.push(index, -depth)
            plan.rupture[index] = ("large_rupture", False)
        plan.spans.append(("large_rupture", start, end, depth))
    declining = rng.random() < config.decline_clients
    if declining:
        start = rng.choice(window[: max(1, len(window) - 3)])
        rate, steps = rng.uniform(0.15, 0.3), rng.randint(4, 8)
        for index in range(start, last + 1):
            plan.push(index, -rate * min(index - start + 1, steps))
        plan.spans.append(("decline", start, last, rate * steps))
    if rng.random() < config.withdrawal_clients:
        start = rng.choice(window)
        end = min(start + rng.randint(2, 4) - 1, last)
        for index in range(start, end + 1):
            plan.quiet[index] = 0.1
        plan.spans.append(("withdrawal", start, end, 0.0))
    _plan_dropout(rng, config, window, plan, large or chronic, declining)
    return plan


def _plan_dropout(
    rng: random.Random,
    config: SimulationConfig,
    window: Sequence[int],
    plan: _Plan,
    high_risk: bool,
    declining: bool,
) -> None:
    """Whether and how the client drops out; weak or ruptured alliances raise the hazard."""
    # Base chance chosen so that about config.dropout of all clients drop out
    # (a weak alliance predicts dropout, Sharf et al. 2010).
    base = max(0.0, config.dropout - 0.045)
    chance = base + (0.45 if high_risk else 0.0) + (0.25 if declining else 0.0)
    if len(window) < 2 or rng.random() >= chance:
        return
    rupture_spans = [s for s in plan.spans if s[0] in ("large_rupture", "decline")]
    if rupture_spans:
        anchor = rupture_spans[0][1]
        options = [i for i in window if anchor + 1 <= i <= anchor + 3] or [window[-1]]
    else:
        options = list(window[1:])
    leave = rng.choice(options)
    fading = rng.choice((0, 1, 1, 2))  # sessions of fading interest before leaving
    start = max(window[0], leave - fading)
    for index in range(start, leave):
        plan.quiet[index] = 0.25
        plan.push(index, -0.3)
    if rng.random() < config.silent_dropout:
        # Sessions stay booked for a while; the check-ins go unanswered.
        plan.silent_from = leave
        plan.last_session = leave + rng.randint(1, 3)
    else:
        plan.leaves = rng.choice(("paused", "stopped", "stopped", "unreachable"))
        plan.last_session = leave - 1
    plan.dropout_start = start


def _answers(
    rng: random.Random,
    style: ResponseStyle,
    latent: float,
    sequence: int,
    support: float,
    tension: tuple[int, int | None],
) -> dict[str, int | None]:
    """One session's answers for a client whose alliance sits at `latent` today."""
    shown = 3.0 + (latent - 3.0) * style.compress
    if rng.random() < style.straight:
        one = _clamp(shown + rng.gauss(0, 0.15))
        answers: dict[str, int | None] = dict.fromkeys(CORE_ITEMS, one)
    else:
        answers = {item: _clamp(shown + rng.gauss(0, style.item_sd)) for item in CORE_ITEMS}
    answers["tension"] = tension[0]
    if tension[0]:
        answers["talked_through"] = tension[1]
    if sequence % 4 == 0:
        answers["support"] = _clamp(support + rng.gauss(0, 0.4))
    return answers


def _tension(
    rng: random.Random, propensity: float, rupture: tuple[EventKind, bool] | None, depth: float
) -> tuple[int, int | None]:
    """Tension reported in one session (0 none, 1 a little, 2 a lot) and whether talked through."""
    if rupture is None:
        if rng.random() >= propensity:
            return 0, None
        # Everyday tension: mostly a little, mostly talked through in the session.
        amount = 2 if rng.random() < 0.12 else 1
        return amount, rng.choices((2, 1, 0), weights=(0.6, 0.3, 0.1))[0]
    kind, resolving = rupture
    if rng.random() >= max(propensity, 0.6 if kind == "rupture" else 0.85):
        return 0, None  # clients report fewer ruptures than observers see
    a_lot = 0.2 + 0.3 * max(0.0, depth - 0.5) if kind == "rupture" else 0.7
    amount = 2 if rng.random() < a_lot else 1
    if kind == "large_rupture":
        weights = (0.05, 0.35, 0.6)
    elif resolving:
        weights = (0.6, 0.3, 0.1)
    else:
        weights = (0.2, 0.4, 0.4)
    return amount, rng.choices((2, 1, 0), weights=weights)[0]


def _background_tension(config: SimulationConfig) -> float:
    """Everyday tension rate that, with the ruptures' own tension, gives config.tension_rate."""
    # About 2 points of the session rate come from ruptures (measured on the defaults).
    return max(0.005, config.tension_rate - 0.02)


def _client(seed: int, client_id: int, weeks: int, config: SimulationConfig) -> SimulatedClient:
    """One client: style, enrolment, sessions, events and what they answered."""
    rng = random.Random(f"{seed}:{client_id}")
    style = rng.choices(STYLES, weights=[s.share for s in STYLES])[0]
    new = rng.random() < config.new_clients
    first_week = rng.randrange(0, max(weeks - 3, 1)) if new else -rng.randint(4, 30)
    weekday, hour = rng.randrange(0, 5), rng.randrange(8, 18)
    chronic = rng.random() < config.chronic_low_clients
    level = 3.0 + rng.gauss(0, 0.2) if chronic else style.level + rng.gauss(0, style.level_sd)
    support = 4.4 + rng.gauss(0, 0.5)
    propensity = _beta(rng, _background_tension(config), 3.0)
    # Non-response clusters within persons: each client has their own answer rate.
    answer_rate = _beta(rng, min(0.99, config.compliance + 0.17), 8.0)
    rates = rng.random() < config.therapist_rates

    held = [w for w in range(first_week, weeks) if rng.random() >= config.missed_session]
    window = [i for i, w in enumerate(held) if w >= 0]
    plan = _plan_events(rng, config, window, chronic)

    def session_end(index: int) -> datetime:
        """When session `index` of this client ended."""
        week = held[index] if index < len(held) else held[-1] + index - len(held) + 1
        return SIMULATION_START + timedelta(weeks=week, days=weekday, hours=hour, minutes=50)

    records: list[CheckinRecord] = []
    status_changes: list[tuple[datetime, ClientStatus]] = []
    if plan.leaves is not None and plan.last_session is not None:
        # Paused, left or blocked the bot a couple of days before the next session.
        leaving = session_end(plan.last_session + 1) - timedelta(days=2)
        status_changes.append((leaving, plan.leaves))
    strained_before = missed_before = False
    for index in range(len(held)):
        if plan.last_session is not None and index > plan.last_session:
            break
        sequence = index + 1
        offset = plan.offset.get(index, 0.0)
        early = -config.early_deficit * exp(-(sequence - 1) / 4)
        latent = level + early + offset + rng.gauss(0, style.session_sd)
        rupture = plan.rupture.get(index)
        tension = _tension(rng, propensity, rupture, -offset)
        chance = answer_rate - 0.004 * min(sequence, 30)
        chance -= 0.15 * strained_before + 0.15 * missed_before
        chance = min(chance, plan.quiet.get(index, 1.0))
        if plan.silent_from is not None and index >= plan.silent_from:
            chance = 0.0
        end = session_end(index)
        due = end + CHECKIN_DELAY
        record_id = client_id * 1000 + sequence
        if rng.random() >= chance:
            records.append(
                CheckinRecord(record_id, sequence, end, due, "unanswered", {}, has_comment=False)
            )
            missed_before, strained_before = True, offset <= -0.5
            continue
        answers = _answers(rng, style, latent, sequence, support, tension)
        status: CheckinStatus = "completed"
        if rng.random() < config.partial:
            keep = rng.randrange(1, len(answers))
            answers = dict(list(answers.items())[:keep])
            status = "partial"
        # Therapists rate a little lower than clients and see only part of a rupture.
        seen = level + early + offset * 0.5 - 0.3
        rating = _clamp(seen + rng.gauss(0, 0.5)) if rates else None
        records.append(
            CheckinRecord(record_id, sequence, end, due, status, answers, False, None, rating)
        )
        missed_before = False
        strained_before = offset <= -0.5 or (tension[0] > 0 and tension[1] != 2)

    last_held = len(held) - 1 if plan.last_session is None else plan.last_session
    events = [
        SimulatedEvent(kind, session_end(start), session_end(min(end, last_held)), depth)
        for kind, start, end, depth in plan.spans
        if start <= last_held
    ]
    if plan.dropout_start is not None:
        # Dropping out lasts: the event runs to the end of the simulated weeks. It
        # begins with the first session of fading interest, or with leaving the bot.
        began = [session_end(plan.dropout_start)] if plan.dropout_start <= last_held else []
        began += [moment for moment, _ in status_changes]
        closing = SIMULATION_START + timedelta(weeks=weeks)
        events.append(SimulatedEvent("withdrawal", min(began), closing, 0.0))
    if chronic and held:
        whole = SimulatedEvent("chronic_low", session_end(0), session_end(last_held), 1.5)
        events.insert(0, whole)
    enrolled = SIMULATION_START + timedelta(weeks=first_week, days=weekday - 2)
    history = ClientHistory(
        client_id=client_id,
        alias=f"{style.name}-{client_id:02d}",
        locale="en",
        enrolled_at=enrolled,
        status=status_changes[-1][1] if status_changes else "active",
        status_since=status_changes[-1][0] if status_changes else None,
        checkins=tuple(records),
    )
    return SimulatedClient(
        history,
        style.name,
        tuple(status_changes),
        tuple(events),
        dropped_out=plan.last_session is not None,
    )


def simulate_caseload(
    seed: int,
    clients: int = 40,
    weeks: int = QUARTER_WEEKS,
    config: SimulationConfig = DEFAULT_CONFIG,
) -> list[SimulatedClient]:
    """A therapist's caseload over `weeks` weeks from SIMULATION_START, with earlier history."""
    return [_client(seed, number, weeks, config) for number in range(1, clients + 1)]


def history_as_of(client: SimulatedClient, now: datetime) -> ClientHistory:
    """What the bot knows at `now`: earlier check-ins, open ones pending, the status then."""
    records = []
    for record in client.history.checkins:
        if record.session_end > now:
            continue
        if record.due_at + CHECKIN_OPEN > now and record.status == "unanswered":
            record = dataclasses.replace(record, status="pending")
        records.append(record)
    status: ClientStatus = "active"
    since: datetime | None = None
    for moment, changed in client.status_changes:
        if moment <= now:
            status, since = changed, moment
    return dataclasses.replace(
        client.history, checkins=tuple(records), status=status, status_since=since
    )


def digest_moments(weeks: int) -> list[datetime]:
    """Monday 08:00 UTC after each simulated week."""
    return [SIMULATION_START + timedelta(weeks=week + 1, hours=8) for week in range(weeks)]


@dataclass(frozen=True)
class CaseloadRates:
    """The marginal rates a simulated caseload came out with, to set against the config."""

    compliance: float  # answered / sent check-ins in the simulated weeks
    tension: float  # completed check-ins reporting tension
    all_top: float  # completed check-ins with every core item at the top of the scale
    dropout: float  # clients who dropped out
    silent_dropout: float  # of the dropouts, those who just stopped answering
    event_free: float  # clients with no event at all


def caseload_rates(caseload: Sequence[SimulatedClient]) -> CaseloadRates:
    """Count the marginal rates of a caseload (check-ins from SIMULATION_START on)."""
    sent = [
        c
        for client in caseload
        for c in client.history.checkins
        if c.session_end >= SIMULATION_START
    ]
    completed = [c for c in sent if c.status == "completed"]
    dropped = [client for client in caseload if client.dropped_out]

    def share(part: int, whole: int) -> float:
        """part / whole, 0 for an empty whole."""
        return part / whole if whole else 0.0

    return CaseloadRates(
        compliance=share(sum(c.responded for c in sent), len(sent)),
        tension=share(sum((c.answers.get("tension") or 0) > 0 for c in completed), len(completed)),
        all_top=share(
            sum(all(c.answers.get(i) == 5 for i in CORE_ITEMS) for c in completed), len(completed)
        ),
        dropout=share(len(dropped), len(caseload)),
        silent_dropout=share(sum(not c.status_changes for c in dropped), len(dropped)),
        event_free=share(sum(c.event_free for c in caseload), len(caseload)),
    )
