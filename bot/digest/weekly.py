"""Reading a therapist's clients for the digest, rendering its triage, and one client's detail.

Stored rows become the plain data the pure core judges (``ClientHistory`` with every
``CheckinRecord``, because a client's baseline needs their history) in three
queries per therapist, however many clients and check-ins there are. Judging and
wording live in ``bot.core.strain`` and ``bot.core.digest``; a detail's chart is drawn in a
worker thread so the event loop keeps answering people meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, assert_never
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.sql import Executable
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from bot import callbacks
from bot.core.chart import render_trend_chart
from bot.core.conversation_loop import SuggestionRecord, summary_month
from bot.core.digest import (
    COMMENTS_PER_CLIENT,
    Digest,
    DigestEntry,
    chart_labels,
    comments_from,
    compose_digest,
    detail_entries,
    render_detail,
    render_digest,
)
from bot.core.instrument import Instrument
from bot.core.scoring import CheckinRecord, CheckinStatus
from bot.core.strain import DEFAULT_SETTINGS, ClientHistory, ClientStatus
from bot.digest import loop as loop_records
from bot.services import Services
from storage import repo
from storage.crypto import Cipher, DecryptionError, answer_text_context
from storage.models import (
    Alert,
    Answer,
    CheckIn,
    Client,
    SessionRating,
    Therapist,
    TherapySession,
)
from storage.states import PARTICIPATING, CheckinState, ClientState

log = logging.getLogger(__name__)

DIGEST_PERIOD = timedelta(days=7)
# Comments are quoted from the period, or back to the start of a strain the rules
# still remember (bot.core.digest._comments), never from further back than this; of
# those, only the ones the digest quotes are decrypted.
COMMENT_WINDOW = DIGEST_PERIOD + timedelta(days=DEFAULT_SETTINGS.strain_memory_days)
# The digest reads each client's latest check-ins only: the chart's twelve, each
# judged against the eight before it (StrainSettings.baseline_window), with room to
# spare. No rule looks back further (strain is remembered 28 days), so a weekly
# client who answers most check-ins is judged exactly as on their whole history,
# and a caseload of years costs no more to read than one of months.
HISTORY_DEPTH = 24

# Bound parameters per statement stay well below SQLite's and asyncpg's limits (~32,000).
_ID_LIST_LIMIT = 5000
# How the strain rules read a client's stored state (a declined invitation reads as stopped).
CLIENT_STATUS: Mapping[ClientState, ClientStatus] = {
    ClientState.ACTIVE: "active",
    ClientState.PAUSED: "paused",
    ClientState.STOPPED: "stopped",
    ClientState.INVITED: "invited",
    ClientState.DECLINED: "stopped",
}


def record_status(status: CheckinState, sent: bool, answered: bool) -> CheckinStatus:
    """A stored check-in's state as the strain rules read it.

    Only a check-in that reached the client and closed without any answer counts
    as unanswered (the withdrawal rule); one closed before it was ever sent
    (cancelled, or superseded in the queue) says nothing about the client.
    """
    match status:
        case (
            CheckinState.SCHEDULED
            | CheckinState.QUEUED
            | CheckinState.SENT
            | CheckinState.ANSWERING
        ):
            return "pending"
        case CheckinState.COMPLETED:
            return "completed"
        case CheckinState.EXPIRED | CheckinState.CANCELLED:
            if answered:
                return "partial"
            if status == CheckinState.EXPIRED and sent:
                return "unanswered"
            return "expired"
        case _:
            assert_never(status)


def _client_status(
    status: ClientState, unreachable_at: datetime | None, changed_at: datetime | None
) -> tuple[ClientStatus, datetime | None]:
    """The client's state for the rules, and since when (a blocked bot shows as unreachable)."""
    if unreachable_at is not None and status in PARTICIPATING:
        return "unreachable", unreachable_at
    return CLIENT_STATUS[status], changed_at


async def _rows(session: AsyncSession, statement: Executable) -> Iterable[Any]:
    """A read as plain rows on the session's connection, to be iterated once.

    Going past the ORM's result processing matters here: a digest reads thousands of
    rows per therapist, and each row through the ORM cost more than reading it. The
    rows are handed out one at a time from the fetched buffer rather than as a list,
    so each lives only while it is used (thousands of rows alive at once would keep
    the garbage collector busy for the rest of the digest).
    """
    if session.autoflush:
        # As the ORM would before a query: the read sees what this session wrote.
        await session.flush()
    connection = await session.connection()
    return await connection.execute(statement)


@dataclass(slots=True)
class _Row:
    """One check-in while it is being assembled."""

    checkin_id: int
    client_id: int
    sequence: int
    status: CheckinState
    due_at: datetime
    sent: bool
    instrument_id: str
    session_end: datetime
    rating: int | None
    answers: dict[str, int | None] = field(default_factory=dict)
    has_comment: bool = False
    comment: str | None = None


async def _load_rows(session: AsyncSession, in_scope: ColumnElement[bool]) -> dict[int, _Row]:
    """The check-ins matching ``in_scope``, each with its session end, rating and answers."""
    rows: dict[int, _Row] = {}
    checkins = await _rows(
        session,
        # Columns, not entities (sqlmodel's select() is typed for at most four columns).
        Select(
            col(CheckIn.id),
            col(CheckIn.client_id),
            col(CheckIn.sequence),
            col(CheckIn.status),
            col(CheckIn.due_at),
            col(CheckIn.sent_at).is_not(None),
            col(CheckIn.instrument_id),
            col(TherapySession.ended_at),
            col(SessionRating.value),
        )
        .join(TherapySession, col(TherapySession.id) == col(CheckIn.session_id))
        .outerjoin(SessionRating, col(SessionRating.session_id) == col(CheckIn.session_id))
        .where(in_scope),
    )
    for cid, client_id, sequence, status, due, sent, instrument_id, ended, rating in checkins:
        rows[cid] = _Row(
            cid, client_id, sequence, status, due, bool(sent), instrument_id, ended, rating
        )
    if not rows:
        return rows
    answers_query = select(
        Answer.checkin_id,
        Answer.item_id,
        Answer.value,
        col(Answer.text_ciphertext).is_not(None),
    )
    if len(rows) <= _ID_LIST_LIMIT:
        # The ids just read: cheaper than evaluating the scope a second time.
        answers_query = answers_query.where(col(Answer.checkin_id).in_(list(rows)))
    else:
        # Too many ids for one statement's bound parameters.
        answers_query = answers_query.join(
            CheckIn, col(CheckIn.id) == col(Answer.checkin_id)
        ).where(in_scope)
    for checkin_id, item_id, value, has_text in await _rows(session, answers_query):
        row = rows.get(checkin_id)
        if row is not None:
            row.answers[item_id] = value
            row.has_comment = row.has_comment or bool(has_text)
    return rows


async def _add_anchors(session: AsyncSession, rows: dict[int, _Row], client_ids: list[int]) -> None:
    """For a client silent throughout the loaded window, add their last answered check-in.

    It keeps "this client used to answer" true (the withdrawal rule, "no check-ins yet")
    without reading the whole history of everyone.
    """
    answered = {row.client_id for row in rows.values() if row.answers or row.has_comment}
    silent = [cid for cid in client_ids if cid not in answered]
    if not silent:
        return
    found = await _rows(
        session,
        select(CheckIn.client_id, func.max(CheckIn.sequence))
        .join(Answer, col(Answer.checkin_id) == col(CheckIn.id))
        .where(col(CheckIn.client_id).in_(silent))
        .group_by(col(CheckIn.client_id)),
    )
    latest = list(found)
    if not latest:
        return
    anchors = await _load_rows(
        session,
        or_(
            *(
                (col(CheckIn.client_id) == client_id) & (col(CheckIn.sequence) == sequence)
                for client_id, sequence in latest
            )
        ),
    )
    rows.update(anchors)


async def load_histories(
    session: AsyncSession,
    cipher: Cipher,
    therapist_id: int,
    *,
    comments_since: datetime | None,
    client_ids: Collection[int] | None = None,
    depth: int | None = None,
) -> list[ClientHistory]:
    """A therapist's clients (all, or some) with their check-ins, oldest first.

    ``depth`` limits each client to their latest check-ins (None: every one).
    Comments are decrypted for sessions that ended at or after ``comments_since``
    (None: none are decrypted). Declined invitations are left out: nothing about
    those people is kept.
    """
    which: list[ColumnElement[bool]] = [
        col(Client.therapist_id) == therapist_id,
        col(Client.status) != ClientState.DECLINED,
    ]
    if client_ids is not None:
        which.append(col(Client.id).in_(list(client_ids)))
    found = await _rows(
        session,
        Select(
            col(Client.id),
            col(Client.alias),
            col(Client.alias_key),
            col(Client.locale),
            col(Client.consent_at),
            col(Client.created_at),
            col(Client.status),
            col(Client.unreachable_at),
            col(Client.status_changed_at),
        )
        .where(*which)
        .order_by(col(Client.alias)),
    )
    clients = list(found)
    if not clients:
        return []
    # A subquery rather than a list of ids keeps each statement small however big the caseload.
    mine = (
        select(Client.id)
        .where(Client.therapist_id == therapist_id)
        .where(Client.status != ClientState.DECLINED)
    )
    if client_ids is not None:
        mine = mine.where(col(Client.id).in_(list(client_ids)))

    in_scope: ColumnElement[bool] = col(CheckIn.client_id).in_(mine)
    if depth is not None:
        ranked = (
            select(
                col(CheckIn.id).label("checkin_id"),
                func.row_number()
                .over(partition_by=col(CheckIn.client_id), order_by=col(CheckIn.sequence).desc())
                .label("rank"),
            )
            .where(col(CheckIn.client_id).in_(mine))
            .subquery()
        )
        in_scope = col(CheckIn.id).in_(select(ranked.c.checkin_id).where(ranked.c.rank <= depth))
    rows = await _load_rows(session, in_scope)
    if depth is not None:
        await _add_anchors(session, rows, [c.id for c in clients])

    wanted = [
        row.checkin_id
        for row in rows.values()
        if row.has_comment and comments_since is not None and row.session_end >= comments_since
    ]
    if wanted:
        texts = await _rows(
            session,
            select(Answer.checkin_id, Answer.item_id, Answer.text_ciphertext)
            .where(col(Answer.checkin_id).in_(wanted))
            .where(col(Answer.text_ciphertext).is_not(None)),
        )
        for checkin_id, item_id, token in texts:
            row = rows.get(checkin_id)
            if row is None or token is None:
                continue
            try:
                row.comment = cipher.decrypt(
                    token, context=answer_text_context(checkin_id, row.client_id, item_id)
                )
            except DecryptionError:
                # Shown as "a comment was left" rather than failing the whole digest.
                log.warning("comment of check-in %s could not be decrypted", checkin_id)

    by_client: dict[int, list[CheckinRecord]] = {c.id: [] for c in clients}
    for row in sorted(rows.values(), key=lambda r: (r.client_id, r.sequence)):
        answered = bool(row.answers) or row.has_comment
        by_client.setdefault(row.client_id, []).append(
            CheckinRecord(
                checkin_id=row.checkin_id,
                sequence=row.sequence,
                session_end=row.session_end,
                due_at=row.due_at,
                status=record_status(row.status, row.sent, answered),
                answers=row.answers,
                has_comment=row.has_comment,
                comment=row.comment,
                therapist_rating=row.rating,
                instrument_id=row.instrument_id,
            )
        )
    histories = []
    for (
        client_id,
        alias,
        key,
        locale,
        consent_at,
        created_at,
        status,
        unreachable,
        changed,
    ) in clients:
        state, since = _client_status(status, unreachable, changed)
        histories.append(
            ClientHistory(
                client_id=client_id,
                # A former client whose alias was given again is shown as "alex~2026-06-02".
                alias=repo.display_alias(alias, key),
                locale=locale,
                enrolled_at=consent_at or created_at,
                status=state,
                status_since=since,
                checkins=tuple(by_client.get(client_id, ())),
            )
        )
    return histories


def core_domains(instrument: Instrument) -> list[str]:
    """The domains a trend chart draws: those of the core scale items, in file order."""
    core = [item for item in instrument.items if item.core and item.kind == "scale"]
    return list(dict.fromkeys(item.domain for item in core))


async def chart_png(services: Services, locale: str, entry: DigestEntry, tz: ZoneInfo) -> bytes:
    """One client's trend chart, drawn in a worker thread (matplotlib is CPU-bound)."""
    labels = chart_labels(
        services.texts, locale, entry.history.alias, core_domains(services.instrument)
    )
    return await asyncio.to_thread(
        render_trend_chart, entry.history, services.instrument, entry.assessment, labels, tz
    )


@dataclass
class DigestOutput:
    """A rendered digest: the triage (HTML), and the buttons under its last message: a
    name per conversation-level client (its detail), then a row of answers per suggested
    conversation waiting for one (bot.digest.loop.loop_keyboard)."""

    texts: list[str]
    buttons: list[list[tuple[str, str]]]
    clients: int


@dataclass
class DetailOutput:
    """One client's detail as the therapist asked for it: HTML messages, the answer
    buttons of their suggested conversation under the last one, and a chart."""

    texts: list[str]
    buttons: list[list[tuple[str, str]]]
    chart: tuple[str, bytes] | None


# Names per row under the triage: three fit a phone's width with aliases of up to 12.
NAMES_PER_ROW = 3


async def period_alerts(
    session: AsyncSession,
    therapist_id: int,
    start: datetime,
    end: datetime,
    client_ids: Collection[int] | None = None,
) -> tuple[dict[int, datetime], set[int]]:
    """Alerts sent about a therapist's clients in the period: when each client's latest
    risk-language alert was raised, and which clients had an immediate strain alert."""
    query = (
        select(Alert.client_id, Alert.kind, func.max(Alert.created_at))
        .join(Client, col(Client.id) == col(Alert.client_id))
        .where(col(Client.therapist_id) == therapist_id)
        .where(col(Alert.created_at) > start)
        .where(col(Alert.created_at) <= end)
        .group_by(col(Alert.client_id), col(Alert.kind))
    )
    if client_ids is not None:
        query = query.where(col(Alert.client_id).in_(list(client_ids)))
    risks: dict[int, datetime] = {}
    alerted: set[int] = set()
    for client_id, kind, latest in await _rows(session, query):
        if kind == "risk":
            risks[client_id] = latest
        else:
            alerted.add(client_id)
    return risks, alerted


async def _judged(
    services: Services, therapist: Therapist, now: datetime, *, client_ids: list[int] | None
) -> tuple[Digest, Mapping[int, Sequence[SuggestionRecord]]]:
    """The therapist's clients (or just ``client_ids``) read and judged at ``now``, with
    their conversation-loop records and the period's alerts; no comment decrypted."""
    therapist_id = therapist.id or 0
    async with services.db.session() as session:
        histories = await load_histories(
            session,
            services.cipher,
            therapist_id,
            comments_since=None,
            client_ids=client_ids,
            depth=HISTORY_DEPTH,
        )
        loops = await loop_records.load_loops(session, [h.client_id for h in histories])
        risks, alerted = await period_alerts(
            session, therapist_id, now - DIGEST_PERIOD, now, client_ids=client_ids
        )
    digest = compose_digest(
        histories,
        services.instrument,
        now,
        services.strain,
        loops=loops,
        risks=risks,
        alerted=alerted,
    )
    return digest, loops


async def compose_for(services: Services, therapist: Therapist, now: datetime) -> Digest:
    """Judge every client of a therapist at ``now``, most concerning first.

    No comment is decrypted: judging needs only whether one was left, and the triage
    quotes none (``client_detail`` decrypts the few a detail quotes).

    The conversation loop is settled on the way: suggestions are made for clients who
    newly need a relationship conversation, marked shown, and closed once over
    (bot.digest.loop); once a month the digest carries the loop's summary.
    """
    digest, loops = await _judged(services, therapist, now, client_ids=None)
    digest = await loop_records.settle(services, therapist.id or 0, digest, loops, now)
    month = summary_month(now - DIGEST_PERIOD, now, ZoneInfo(therapist.timezone))
    if month is not None:
        summary = await loop_records.monthly_summary(
            services, therapist.id or 0, month[0], month[1]
        )
        if summary.suggested:  # a month without suggestions needs no line
            digest = replace(digest, summary=summary)
    # The triage quotes no comment: none is decrypted for it (a detail decrypts its own).
    return digest


async def _with_quoted_comments(
    services: Services, digest: Digest, start: datetime, end: datetime
) -> Digest:
    """The digest with the comments it will quote decrypted: per client, newest first,
    until ``COMMENTS_PER_CLIENT`` of them read as text (bot.core.digest._comments)."""
    oldest = end - COMMENT_WINDOW
    candidates: dict[int, list[CheckinRecord]] = {}
    for index, entry in enumerate(digest.entries):
        first = max(comments_from(entry, start), oldest)
        found = [
            c
            for c in reversed(entry.history.checkins)
            if c.has_comment and first <= c.session_end <= end
        ]
        if found:
            candidates[index] = found
    if not candidates:
        return digest
    wanted = [c.checkin_id for found in candidates.values() for c in found]
    tokens: dict[int, list[tuple[str, bytes]]] = {}
    async with services.db.session() as session:
        for checkin_id, item_id, token in await _rows(
            session,
            select(Answer.checkin_id, Answer.item_id, Answer.text_ciphertext)
            .where(col(Answer.checkin_id).in_(wanted))
            .where(col(Answer.text_ciphertext).is_not(None)),
        ):
            tokens.setdefault(checkin_id, []).append((item_id, token))
    entries = list(digest.entries)
    for index, found in candidates.items():
        history = entries[index].history
        texts: dict[int, str] = {}
        for record in found:
            if sum(1 for text in texts.values() if text) >= COMMENTS_PER_CLIENT:
                break
            for item_id, token in tokens.get(record.checkin_id, ()):
                context = answer_text_context(record.checkin_id, history.client_id, item_id)
                try:
                    texts[record.checkin_id] = services.cipher.decrypt(token, context=context)
                except DecryptionError:
                    # Shown as "a comment was left" rather than failing the whole digest.
                    log.warning("comment of check-in %s could not be decrypted", record.checkin_id)
        if texts:
            checkins = tuple(
                replace(c, comment=texts[c.checkin_id]) if c.checkin_id in texts else c
                for c in history.checkins
            )
            entries[index] = replace(entries[index], history=replace(history, checkins=checkins))
    return replace(digest, entries=tuple(entries))


def _render(services: Services, therapist: Therapist, digest: Digest, now: datetime) -> list[str]:
    tz = ZoneInfo(therapist.timezone)
    return render_digest(
        services.texts, therapist.locale, digest, therapist.name, now - DIGEST_PERIOD, now, tz
    )


async def digest_texts(services: Services, therapist: Therapist, now: datetime) -> list[str]:
    """The digest as HTML messages ready to send (no charts)."""
    return _render(services, therapist, await compose_for(services, therapist, now), now)


def detail_rows(services: Services, locale: str, digest: Digest) -> list[list[tuple[str, str]]]:
    """A button per conversation-level client, in triage order: tapping it brings the detail."""
    names = [
        (
            services.texts.plain(locale, "digest.detail_button", alias=entry.history.alias),
            callbacks.detail(entry.history.client_id),
        )
        for entry in detail_entries(digest)
    ]
    return [names[i : i + NAMES_PER_ROW] for i in range(0, len(names), NAMES_PER_ROW)]


async def weekly_digest(services: Services, therapist: Therapist, now: datetime) -> DigestOutput:
    """The triage with its buttons: the names, then the answers to suggested conversations."""
    digest = await compose_for(services, therapist, now)
    texts = _render(services, therapist, digest, now)
    buttons = detail_rows(services, therapist.locale, digest)
    buttons += loop_records.loop_keyboard(services.texts, therapist.locale, digest)
    return DigestOutput(texts, buttons, len(digest.entries))


async def client_detail(
    services: Services, therapist: Therapist, client_id: int, now: datetime
) -> DetailOutput | None:
    """One client's detail now, for their own therapist; None for anyone else's client or
    one no longer there. Reads and renders only: nothing about the loop is changed."""
    start = now - DIGEST_PERIOD
    digest, _loops = await _judged(services, therapist, now, client_ids=[client_id])
    if not digest.entries:
        return None
    # Only the comments the detail quotes are decrypted.
    digest = await _with_quoted_comments(services, digest, start, now)
    entry = digest.entries[0]
    tz = ZoneInfo(therapist.timezone)
    locale = therapist.locale
    texts = render_detail(services.texts, locale, entry, start, now, tz)
    chart = None
    if entry.chart_wanted:
        caption = services.texts.render(locale, "digest.chart_caption", alias=entry.history.alias)
        chart = (caption, await chart_png(services, locale, entry, tz))
    return DetailOutput(texts, loop_records.detail_buttons(services.texts, locale, entry), chart)
