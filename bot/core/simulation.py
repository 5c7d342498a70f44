"""A simulated caseload: realistic check-in histories for measuring alert burden and for demos.

Seeded and pure: the same seed gives the same clients. The mix follows what the
literature reports about alliance ratings: most sit at the top of the scale (in one
large data set 54 % of clients gave perfect scores; ACORN, Meier & Feeley), clients
report some tension in a minority of sessions (19-42 %, Eubanks et al. 2018), about
one check-in in five goes unanswered (EMA compliance ~79 %, Wrzus & Neubauer 2023)
and answering falls off over time. A few clients have a rupture, drift downwards or
withdraw. The numbers are assumptions for a plausible caseload, not estimates.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.instrument import Instrument
from bot.core.scoring import CheckinRecord, CheckinStatus
from bot.core.strain import (
    DEFAULT_SETTINGS,
    ClientHistory,
    ClientStatus,
    Severity,
    StrainSettings,
    assess_checkin_alert,
    assess_strain,
)

SIMULATION_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
CORE_ITEMS = ("bond", "goals", "tasks", "openness")
CHECKIN_DELAY = timedelta(hours=1)
# A check-in closes three days after it is due (the bot's default expiry).
CHECKIN_OPEN = timedelta(hours=72)


@dataclass(frozen=True)
class Archetype:
    """How a kind of client tends to answer."""

    name: str
    share: float
    mean: float  # latent alliance level on 1-5
    session_sd: float  # how much whole sessions vary
    item_sd: float  # how much single answers vary around the session
    tension: float  # chance of reporting tension in a session


# Shares of a caseload: ceiling-heavy, with a few clients in difficulty.
ARCHETYPES = (
    Archetype("ceiling", 0.45, 4.95, 0.25, 0.22, 0.06),
    Archetype("high", 0.25, 4.5, 0.3, 0.3, 0.12),
    Archetype("moderate", 0.08, 3.95, 0.35, 0.35, 0.22),
    Archetype("rupture", 0.10, 4.7, 0.25, 0.25, 0.10),
    Archetype("declining", 0.05, 4.7, 0.25, 0.25, 0.12),
    Archetype("withdrawing", 0.07, 4.5, 0.3, 0.3, 0.12),
)
NEW_CLIENT_SHARE = 0.25  # clients who start during the simulated weeks
MISSED_SESSION = 0.08  # weeks without a session (holidays, cancellations)
PARTIAL = 0.05  # answered check-ins left unfinished
THERAPIST_RATES = 0.4  # clients whose therapist also rates each session


@dataclass(frozen=True)
class SimulatedClient:
    """A client's whole simulated history and how their status changed."""

    history: ClientHistory
    archetype: str
    status_changes: tuple[tuple[datetime, ClientStatus], ...]


def _clamp(value: float, low: int = 1, high: int = 5) -> int:
    """Round to an answer on the scale."""
    return max(low, min(high, round(value)))


def _answers(
    rng: random.Random, kind: Archetype, level: float, sequence: int, support: float
) -> dict[str, int | None]:
    """One session's answers for a client whose alliance sits at `level` today."""
    session = level + rng.gauss(0, kind.session_sd)
    answers: dict[str, int | None] = {
        item: _clamp(session + rng.gauss(0, kind.item_sd)) for item in CORE_ITEMS
    }
    tension = 0
    if rng.random() < kind.tension + max(0.0, 4.5 - session) * 0.3:
        tension = 2 if rng.random() < 0.15 + max(0.0, 4.0 - session) * 0.3 else 1
    answers["tension"] = tension
    if tension:
        # Most tension clients report is talked through (a repair), some only partly.
        answers["talked_through"] = rng.choices((2, 1, 0), weights=(0.55, 0.3, 0.15))[0]
    if sequence % 4 == 0:
        answers["support"] = _clamp(support + rng.gauss(0, 0.4))
    return answers


def _client(rng: random.Random, client_id: int, weeks: int, history_weeks: int) -> SimulatedClient:
    """One client: archetype, enrolment, weekly sessions and what they answered."""
    kind = rng.choices(ARCHETYPES, weights=[a.share for a in ARCHETYPES])[0]
    new = rng.random() < NEW_CLIENT_SHARE
    first_week = rng.randrange(0, max(weeks - 2, 1)) if new else -history_weeks
    weekday, hour = rng.randrange(0, 5), rng.randrange(8, 18)
    mean = kind.mean + rng.gauss(0, 0.1)
    support = 4.4 + rng.gauss(0, 0.5)
    rates = rng.random() < THERAPIST_RATES
    # The week something happens to this client, if anything does.
    event = rng.randrange(max(first_week + 2, 1), weeks) if weeks > 1 else 0
    lingering = rng.choice((0, 1, 2))
    leaving: ClientStatus = rng.choice(("paused", "paused", "active", "stopped", "unreachable"))

    records: list[CheckinRecord] = []
    status_changes: list[tuple[datetime, ClientStatus]] = []
    sequence = 0
    for week in range(first_week, weeks):
        session_end = SIMULATION_START + timedelta(weeks=week, days=weekday, hours=hour, minutes=50)
        if kind.name == "withdrawing" and week >= event and leaving != "active":
            # Paused, left or blocked the bot: no more check-ins are sent.
            status_changes.append((session_end - timedelta(days=2), leaving))
            break
        if rng.random() < MISSED_SESSION:
            continue
        sequence += 1
        level = mean
        if kind.name == "rupture" and event <= week <= event + lingering:
            level = mean - (2.2 if week == event else 1.2)
        if kind.name == "declining" and week >= event:
            level = mean - 0.3 * (week - event + 1)
        answer_chance = max(0.65, 0.88 - 0.006 * sequence)
        if kind.name == "withdrawing" and week >= event:
            answer_chance = 0.1
        due = session_end + CHECKIN_DELAY
        if rng.random() >= answer_chance:
            records.append(
                CheckinRecord(
                    checkin_id=client_id * 1000 + sequence,
                    sequence=sequence,
                    session_end=session_end,
                    due_at=due,
                    status="unanswered",
                    answers={},
                    has_comment=False,
                )
            )
            continue
        answers = _answers(rng, kind, level, sequence, support)
        status: CheckinStatus = "completed"
        if rng.random() < PARTIAL:
            keep = rng.randrange(1, len(answers))
            answers = dict(list(answers.items())[:keep])
            status = "partial"
        rating = _clamp(level - 0.2 + rng.gauss(0, 0.6)) if rates else None
        records.append(
            CheckinRecord(
                checkin_id=client_id * 1000 + sequence,
                sequence=sequence,
                session_end=session_end,
                due_at=due,
                status=status,
                answers=answers,
                has_comment=False,
                therapist_rating=rating,
            )
        )
    enrolled = SIMULATION_START + timedelta(weeks=first_week, days=weekday - 2)
    final_status: ClientStatus = status_changes[-1][1] if status_changes else "active"
    since = status_changes[-1][0] if status_changes else None
    history = ClientHistory(
        client_id=client_id,
        alias=f"{kind.name}-{client_id:02d}",
        locale="en",
        enrolled_at=enrolled,
        status=final_status,
        status_since=since,
        checkins=tuple(records),
    )
    return SimulatedClient(history, kind.name, tuple(status_changes))


def simulate_caseload(
    seed: int, clients: int = 40, weeks: int = 12, history_weeks: int = 8
) -> list[SimulatedClient]:
    """A therapist's caseload over `weeks` weeks from SIMULATION_START, with earlier history."""
    rng = random.Random(seed)
    return [_client(rng, number, weeks, history_weeks) for number in range(1, clients + 1)]


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


@dataclass(frozen=True)
class WeekBurden:
    """How many clients one weekly digest flags, and the immediate alerts of that week."""

    digest_at: datetime
    clients: int
    watch: int
    conversation: int
    alerts: int
    # Which rules put clients at CONVERSATION this week (a client may count for several).
    conversation_rules: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def watch_share(self) -> float:
        """Share of enrolled clients at WATCH."""
        return self.watch / self.clients if self.clients else 0.0

    @property
    def conversation_share(self) -> float:
        """Share of enrolled clients at CONVERSATION."""
        return self.conversation / self.clients if self.clients else 0.0


def digest_moments(weeks: int) -> list[datetime]:
    """Monday 08:00 UTC after each simulated week."""
    return [SIMULATION_START + timedelta(weeks=week + 1, hours=8) for week in range(weeks)]


def measure_alert_burden(
    caseload: Sequence[SimulatedClient],
    instrument: Instrument,
    weeks: int,
    settings: StrainSettings = DEFAULT_SETTINGS,
) -> list[WeekBurden]:
    """Per weekly digest: clients enrolled, flagged at each severity, immediate alerts."""
    burden = []
    previous = SIMULATION_START
    for moment in digest_moments(weeks):
        counts = {Severity.WATCH: 0, Severity.CONVERSATION: 0}
        rules: Counter[str] = Counter()
        enrolled = alerts = 0
        for client in caseload:
            if client.history.enrolled_at > moment:
                continue
            enrolled += 1
            history = history_as_of(client, moment)
            assessment = assess_strain(history, instrument, moment, settings)
            if assessment.severity in counts:
                counts[assessment.severity] += 1
            if assessment.severity == Severity.CONVERSATION:
                rules.update(
                    {r.rule for r in assessment.reasons if r.severity == Severity.CONVERSATION}
                )
            for record in history.checkins:
                if previous < record.session_end <= moment and record.responded:
                    upto = [c for c in history.checkins if c.sequence <= record.sequence]
                    view = dataclasses.replace(history, checkins=tuple(upto))
                    alerts += assess_checkin_alert(view, instrument, settings)
        burden.append(
            WeekBurden(
                digest_at=moment,
                clients=enrolled,
                watch=counts[Severity.WATCH],
                conversation=counts[Severity.CONVERSATION],
                alerts=alerts,
                conversation_rules=dict(rules),
            )
        )
        previous = moment
    return burden
