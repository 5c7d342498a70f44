"""The periodic job: picks due work from the database and hands messages to the outbox.

Runs every DISPATCH_INTERVAL_SECONDS on APScheduler (python-telegram-bot's
JobQueue). Nothing scheduled lives in memory: each run re-reads what is due, so a
restart, a second worker or a missed tick changes nothing but timing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, true, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import callbacks
from bot.checkins.conversation import (
    Screen,
    answer_map,
    close_checkins,
    create_for_session,
    local_session_end,
    question_screen,
    session_near,
)
from bot.checkins.lifecycle import sender_of
from bot.core.scheduling import latest_digest_slot, next_send_time, next_weekly_end
from bot.digest import alerts
from bot.digest.weekly import weekly_digest
from bot.practice import ratings, therapists
from bot.privacy import consent, retention
from bot.sending import outbox
from bot.services import Services
from bot.settings import parse_hhmm
from storage import repo
from storage.models import (
    CheckIn,
    Client,
    DigestRun,
    Therapist,
    TherapySession,
    WeeklySchedule,
)
from storage.states import OPEN_CHECKIN, CheckinState, ClientState, move, sources

log = logging.getLogger(__name__)

BATCH = 500
# A digest more than a day late (the bot was down) would arrive at an odd moment and
# overlap the next one; that week is skipped and the next comes on time.
DIGEST_CATCH_UP = timedelta(days=1)


@dataclass
class DispatchReport:
    """Counts of what one run did (for logs and tests)."""

    sessions: int = 0
    queued: int = 0
    reminders: int = 0
    expired: int = 0
    cancelled: int = 0
    digests: int = 0
    sent: int = 0


def _skip_locked(services: Services, query: Any) -> Any:
    """On PostgreSQL, rows another worker is handling right now are skipped, not waited
    for or handled twice (SQLite has one writer at a time anyway)."""
    return query if services.db.is_sqlite else query.with_for_update(skip_locked=True)


async def materialise_schedules(services: Services, now: datetime, report: DispatchReport) -> None:
    """Turn weekly occurrences that have ended into session rows (each with one check-in)."""
    async with services.db.session() as session:
        schedules = (
            await session.exec(
                _skip_locked(
                    services,
                    select(WeeklySchedule)
                    .where(WeeklySchedule.active == True)  # noqa: E712
                    .where(col(WeeklySchedule.next_end_at) <= now)
                    .limit(BATCH),
                )
            )
        ).all()
        for schedule in schedules:
            client = await session.get(Client, schedule.client_id)
            tz = ZoneInfo(schedule.timezone)
            start = parse_hhmm(schedule.start_time)
            end = schedule.next_end_at
            # Only the latest missed occurrence matters after a long outage: a string of
            # check-ins about sessions weeks ago would be noise.
            while True:
                following = next_weekly_end(
                    end, schedule.weekday, start, schedule.duration_minutes, tz
                )
                if following > now:
                    break
                end = following
            schedule.next_end_at = next_weekly_end(
                end, schedule.weekday, start, schedule.duration_minutes, tz
            )
            if client is None or client.status != ClientState.ACTIVE:
                continue
            therapist = await session.get(Therapist, client.therapist_id)
            if therapist is None or therapist.deactivated_at is not None:
                continue  # deactivated by the admin: no sessions, so no check-ins
            if await session_near(session, client.id or 0, end):
                continue  # the therapist also recorded this session with /session
            therapy_session = TherapySession(
                client_id=client.id or 0, ended_at=end, source="schedule", created_at=now
            )
            session.add(therapy_session)
            await session.flush()
            await create_for_session(session, services, client, therapy_session)
            await ratings.queue_prompt(session, services, client, therapy_session, now)
            report.sessions += 1


async def queue_due_checkins(
    services: Services,
    now: datetime,
    report: DispatchReport,
    after: tuple[datetime, int] | None = None,
) -> tuple[datetime, int] | None:
    """Queue check-ins whose time has come (outside the client's quiet hours).

    Reads one page of BATCH rows after the key ``after``; returns the key to continue
    from, or None when this was the last page. Paging by key lets one pass get through
    thousands of due check-ins, and rows left waiting (quiet hours) never hide the rest.
    """
    expire_after = timedelta(hours=services.settings.expire_after_hours)
    # Check-ins closed unfinished with some answers: judged for an alert once committed.
    closed_answered: list[int] = []
    async with services.db.session() as session:
        due = (
            await session.exec(
                _skip_locked(
                    services,
                    select(CheckIn)
                    .where(CheckIn.status == CheckinState.SCHEDULED)
                    .where(col(CheckIn.due_at) <= now)
                    .where(true() if after is None else tuple_(CheckIn.due_at, CheckIn.id) > after)
                    .order_by(col(CheckIn.due_at), col(CheckIn.id))
                    .limit(BATCH),
                )
            )
        ).all()
        # The page's clients and sessions in two queries, not two per check-in.
        clients = {
            client.id: client
            for client in await session.exec(
                select(Client).where(col(Client.id).in_({c.client_id for c in due}))
            )
        }
        sessions = {
            therapy_session.id: therapy_session
            for therapy_session in await session.exec(
                select(TherapySession).where(
                    col(TherapySession.id).in_({c.session_id for c in due})
                )
            )
        }
        # Clients of a therapist the admin deactivated get no check-ins meanwhile.
        inactive = await therapists.inactive_therapist_ids(session)
        open_by_client: dict[int, list[CheckIn]] = {}
        for open_one in await session.exec(
            select(CheckIn)
            .where(col(CheckIn.client_id).in_({c.client_id for c in due}))
            .where(col(CheckIn.status).in_(OPEN_CHECKIN))
            .order_by(col(CheckIn.due_at))
        ):
            open_by_client.setdefault(open_one.client_id, []).append(open_one)
        log.debug("dispatch: %d due check-ins, %d clients", len(due), len(clients))
        # Written together at the end of the page (bulk statements, no flush per row).
        pending: dict[int, tuple[CheckIn, Client, Screen]] = {}
        screens = _FirstScreens(services)
        for checkin in due:
            if checkin.due_at <= now - expire_after:
                # Never sent in time (the client had not joined yet, or the bot was down
                # for days): a check-in about a session this old would not help anyone.
                await close_checkins(session, [checkin], CheckinState.EXPIRED, now)
                report.expired += 1
                continue
            client = clients.get(checkin.client_id)
            if (
                client is None
                or client.status in (ClientState.STOPPED, ClientState.DECLINED)
                or client.unreachable_at
                or client.therapist_id in inactive
            ):
                move(checkin, CheckinState.CANCELLED)
                checkin.closed_at = now
                report.cancelled += 1
                continue
            if client.status == ClientState.PAUSED:
                move(checkin, CheckinState.CANCELLED)
                checkin.closed_at = now
                report.cancelled += 1
                continue
            if client.status != ClientState.ACTIVE or client.chat_id is None:
                continue
            tz = ZoneInfo(client.timezone)
            if next_send_time(now, tz, services.quiet_start, services.quiet_end) > now:
                continue
            if consent.consent_outdated(client):
                # The privacy notice changed since they agreed: ask again first. The
                # check-in waits for the answer (and expires like any other if none comes).
                await consent.ask_consent_again(session, services, client, now)
                continue
            # A newer check-in closes an older one still open: answers about last
            # week's session after this week's would muddle both.
            older = open_by_client.pop(client.id or 0, [])
            if older:
                for one in older:
                    if pending.pop(one.id or 0, None) is not None:
                        # Due earlier in this very page: its message is not written yet.
                        move(one, CheckinState.EXPIRED)
                        one.closed_at = now
                written = [one for one in older if one.status != CheckinState.EXPIRED]
                closed_answered += [
                    one.id or 0 for one in written if one.status == CheckinState.ANSWERING
                ]
                await close_checkins(session, written, CheckinState.EXPIRED, now)
                report.expired += len(older)
            screen = screens.first(checkin, client, sessions.get(checkin.session_id))
            if screen is None:
                move(checkin, CheckinState.CANCELLED)
                continue
            pending[checkin.id or 0] = (checkin, client, screen)
            open_by_client[client.id or 0] = [checkin]
        report.queued += await _write_queued(session, services, list(pending.values()), now)
    await alerts.after_close(services, closed_answered)
    if len(due) < BATCH:
        return None
    return due[-1].due_at, due[-1].id or 0


class _FirstScreens:
    """The first question of a check-in, rendered once per page for everyone it is the same for.

    Check-ins with the same items, for clients with the same locale and time zone, about
    sessions that ended at the same moment show the same text and button labels; only the
    check-in id in each button's data differs, and that is put in per check-in.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        # key → the text and, per button, its label, item and value (None: no screen).
        self._rendered: dict[tuple[Any, ...], _Shape | None] = {}

    def first(
        self, checkin: CheckIn, client: Client, therapy_session: TherapySession | None
    ) -> Screen | None:
        """The screen ``question_screen`` would give this check-in before any answer."""
        ended = local_session_end(therapy_session, client)
        key = (client.locale, client.timezone, checkin.instrument_id, checkin.items, ended)
        if key not in self._rendered:
            screen = question_screen(self.services, checkin, client.locale, {}, ended)
            shape = None if screen is None else _Shape.of(screen, checkin.id or 0)
            if screen is not None and shape is None:
                return screen  # not only this check-in's answer buttons: not shared
            self._rendered[key] = shape
            return screen
        shape = self._rendered[key]
        return None if shape is None else shape.screen(checkin.id or 0)


@dataclass(frozen=True)
class _Shape:
    """A first-question screen with the check-in id left out of its buttons."""

    text: str
    rows: tuple[tuple[tuple[str, str, int | None], ...], ...]

    @classmethod
    def of(cls, screen: Screen, checkin_id: int) -> _Shape | None:
        """The shape of ``screen``, or None unless every button answers ``checkin_id``."""
        rows = []
        for row in screen.buttons:
            shaped = []
            for label, data in row:
                press = callbacks.parse(data)
                if not isinstance(press, callbacks.AnswerPress) or press.checkin_id != checkin_id:
                    return None
                shaped.append((label, press.item_id, press.value))
            rows.append(tuple(shaped))
        return cls(screen.text, tuple(rows))

    def screen(self, checkin_id: int) -> Screen:
        """The screen for one check-in."""
        return Screen(
            self.text,
            [
                [(label, callbacks.answer(checkin_id, item, value)) for label, item, value in row]
                for row in self.rows
            ],
        )


async def _write_queued(
    session: AsyncSession,
    services: Services,
    pending: Sequence[tuple[CheckIn, Client, Screen]],
    now: datetime,
) -> int:
    """Mark a page's check-ins queued and write their messages: one statement each."""
    if not pending:
        return 0
    connection = await session.connection()
    chat_of_client = (
        select(col(Client.chat_id))
        .where(col(Client.id) == col(CheckIn.client_id))
        .scalar_subquery()
    )
    taken = await connection.execute(
        update(CheckIn)
        .where(col(CheckIn.id).in_([checkin.id for checkin, _client, _screen in pending]))
        # SQLite locked nothing while the page was read: a check-in a handler closed in
        # the meantime stays closed and gets no message.
        .where(col(CheckIn.status).in_(sources(CheckinState.QUEUED)))
        .values(status=CheckinState.QUEUED, chat_id=chat_of_client)
        .returning(col(CheckIn.id))
    )
    queued = set(taken.scalars())
    await outbox.enqueue_many(
        session,
        services.cipher,
        [
            outbox.Queued(
                kind="checkin",
                dedupe_key=f"checkin:{checkin.id}",
                message=outbox.Outgoing(client.chat_id or 0, screen.text, screen.buttons),
                checkin_id=checkin.id,
                client_id=client.id,
            )
            for checkin, client, screen in pending
            if checkin.id in queued
        ],
        now,
    )
    return len(queued)


async def queue_reminders_and_expiry(
    services: Services,
    now: datetime,
    report: DispatchReport,
    after: tuple[datetime, int] | None = None,
) -> tuple[datetime, int] | None:
    """One gentle reminder for an unfinished check-in; close it after the expiry time.

    Reads one page of BATCH rows after the key ``after`` (when sent, then id); returns the
    key to continue from, or None when this was the last page. As with due check-ins,
    reminders held back by quiet hours never hide the ones after them.
    """
    remind_after = timedelta(hours=services.settings.reminder_after_hours)
    expire_after = timedelta(hours=services.settings.expire_after_hours)
    closed_answered: list[int] = []
    async with services.db.session() as session:
        open_ones = (
            await session.exec(
                _skip_locked(
                    services,
                    select(CheckIn)
                    .where(col(CheckIn.status).in_((CheckinState.SENT, CheckinState.ANSWERING)))
                    .where(col(CheckIn.sent_at) <= now - remind_after)
                    # Already reminded and not yet expiring: nothing to do, and at scale
                    # such rows would fill the pages for nothing.
                    .where(
                        or_(
                            col(CheckIn.reminder_sent_at).is_(None),
                            col(CheckIn.sent_at) <= now - expire_after,
                        )
                    )
                    .where(true() if after is None else tuple_(CheckIn.sent_at, CheckIn.id) > after)
                    .order_by(col(CheckIn.sent_at), col(CheckIn.id))
                    .limit(BATCH),
                )
            )
        ).all()
        for checkin in open_ones:
            assert checkin.sent_at is not None
            if checkin.sent_at <= now - expire_after:
                if checkin.status == CheckinState.ANSWERING:
                    closed_answered.append(checkin.id or 0)
                await close_checkins(session, [checkin], CheckinState.EXPIRED, now)
                report.expired += 1
                continue
            if checkin.reminder_sent_at is not None:
                continue
            client = await session.get(Client, checkin.client_id)
            if client is None or client.status != ClientState.ACTIVE or client.chat_id is None:
                continue
            tz = ZoneInfo(client.timezone)
            if next_send_time(now, tz, services.quiet_start, services.quiet_end) > now:
                continue
            answers = answer_map(await repo.answers_of(session, checkin.id or 0))
            therapy_session = await session.get(TherapySession, checkin.session_id)
            screen = question_screen(
                services,
                checkin,
                client.locale,
                answers,
                local_session_end(therapy_session, client),
                reminder=True,
            )
            if screen is None:
                continue
            await outbox.enqueue(
                session,
                services.cipher,
                kind="reminder",
                dedupe_key=f"reminder:{checkin.id}",
                message=outbox.Outgoing(client.chat_id, screen.text, screen.buttons),
                now=now,
                checkin_id=checkin.id,
                client_id=client.id,
            )
            checkin.reminder_sent_at = now
            report.reminders += 1
    # Closed unfinished: the answers given are all there will be (and the note, if any).
    await alerts.after_close(services, closed_answered)
    if len(open_ones) < BATCH:
        return None
    last = open_ones[-1]
    assert last.sent_at is not None
    return last.sent_at, last.id or 0


async def queue_weekly_digests(services: Services, now: datetime, report: DispatchReport) -> None:
    """Queue each therapist's digest exactly once per weekly slot.

    A slot is the therapist's weekday and local time resolved in that very week's UTC
    offset, so the digest follows their clock across DST changes. The slot's unique
    DigestRun row is written in the same transaction as the queued messages: after a
    restart, or on a second worker, the slot is found taken and nothing is queued
    twice. The digest is composed before that transaction, so
    no write lock is held while it renders; a worker that loses the race discards it.
    """
    async with services.db.session() as session:
        therapists = (
            await session.exec(
                select(Therapist)
                .where(col(Therapist.unreachable_at).is_(None))
                .where(col(Therapist.deactivated_at).is_(None))
            )
        ).all()
        recent = await session.exec(
            select(DigestRun.therapist_id, DigestRun.slot_at).where(
                col(DigestRun.slot_at) > now - DIGEST_CATCH_UP - timedelta(days=1)
            )
        )
        taken = set(recent.all())
    for therapist in therapists:
        tz = ZoneInfo(therapist.timezone)
        slot = latest_digest_slot(
            now, therapist.digest_weekday, parse_hhmm(therapist.digest_time), tz
        )
        if slot < therapist.created_at or now - slot > DIGEST_CATCH_UP:
            continue
        if (therapist.id or 0, slot) in taken:
            continue
        try:
            output = await weekly_digest(services, therapist, now)
        except Exception as exc:  # noqa: BLE001 - one therapist's digest must not stop the rest
            log.error("digest for therapist %s failed (%s)", therapist.id, type(exc).__name__)
            continue
        key = f"digest:{therapist.id}:{slot.isoformat()}"
        try:
            async with services.db.session() as session:
                session.add(DigestRun(therapist_id=therapist.id or 0, slot_at=slot, created_at=now))
                await session.flush()
                # The triage, with the names (details) and the answers to suggested
                # conversations under its last message.
                last = len(output.texts) - 1
                messages = [
                    outbox.Outgoing(
                        therapist.chat_id, text, buttons=output.buttons if n == last else ()
                    )
                    for n, text in enumerate(output.texts)
                ]
                for part, message in enumerate(messages):
                    await outbox.enqueue(
                        session,
                        services.cipher,
                        kind="digest",
                        dedupe_key=f"{key}:{part}",
                        message=message,
                        now=now,
                        therapist_id=therapist.id,
                    )
            report.digests += 1
        except IntegrityError:
            continue  # another worker (or an earlier run) already took this slot


async def run_due_work(services: Services, bot: Any) -> DispatchReport:
    """One dispatcher pass: schedules → check-ins → reminders/expiry → digests → send."""
    now = services.clock.now()
    report = DispatchReport()
    await materialise_schedules(services, now, report)
    page = await queue_due_checkins(services, now, report)
    while page is not None:
        page = await queue_due_checkins(services, now, report, page)
    page = await queue_reminders_and_expiry(services, now, report)
    while page is not None:
        page = await queue_reminders_and_expiry(services, now, report, page)
    await alerts.sweep_stalled(services, now)
    await queue_weekly_digests(services, now, report)
    await retention.housekeeping(services, now)
    _claimed, report.sent = await sender_of(services, bot).deliver(100)
    if report.sent or report.queued or report.expired:
        log.info(
            "dispatch: queued=%d reminders=%d expired=%d digests=%d sent=%d",
            report.queued,
            report.reminders,
            report.expired,
            report.digests,
            report.sent,
        )
    return report
