"""The check-in conversation: which question comes next, what a button press does, closing.

A check-in is one Telegram message edited in place. Its state lives only in the
database (answers rows), so a restart at any moment resumes exactly where the
client was: the next question is always derived from what has been answered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, bindparam, func, update
from sqlalchemy import select as select_columns
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import AnswerPress, BackPress
from bot.callbacks import answer as answer_data
from bot.callbacks import back as back_data
from bot.core.conversation_loop import asked_rarely
from bot.core.instrument import Instrument, Item
from bot.services import Services
from storage import repo
from storage.crypto import answer_text_context
from storage.models import (
    Answer,
    AnswerChange,
    CheckIn,
    Client,
    ConversationSuggestion,
    OutboxMessage,
    TherapySession,
)
from storage.states import (
    OPEN_CHECKIN,
    PARTICIPATING,
    CheckinState,
    OutboxState,
    is_one_of,
    move,
    sources,
)

log = logging.getLogger(__name__)

# A comment longer than a Telegram message cannot arrive in one piece anyway;
# this bound keeps stored ciphertexts small and the digest readable.
MAX_COMMENT_CHARS = 4096

# Two sessions with one client are hardly ever this close: a second record within the
# window is the same session typed twice, or one the weekly schedule already recorded,
# and one session yields exactly one check-in.
SAME_SESSION_WINDOW = timedelta(hours=2)

Buttons = list[list[tuple[str, str]]]


class Shown(Protocol):
    """What a screen needs of its check-in: the id (in each button) and the items."""

    @property
    def id(self) -> int | None:
        """The check-in's id."""

    def item_ids(self) -> list[str]:
        """The items in asking order."""


@dataclass
class Screen:
    """What the check-in message shows: HTML text and buttons."""

    text: str
    buttons: Buttons = field(default_factory=list)


@dataclass
class PressResult:
    """Outcome of a button press: the short callback answer and, if changed, the new screen."""

    notice_key: str
    screen: Screen | None = None
    completed_checkin_id: int | None = None
    followup_key: str | None = None
    # The client's locale when the presser is a known client (saves a second look-up).
    locale: str | None = None
    # The check-in's answers after a stored answer, and its instrument: enough to tell
    # whether this check-in on its own could warrant an immediate alert.
    answers: Mapping[str, int | None] | None = None
    instrument_id: str | None = None


def answer_map(answers: Sequence[Answer]) -> dict[str, int | None]:
    """item id → value (None for a skipped item or a text answer)."""
    return {a.item_id: a.value for a in answers}


def _scale_buttons(services: Services, checkin: Shown, item: Item, locale: str) -> Buttons:
    rows: Buttons = []
    for option in reversed(item.options):
        label = services.instrument.localised(option.label, locale)
        text = services.texts.label(
            locale, "checkin.scale_button", number=option.value, label=label
        )
        rows.append([(text, answer_data(checkin.id or 0, item.id, option.value))])
    return rows


def _choice_buttons(services: Services, checkin: Shown, item: Item, locale: str) -> Buttons:
    row = [
        (
            services.instrument.localised(option.label, locale),
            answer_data(checkin.id or 0, item.id, option.value),
        )
        for option in item.options
    ]
    return [row]


def last_answered(
    instrument: Instrument, included: Sequence[str], answers: Mapping[str, int | None]
) -> Item | None:
    """The answer "Back" takes back: the latest one given, if it was given with a button.

    Questions are answered in order, so the latest answer is the last applicable item
    that has one. A typed note is not taken back (it completes the check-in).
    """
    given = [item for item in instrument.applicable(included, answers) if item.id in answers]
    if not given or given[-1].kind == "text":
        return None
    return given[-1]


def question_screen(
    services: Services,
    checkin: Shown,
    locale: str,
    answers: Mapping[str, int | None],
    session_end_local: datetime,
    reminder: bool = False,
) -> Screen | None:
    """The screen for the next unanswered question, or None when nothing is left."""
    instrument = services.instrument
    included = checkin.item_ids()
    item = instrument.next_item(included, answers)
    if item is None:
        return None
    position, total = instrument.progress(included, item)
    today = services.clock.now().astimezone(session_end_local.tzinfo).date()
    previous = last_answered(instrument, included, answers)
    context = {
        "question": instrument.localised(item.text, locale),
        "position": position,
        "total": total,
        "session_day": session_end_local,
        "same_day": session_end_local.date() == today,
        "kind": item.kind,
        "first": not answers,
        "reminder": reminder,
        "can_go_back": previous is not None,
    }
    text = services.texts.render(locale, "checkin.question", **context)
    if item.kind == "scale":
        buttons = _scale_buttons(services, checkin, item, locale)
    elif item.kind == "choice":
        buttons = _choice_buttons(services, checkin, item, locale)
    else:
        buttons = [
            [
                (
                    services.texts.label(locale, "buttons.skip"),
                    answer_data(checkin.id or 0, item.id, None),
                )
            ]
        ]
    # The answer screens show exactly their answers (every scale button begins with its
    # number); only the note screen, whose "Skip" is not the whole screen, adds "Back".
    # Elsewhere the text names /back.
    if item.kind == "text" and previous is not None:
        buttons.append(
            [
                (
                    services.texts.label(locale, "buttons.back"),
                    back_data(checkin.id or 0, previous.id),
                )
            ]
        )
    return Screen(text=text, buttons=buttons)


def unresolved_tension(instrument: Instrument, answers: Mapping[str, int | None]) -> bool:
    """Tension reported and not (fully) talked through — worth a gentle word to the client."""
    tension = answers.get("tension")
    talked = answers.get("talked_through")
    return bool(tension) and instrument.has_item("talked_through") and talked in (0, 1)


def closing_screen(services: Services, locale: str, answers: Mapping[str, int | None]) -> Screen:
    """The thank-you that replaces the last question."""
    return Screen(
        text=services.texts.render(
            locale,
            "checkin.thanks",
            unresolved=unresolved_tension(services.instrument, answers),
        )
    )


def local_session_end(therapy_session: TherapySession | None, client: Client) -> datetime:
    """When the session ended, in the client's time zone."""
    ended = therapy_session.ended_at if therapy_session else None
    return _local_end(ended, client.created_at, client.timezone)


def _local_end(ended: datetime | None, client_created: datetime, timezone: str) -> datetime:
    """``ended`` in the client's time zone."""
    # A check-in always has its session; the fallback only keeps a damaged row showable.
    return (ended if ended is not None else client_created).astimezone(ZoneInfo(timezone))


class CheckinClosed(Exception):
    """The check-in was closed (or completed) by someone else while an answer was stored."""


def _in_step(checkin: CheckIn, **values: object) -> None:
    """Set loaded attributes to what a guarded UPDATE wrote, without a second write."""
    for name, value in values.items():
        set_committed_value(checkin, name, value)


async def close_checkins(
    session: AsyncSession, checkins: Sequence[CheckIn], status: CheckinState, now: datetime
) -> None:
    """Close check-ins ("expired"/"cancelled") and withdraw their messages not yet sent.

    Without the second step a check-in queued just before the client paused or left
    (or before a newer one replaced it) would still go out afterwards. The change is a
    guarded UPDATE: a check-in the client completed (or someone else closed) a moment
    ago, since it was read, keeps that state.
    """
    stored = {checkin.id: checkin for checkin in checkins if checkin.id is not None}
    for checkin in checkins:
        if checkin.id is None:  # not written yet: nobody else can have changed it
            move(checkin, status)
            checkin.closed_at = now
    if not stored:
        return
    closed = (
        await session.exec(
            update(CheckIn)
            .where(col(CheckIn.id).in_(list(stored)))
            .where(col(CheckIn.status).in_(sources(status)))
            .values(status=status, closed_at=now)
            .returning(col(CheckIn.id))
            .execution_options(synchronize_session=False)
        )
    ).all()
    ids = [row[0] for row in closed]
    for checkin_id in ids:
        _in_step(stored[checkin_id], status=status, closed_at=now)
    if ids:
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.checkin_id).in_(ids))
            .where(col(OutboxMessage.status) == OutboxState.PENDING)
            .values(status=OutboxState.CANCELLED, last_error="check-in closed")
        )


async def session_near(session: AsyncSession, client_id: int, ended: datetime) -> bool:
    """Whether a session of this client ended within SAME_SESSION_WINDOW of ``ended``."""
    found = await session.exec(
        select(TherapySession.id)
        .where(TherapySession.client_id == client_id)
        .where(col(TherapySession.ended_at) > ended - SAME_SESSION_WINDOW)
        .where(col(TherapySession.ended_at) < ended + SAME_SESSION_WINDOW)
        .limit(1)
    )
    return found.first() is not None


async def create_for_session(
    session: AsyncSession,
    services: Services,
    client: Client,
    therapy_session: TherapySession,
) -> CheckIn:
    """The one check-in a session yields, due CHECKIN_DELAY_MINUTES after it ended."""
    sequence = await repo.checkin_count(session, client.id or 0) + 1
    # The conversation loop's item: after a suggested conversation, and rarely otherwise.
    occasional = await wants_client_item(
        session, client.id or 0, sequence, services.settings.conversation_item_one_in
    )
    items = services.instrument.items_for(sequence, occasional=occasional)
    checkin = CheckIn(
        client_id=client.id or 0,
        session_id=therapy_session.id or 0,
        instrument_id=services.instrument.id,
        sequence=sequence,
        items=",".join(item.id for item in items),
        due_at=therapy_session.ended_at
        + timedelta(minutes=services.settings.checkin_delay_minutes),
    )
    session.add(checkin)
    await session.flush()
    return checkin


# The statements of a tap, built once: building a statement and working out its cache key
# cost more than running it, and a prebuilt statement keeps its key (see press_answer).
_CHECKIN_TABLE = CheckIn.__table__  # type: ignore[attr-defined]


def _move_on_to(target: CheckinState) -> Any:
    """The guarded move of one check-in to ``target``, from the states the machine allows.

    The states as ``status = a OR status = b …`` (``is_one_of``), not ``in_()``: SQLAlchemy
    runs an ``in_()`` of values as an "expanding" parameter and rewrites the statement's
    SQL for every execution, which cost more than the rest of the tap's statement.
    """
    return (
        update(_CHECKIN_TABLE)
        .where(_CHECKIN_TABLE.c.id == bindparam("b_id"))
        .where(is_one_of(_CHECKIN_TABLE.c.status, sources(target)))
    )


_ANSWERING = _move_on_to(CheckinState.ANSWERING).values(status=CheckinState.ANSWERING)
_COMPLETED = _move_on_to(CheckinState.COMPLETED).values(
    status=CheckinState.COMPLETED,
    closed_at=bindparam("b_now", type_=_CHECKIN_TABLE.c.closed_at.type),
)
_CLIENT_TABLE = Client.__table__  # type: ignore[attr-defined]
_SESSION_TABLE = TherapySession.__table__  # type: ignore[attr-defined]
# The presser, the pressed check-in (only if it is theirs) and its session, in one round
# trip, as plain columns (no ORM objects: a tap reads them once and writes with guarded
# statements); a person may hold several records: the one the check-in belongs to comes
# first.
_TAP = (
    select_columns(
        _CLIENT_TABLE.c.locale,
        _CLIENT_TABLE.c.timezone,
        _CLIENT_TABLE.c.created_at,
        _CHECKIN_TABLE.c.id,
        _CHECKIN_TABLE.c.status,
        _CHECKIN_TABLE.c.message_id,
        _CHECKIN_TABLE.c.instrument_id,
        _CHECKIN_TABLE.c["items"],
        _SESSION_TABLE.c.ended_at,
    )
    .select_from(_CLIENT_TABLE)
    .outerjoin(
        _CHECKIN_TABLE,
        (_CHECKIN_TABLE.c.client_id == _CLIENT_TABLE.c.id)
        # BIGINT: the id comes from the button's data (up to 12 digits); one no check-in
        # can have finds nothing rather than failing the statement on PostgreSQL.
        & (_CHECKIN_TABLE.c.id == bindparam("b_checkin", type_=BigInteger)),
    )
    .outerjoin(_SESSION_TABLE, _SESSION_TABLE.c.id == _CHECKIN_TABLE.c.session_id)
    .where(_CLIENT_TABLE.c.telegram_user_id == bindparam("b_user"))
    .order_by(_CHECKIN_TABLE.c.id.is_(None), _CLIENT_TABLE.c.id.desc())
)
# The message a check-in shows, learnt from its first tap when its send left it unknown.
_SHOWN_IN = (
    update(_CHECKIN_TABLE)
    .where(_CHECKIN_TABLE.c.id == bindparam("b_id"))
    .values(message_id=bindparam("b_message"))
)


@dataclass(frozen=True)
class _Tapped:
    """The pressed check-in as the tap read it (one row of ``_TAP``)."""

    id: int
    status: CheckinState
    message_id: int | None
    instrument_id: str
    items: str
    # When its session ended, in the client's time zone.
    session_end_local: datetime

    def item_ids(self) -> list[str]:
        """The items in asking order (as ``CheckIn.item_ids``)."""
        return [part for part in self.items.split(",") if part]


async def _move_on(
    session: AsyncSession,
    services: Services,
    checkin: CheckIn,
    client: Client,
    answers: Mapping[str, int | None],
    now: datetime,
    answer: tuple[str, int | None] | None = None,
) -> tuple[Screen, bool]:
    """After an answer: the next question, or the thanks and a completed check-in.

    ``answer`` (item id, value), when given, is stored right after the check-in is moved
    on, so that on SQLite the write lock is held from that UPDATE to the commit only, as
    it is for an answer added to the session.
    """
    therapy_session = await repo.session_of(session, checkin.session_id)
    screen = question_screen(
        services, checkin, client.locale, answers, local_session_end(therapy_session, client)
    )
    target = CheckinState.ANSWERING if screen is not None else CheckinState.COMPLETED
    values: dict[str, object] = {"status": target}
    if target == CheckinState.COMPLETED:
        values["closed_at"] = now
    # Guarded: a check-in closed since it was read (the client paused, a newer session's
    # check-in replaced it) stays closed, and the answer is not stored.
    # A Core statement on the session's connection: the ORM's bulk-update path costs
    # several times more, on the busiest path of the bot.
    await _guarded_move(await session.connection(), checkin.id or 0, screen is None, now)
    if answer is not None:
        item_id, value = answer
        await repo.add_answer(
            session, checkin_id=checkin.id or 0, item_id=item_id, value=value, answered_at=now
        )
    _in_step(checkin, **values)
    if screen is None:
        return closing_screen(services, client.locale, answers), True
    return screen, False


async def _guarded_move(
    connection: AsyncConnection, checkin_id: int, finished: bool, now: datetime
) -> None:
    """Move an open check-in on to "answering", or to "completed" when ``finished``;
    :class:`CheckinClosed` if it was closed meanwhile (the move then changes nothing)."""
    if finished:
        moved = await connection.execute(_COMPLETED, {"b_id": checkin_id, "b_now": now})
    else:
        moved = await connection.execute(_ANSWERING, {"b_id": checkin_id})
    if moved.rowcount != 1:
        raise CheckinClosed


def _caught_up(
    screen: Screen, checkin: _Tapped, answers: Mapping[str, int | None], locale: str
) -> PressResult:
    """A tap on a question answered before: "already answered", and the screen as it is now.

    The answers come along so the alert check runs again, cheaply, for a tap handled a
    second time after a restart that came between storing the answer and that check.
    """
    return PressResult(
        "checkin.already",
        screen,
        locale=locale,
        answers=answers,
        instrument_id=checkin.instrument_id,
    )


async def _move_on_tapped(
    connection: AsyncConnection,
    services: Services,
    checkin: _Tapped,
    locale: str,
    answers: Mapping[str, int | None],
    now: datetime,
    answer: tuple[str, int | None],
    message_id: int | None,
) -> tuple[Screen, bool]:
    """``_move_on`` for a tap, on its bare connection: the next question, or the thanks
    and a completed check-in; the answer stored right after the guarded move (so that on
    SQLite the write lock is held from that UPDATE to the commit only)."""
    screen = question_screen(services, checkin, locale, answers, checkin.session_end_local)
    # Guarded: a check-in closed since it was read (the client paused, a newer session's
    # check-in replaced it) stays closed, and the answer is not stored.
    await _guarded_move(connection, checkin.id, screen is None, now)
    item_id, value = answer
    await repo.add_answer(
        connection, checkin_id=checkin.id, item_id=item_id, value=value, answered_at=now
    )
    if checkin.message_id is None and message_id is not None:
        await connection.execute(_SHOWN_IN, {"b_id": checkin.id, "b_message": message_id})
    if screen is None:
        return closing_screen(services, locale, answers), True
    return screen, False


async def press_answer(
    services: Services, user_id: int, message_id: int | None, press: AnswerPress
) -> PressResult:
    """Validate and store one answer; the next question (or the thanks) comes back.

    The bot's busiest path: one connection in one transaction, no ORM session — the
    presser, check-in and session read in one round trip (``_TAP``), the answers so far as
    two columns, then the guarded move and the answer (``_move_on_tapped``).
    """
    now = services.clock.now()
    locale: str | None = None
    try:
        async with services.db.transaction() as connection:
            found = (
                await connection.execute(_TAP, {"b_checkin": press.checkin_id, "b_user": user_id})
            ).first()
            if found is None:
                return PressResult("common.button_invalid")
            locale, timezone, client_created, checkin_id = found[0], found[1], found[2], found[3]
            if checkin_id is None:
                return PressResult("common.button_invalid", locale=locale)
            checkin = _Tapped(
                id=checkin_id,
                status=found[4],
                message_id=found[5],
                instrument_id=found[6],
                items=found[7],
                session_end_local=_local_end(found[8], client_created, timezone),
            )
            if checkin.message_id is not None and message_id != checkin.message_id:
                still_open = checkin.status in OPEN_CHECKIN
                notice = "checkin.moved" if still_open else "checkin.closed"
                return PressResult(notice, locale=locale)
            answers = await repo.answer_values(connection, checkin.id)
            if checkin.status not in OPEN_CHECKIN:
                if checkin.status == CheckinState.COMPLETED and press.item_id in answers:
                    # A tap on the finished check-in's own message that still shows a
                    # question (the edit after the last answer never arrived, e.g. a
                    # restart in between): show the thanks it should have shown.
                    return _caught_up(
                        closing_screen(services, locale, answers), checkin, answers, locale
                    )
                return PressResult("checkin.closed", locale=locale)
            item = services.instrument.next_item(checkin.item_ids(), answers)
            if item is None or item.id != press.item_id:
                if press.item_id not in answers:
                    return PressResult("common.button_invalid", locale=locale)
                # Answered before (a double tap, or a tap handled again after a restart):
                # bring the message up to where the check-in is now.
                ended = checkin.session_end_local
                now_showing = question_screen(services, checkin, locale, answers, ended)
                if now_showing is None:
                    now_showing = closing_screen(services, locale, answers)
                return _caught_up(now_showing, checkin, answers, locale)
            if press.value is None:
                if not item.optional:
                    return PressResult("common.button_invalid", locale=locale)
            elif item.option(press.value) is None:
                return PressResult("common.button_invalid", locale=locale)
            answers[item.id] = press.value
            screen, completed = await _move_on_tapped(
                connection,
                services,
                checkin,
                locale,
                answers,
                now,
                (item.id, press.value),
                message_id,
            )
            return PressResult(
                "checkin.saved",
                screen,
                completed_checkin_id=checkin.id if completed else None,
                locale=locale,
                answers=dict(answers),
                instrument_id=checkin.instrument_id,
            )
    except IntegrityError:
        # Two presses raced for the same item: the first one was stored.
        return PressResult("checkin.already", locale=locale)
    except CheckinClosed:
        return PressResult("checkin.closed", locale=locale)


async def press_back(
    services: Services, user_id: int, message_id: int | None, press: BackPress
) -> PressResult:
    """Take back the latest answer of an open check-in and ask that question again.

    The answer taken back is kept in ``answer_change``; the one given next is the
    answer that counts. Only the latest answer can be taken back, from the check-in's
    own message, while the check-in is open: a forged, stale or repeated "Back"
    changes nothing.
    """
    now = services.clock.now()
    async with services.db.session() as session:
        client = await repo.client_by_user(session, user_id)
        if client is None:
            return PressResult("common.button_invalid")
        locale = client.locale
        checkin = await session.get(CheckIn, press.checkin_id)
        if checkin is None or checkin.client_id != client.id:
            return PressResult("common.button_invalid", locale=locale)
        still_open = checkin.status in OPEN_CHECKIN
        if checkin.message_id is not None and message_id != checkin.message_id:
            return PressResult("checkin.moved" if still_open else "checkin.closed", locale=locale)
        if not still_open:
            return PressResult("checkin.closed", locale=locale)
        if press.item_id not in checkin.item_ids():
            return PressResult("common.button_invalid", locale=locale)
        stored = await repo.answers_of(session, checkin.id or 0)
        answers = answer_map(stored)
        therapy_session = await repo.session_of(session, checkin.session_id)
        ended = local_session_end(therapy_session, client)
        where = (locale, ended)
        screen = await _go_back(session, services, checkin, stored, press.item_id, where, now)
        if screen is None:
            # A second tap, or a "Back" on a screen that has moved on: show where it is now.
            return _now_showing(services, checkin, answers, ended, locale)
        return PressResult("checkin.back_done", screen, locale=locale)


async def _go_back(
    session: AsyncSession,
    services: Services,
    checkin: CheckIn,
    stored: Sequence[Answer],
    item_id: str | None,
    where: tuple[str, datetime],
    now: datetime,
) -> Screen | None:
    """Take back the latest answer (if it is ``item_id``'s, when given) and keep it as changed.

    Returns the screen asking that question again, or None when there is nothing to take
    back: no answer given with a button yet, another item's answer is the latest, or the
    check-in closed in the meantime. ``where``: the client's locale and local session end.
    """
    locale, ended = where
    answers = answer_map(stored)
    latest = last_answered(services.instrument, checkin.item_ids(), answers)
    taken = next((a for a in stored if latest is not None and a.item_id == latest.id), None)
    if taken is None or (item_id is not None and taken.item_id != item_id):
        return None
    if not await _take_back(session, checkin, taken):
        return None
    session.add(
        AnswerChange(
            checkin_id=checkin.id or 0,
            item_id=taken.item_id,
            value=taken.value,
            skipped=taken.skipped,
            answered_at=taken.answered_at,
            changed_at=now,
        )
    )
    del answers[taken.item_id]
    return question_screen(services, checkin, locale, answers, ended)


async def _take_back(session: AsyncSession, checkin: CheckIn, taken: Answer) -> bool:
    """Delete one answer while the check-in is still open; False if someone was first."""
    connection = await session.connection()
    table = CheckIn.__table__  # type: ignore[attr-defined]
    still_open = await connection.execute(
        update(table)
        .where(table.c.id == checkin.id)
        .where(table.c.status.in_(OPEN_CHECKIN))
        .values(status=table.c.status)
    )
    if still_open.rowcount != 1:
        return False
    answers = Answer.__table__  # type: ignore[attr-defined]
    removed = await connection.execute(answers.delete().where(answers.c.id == taken.id))
    if removed.rowcount != 1:
        return False
    session.expunge(taken)
    return True


def _now_showing(
    services: Services,
    checkin: CheckIn,
    answers: Mapping[str, int | None],
    ended: datetime,
    locale: str,
) -> PressResult:
    """Nothing to take back: the tap is told so and the message shows the check-in as it is."""
    screen = question_screen(services, checkin, locale, answers, ended)
    return PressResult("checkin.back_stale", screen, locale=locale)


@dataclass
class BackResult:
    """What /back did: the reply's text key and, when an answer was taken back, where the
    check-in message is and the question it shows again."""

    notice_key: str
    chat_id: int | None = None
    message_id: int | None = None
    screen: Screen | None = None


async def back_command(services: Services, client: Client) -> BackResult:
    """/back: take back the latest answer of the client's open check-in, as "Back" does.

    The check-in is the newest one the client has been sent and not finished; its
    message then asks that question again. With no check-in open, or nothing answered
    yet, nothing changes and the reply says so.
    """
    now = services.clock.now()
    async with services.db.session() as session:
        shown = [
            checkin
            for checkin in await repo.open_checkins_of(session, client.id or 0)
            if checkin.status != CheckinState.QUEUED
        ]
        if not shown:
            return BackResult("checkin.back_none")
        checkin = shown[-1]
        stored = await repo.answers_of(session, checkin.id or 0)
        if not stored:
            return BackResult("checkin.back_first")
        therapy_session = await repo.session_of(session, checkin.session_id)
        where = (client.locale, local_session_end(therapy_session, client))
        screen = await _go_back(session, services, checkin, stored, None, where, now)
        if screen is None:  # a typed note is the latest, or the check-in just closed
            return BackResult("checkin.back_stale")
        return BackResult(
            "checkin.back_command_done",
            chat_id=client.chat_id or client.telegram_user_id,
            message_id=checkin.message_id,
            screen=screen,
        )


@dataclass
class CommentResult:
    """A typed comment was taken: where the check-in message is and what it shows now."""

    chat_id: int
    message_id: int | None
    screen: Screen
    checkin_id: int
    # The comment was the last item: the check-in is complete (counted in the metrics).
    completed: bool = False


async def take_comment(services: Services, user_id: int, text: str) -> CommentResult | None:
    """Store a typed message as the comment of the client's open check-in, if one is waiting."""
    try:
        return await _take_comment(services, user_id, text)
    except CheckinClosed:
        return None  # closed in the same moment: the text is treated as not awaited


async def _take_comment(services: Services, user_id: int, text: str) -> CommentResult | None:
    now = services.clock.now()
    async with services.db.session() as session:
        client = await repo.client_by_user(session, user_id)
        if client is None or client.status not in PARTICIPATING:
            return None
        for checkin in reversed(await repo.open_checkins_of(session, client.id or 0)):
            answers = answer_map(await repo.answers_of(session, checkin.id or 0))
            item = services.instrument.next_item(checkin.item_ids(), answers)
            if item is None or item.kind != "text":
                continue
            clipped = text[:MAX_COMMENT_CHARS]
            session.add(
                Answer(
                    checkin_id=checkin.id or 0,
                    item_id=item.id,
                    value=None,
                    text_ciphertext=services.cipher.encrypt(
                        clipped,
                        context=answer_text_context(checkin.id or 0, client.id or 0, item.id),
                    ),
                    answered_at=now,
                )
            )
            answers[item.id] = None
            screen, completed = await _move_on(session, services, checkin, client, answers, now)
            return CommentResult(
                chat_id=client.chat_id or user_id,
                message_id=checkin.message_id,
                screen=screen,
                checkin_id=checkin.id or 0,
                completed=completed,
            )
    return None


@dataclass(frozen=True)
class AwaitedButtons:
    """A check-in waits for a button; ``can_go_back``: /back has an answer to take back."""

    can_go_back: bool


async def awaiting_buttons(services: Services, user_id: int) -> AwaitedButtons | None:
    """Whether the client has a check-in open at a question answered with buttons."""
    async with services.db.session() as session:
        client = await repo.client_by_user(session, user_id)
        if client is None:
            return None
        for checkin in await repo.open_checkins_of(session, client.id or 0):
            if checkin.status == CheckinState.QUEUED:
                continue
            answers = answer_map(await repo.answers_of(session, checkin.id or 0))
            item = services.instrument.next_item(checkin.item_ids(), answers)
            if item is not None and item.kind != "text":
                previous = last_answered(services.instrument, checkin.item_ids(), answers)
                return AwaitedButtons(can_go_back=previous is not None)
    return None


async def wants_client_item(
    session: AsyncSession, client_id: int, sequence: int, one_in: int
) -> bool:
    """Whether a new check-in asks the client whether they talked about the relationship.

    Yes in the first check-in after a suggested relationship conversation (no check-in of
    theirs fell due since it was made, bot.digest.loop), and in about one check-in in
    ``one_in`` otherwise (CONVERSATION_ITEM_ONE_IN; a seeded choice,
    bot.core.conversation_loop.asked_rarely), so being asked does not mean being flagged.
    """
    if one_in > 0 and asked_rarely(client_id, sequence, one_in):
        return True
    previous = (
        await session.exec(select(func.max(CheckIn.due_at)).where(CheckIn.client_id == client_id))
    ).one()
    query = select(ConversationSuggestion.id).where(ConversationSuggestion.client_id == client_id)
    if previous is not None:
        query = query.where(col(ConversationSuggestion.created_at) > previous)
    return (await session.exec(query.limit(1))).first() is not None
