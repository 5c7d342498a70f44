"""What a therapist does with clients: record sessions, weekly schedules, settings, overviews."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.checkins.conversation import close_checkins, create_for_session, session_near
from bot.core.scheduling import (
    find_timezone,
    format_clock,
    next_weekly_end,
    parse_clock,
    parse_local_datetime,
)
from bot.core.strain import ClientHistory, assess_strain
from bot.digest.weekly import DIGEST_PERIOD, load_histories, period_alerts
from bot.notices import tell_therapist
from bot.services import Services
from bot.settings import WEEKDAYS, parse_hhmm
from storage import repo
from storage.models import CheckIn, Client, Therapist, TherapySession, WeeklySchedule
from storage.states import PARTICIPATING, CheckinState, ClientState, move

# A session recorded "just now" may be typed a little late; one far in the past
# would produce a check-in about a session the client no longer remembers well.
MAX_SESSION_AGE = timedelta(days=14)
MAX_FUTURE_SKEW = timedelta(minutes=5)
WEEKDAY_ALIASES = {
    **{name: i for i, name in enumerate(WEEKDAYS)},
    **{name[:3]: i for i, name in enumerate(WEEKDAYS)},
    **{
        name: i
        for i, name in enumerate(
            ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
        )
    },
    **{
        name: i
        for i, name in enumerate(
            ("montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag")
        )
    },
    "miercoles": 2,
    "sabado": 5,
}


def parse_weekday(text: str) -> int | None:
    """'monday', 'mon', 'lunes', '1'…'7' → 0..6, else None."""
    key = text.strip().lower()
    if key.isascii() and key.isdigit() and 1 <= int(key) <= 7:
        return int(key) - 1
    return WEEKDAY_ALIASES.get(key)


@dataclass
class SessionResult:
    """Outcome of /session."""

    # "ok" | "unknown_alias" | "not_active" | "bad_time" | "future" | "too_old" | "too_late"
    # | "duplicate"
    status: str
    due_at: datetime | None = None
    client: Client | None = None


async def record_session(
    services: Services, therapist: Therapist, alias: str, when_text: str | None
) -> SessionResult:
    """Record that a session ended (now, or at a given local time) and schedule its check-in."""
    now = services.clock.now()
    tz = ZoneInfo(therapist.timezone)
    if when_text:
        try:
            ended = parse_local_datetime(when_text, tz)
        except ValueError:
            return SessionResult("bad_time")
        if ended > now + MAX_FUTURE_SKEW:
            return SessionResult("future")
        if ended < now - MAX_SESSION_AGE:
            return SessionResult("too_old")
        due = ended + timedelta(minutes=services.settings.checkin_delay_minutes)
        if due <= now - timedelta(hours=services.settings.expire_after_hours):
            # Its check-in would expire the moment it fell due: promise nothing, record nothing.
            return SessionResult("too_late")
    else:
        ended = now.replace(microsecond=0)
    async with services.db.session() as session:
        client = await repo.client_by_alias(session, therapist.id or 0, alias)
        if client is None:
            return SessionResult("unknown_alias")
        if client.status not in (ClientState.ACTIVE, ClientState.PAUSED, ClientState.INVITED):
            return SessionResult("not_active", client=client)
        if await session_near(session, client.id or 0, ended):
            return SessionResult("duplicate", client=client)
        therapy_session = TherapySession(
            client_id=client.id or 0, ended_at=ended, source="manual", created_at=now
        )
        session.add(therapy_session)
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            return SessionResult("duplicate", client=client)
        checkin = await create_for_session(session, services, client, therapy_session)
        return SessionResult("ok", due_at=checkin.due_at, client=client)


@dataclass
class ScheduleResult:
    """Outcome of /schedule."""

    status: str  # "ok" | "off" | "unknown_alias" | "not_active" | "bad_args" | "none"
    next_end: datetime | None = None
    weekday: int = 0
    start: str = ""
    minutes: int = 50


async def set_schedule(
    services: Services, therapist: Therapist, alias: str, args: list[str]
) -> ScheduleResult:
    """Create, replace or switch off a client's weekly session."""
    now = services.clock.now()
    async with services.db.session() as session:
        client = await repo.client_by_alias(session, therapist.id or 0, alias)
        if client is None:
            return ScheduleResult("unknown_alias")
        existing = (
            await session.exec(select(WeeklySchedule).where(WeeklySchedule.client_id == client.id))
        ).first()
        if len(args) == 1 and args[0].lower() in ("off", "stop", "no"):
            if existing is None or not existing.active:
                return ScheduleResult("none")
            existing.active = False
            return ScheduleResult("off")
        if client.status in (ClientState.STOPPED, ClientState.DECLINED):
            return ScheduleResult("not_active")
        if len(args) not in (2, 3):
            return ScheduleResult("bad_args")
        weekday = parse_weekday(args[0])
        minutes_text = args[2] if len(args) == 3 else "50"
        try:
            start = parse_clock(args[1])
        except ValueError:
            return ScheduleResult("bad_args")
        if weekday is None or not (minutes_text.isascii() and minutes_text.isdigit()):
            return ScheduleResult("bad_args")
        minutes = int(minutes_text)
        if not 10 <= minutes <= 240:
            return ScheduleResult("bad_args")
        tz = ZoneInfo(therapist.timezone)
        next_end = next_weekly_end(now, weekday, start, minutes, tz)
        start_text = format_clock(start)  # "9:00" is stored and shown as "09:00"
        if existing is None:
            existing = WeeklySchedule(
                client_id=client.id or 0,
                weekday=weekday,
                start_time=start_text,
                duration_minutes=minutes,
                timezone=therapist.timezone,
                next_end_at=next_end,
                created_at=now,
            )
            session.add(existing)
        else:
            existing.weekday = weekday
            existing.start_time = start_text
            existing.duration_minutes = minutes
            existing.timezone = therapist.timezone
            existing.next_end_at = next_end
            existing.active = True
        return ScheduleResult("ok", next_end, weekday, start_text, minutes)


async def set_timezone(services: Services, therapist_id: int, typed: str) -> str | None:
    """Set a therapist's IANA time zone, typed in any case (weekly schedules follow);
    returns its proper name, or None if it is not a place's time zone."""
    name = find_timezone(typed)
    if name is None:
        return None
    now = services.clock.now()
    async with services.db.session() as session:
        therapist = await session.get(Therapist, therapist_id)
        assert therapist is not None
        therapist.timezone = name
        for client in await repo.clients_of(session, therapist_id):
            if client.timezone == "UTC" or client.status == ClientState.INVITED:
                client.timezone = name
            schedule = (
                await session.exec(
                    select(WeeklySchedule).where(WeeklySchedule.client_id == client.id)
                )
            ).first()
            if schedule is not None and schedule.active:
                schedule.timezone = name
                schedule.next_end_at = next_weekly_end(
                    now,
                    schedule.weekday,
                    parse_hhmm(schedule.start_time),
                    schedule.duration_minutes,
                    ZoneInfo(name),
                )
    return name


async def set_digest_time(
    services: Services, therapist_id: int, weekday_text: str, time_text: str
) -> tuple[int, str] | None:
    """Set the weekly digest's weekday and local time; None if either is malformed."""
    weekday = parse_weekday(weekday_text)
    try:
        at = format_clock(parse_clock(time_text))
    except ValueError:
        return None
    if weekday is None:
        return None
    async with services.db.session() as session:
        therapist = await session.get(Therapist, therapist_id)
        assert therapist is not None
        therapist.digest_weekday = weekday
        therapist.digest_time = at
    return weekday, at


@dataclass
class ClientLine:
    """One row of /clients."""

    client: Client
    latest: CheckIn | None
    schedule: WeeklySchedule | None
    # The alias, or "alex~2026-06-02" for a former client whose alias was given again.
    name: str = ""
    # What the strain rules say now (bot.core.strain.Severity: 0 steady, 1 worth watching,
    # 2 a relationship conversation); None for someone not taking part or without answers.
    attention: int | None = None
    # A message of theirs raised a risk-language alert in the last seven days (the
    # digest's 🆘 group): the safety procedure comes before anything else.
    risk: bool = False


async def client_overview(services: Services, therapist_id: int) -> list[ClientLine]:
    """Each client with status, weekly schedule, latest check-in and whether they need
    attention (the strain rules of the digest, applied now)."""
    now = services.clock.now()
    async with services.db.session() as session:
        clients = await repo.clients_of(session, therapist_id)
        ids = [c.id for c in clients]
        latest: dict[int, CheckIn] = {}
        schedules: dict[int, WeeklySchedule] = {}
        if ids:
            checkins = await session.exec(
                select(CheckIn)
                .where(col(CheckIn.client_id).in_(ids))
                .where(col(CheckIn.sent_at).is_not(None))
                .order_by(col(CheckIn.due_at))
            )
            for checkin in checkins.all():
                latest[checkin.client_id] = checkin
            for schedule in (
                await session.exec(
                    select(WeeklySchedule).where(col(WeeklySchedule.client_id).in_(ids))
                )
            ).all():
                if schedule.active:
                    schedules[schedule.client_id] = schedule
        histories = {
            h.client_id: h
            for h in await load_histories(
                session, services.cipher, therapist_id, comments_since=None
            )
        }
        risks, _alerted = await period_alerts(session, therapist_id, now - DIGEST_PERIOD, now)
        lines = []
        for client in clients:
            if client.status == ClientState.DECLINED:
                continue
            cid = client.id or 0
            lines.append(
                ClientLine(
                    client,
                    latest.get(cid),
                    schedules.get(cid),
                    repo.shown_as(client),
                    _attention(services, client, histories.get(cid), now),
                    risk=cid in risks,
                )
            )
        return lines


def _attention(
    services: Services, client: Client, history: ClientHistory | None, now: datetime
) -> int | None:
    """The strain rules' severity for someone taking part who has answered, else None."""
    if client.status not in PARTICIPATING or history is None:
        return None
    assessment = assess_strain(history, services.instrument, now, services.strain)
    return None if assessment.no_data else int(assessment.severity)


async def set_client_status(services: Services, client_id: int, status: ClientState) -> str:
    """Pause or resume a client; returns "done" or "unchanged"."""
    now = services.clock.now()
    async with services.db.session() as session:
        client = await session.get(Client, client_id)
        if client is None or client.status not in PARTICIPATING:
            return "unchanged"
        if client.status == status:
            return "unchanged"
        move(client, status)
        client.status_changed_at = now
        if status == ClientState.PAUSED:
            await close_checkins(
                session,
                await repo.open_checkins_of(session, client_id),
                CheckinState.CANCELLED,
                now,
            )
        return "done"


async def leave_programme(services: Services, client_id: int) -> bool:
    """The client leaves: no more check-ins; their answers stay for the therapist's record."""
    now = services.clock.now()
    async with services.db.session() as session:
        client = await session.get(Client, client_id)
        if client is None or client.status not in PARTICIPATING:
            return False
        move(client, ClientState.STOPPED)
        client.status_changed_at = now
        await close_checkins(
            session, await repo.open_checkins_of(session, client_id), CheckinState.CANCELLED, now
        )
        # Check-ins of sessions already recorded but not yet due would follow a goodbye.
        waiting = await session.exec(
            select(CheckIn)
            .where(CheckIn.client_id == client_id)
            .where(CheckIn.status == CheckinState.SCHEDULED)
        )
        await close_checkins(session, waiting.all(), CheckinState.CANCELLED, now)
        await tell_therapist(session, services, client, "left", now)
        schedule = (
            await session.exec(select(WeeklySchedule).where(WeeklySchedule.client_id == client_id))
        ).first()
        if schedule is not None:
            schedule.active = False
        return True


async def set_reachable(services: Services, user_id: int, reachable: bool) -> None:
    """Someone blocked (or unblocked) the bot: stop (or resume) sending to them."""
    now = services.clock.now()
    async with services.db.session() as session:
        therapist = await repo.therapist_by_user(session, user_id)
        client = None if therapist else await repo.client_by_user(session, user_id)
        person = therapist or client
        if person is None or (person.unreachable_at is None) == reachable:
            return
        person.unreachable_at = None if reachable else now
        if client is not None and not reachable:
            await close_checkins(
                session,
                await repo.open_checkins_of(session, client.id or 0),
                CheckinState.CANCELLED,
                now,
            )
            if client.status in PARTICIPATING:
                await tell_therapist(session, services, client, "unreachable", now)


async def set_locale(services: Services, person_kind: str, person_id: int, locale: str) -> bool:
    """Change a person's language; False if the locale is not available."""
    if locale not in services.texts.locales:
        return False
    async with services.db.session() as session:
        model = Therapist if person_kind == "therapist" else Client
        row = await session.get(model, person_id)
        if row is None:
            return False
        row.locale = locale
        row.locale_chosen = True
    return True
