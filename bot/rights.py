"""Client rights: a copy of everything stored (/mydata), erasure (/delete), renewed consent
and retention.

- ``/mydata`` sends the client one JSON document with every row the bot holds about
  them, comments decrypted, as a file in the chat.
- ``/delete`` asks for confirmation; the confirming button is bound to the client and
  to the minute it was offered, so a stale, replayed or forged press erases nothing.
  Erasure removes every row that refers to the client, found by following the
  schema's foreign keys from the client row (so a table added later is covered
  without touching this module), and queues a short note to the therapist.
- When the privacy notice changes (``enrolment.PRIVACY_NOTICE_VERSION``), a client who
  agreed to an older version is asked again before their next check-in; the check-in
  waits for the answer. Declining leaves the check-ins.
- :func:`housekeeping` runs on every dispatcher pass: it wipes the text of messages
  the bot has already delivered (the outbox only needs it until Telegram has it),
  forgets Telegram update ids older than a week, and erases clients who left more
  than ``RETENTION_MONTHS`` months ago.

The audit log records every export and erasure (storage.audit), never their content.
"""

from __future__ import annotations

import calendar
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Table, delete, func, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update

from bot import callbacks, outbox
from bot.clock import SystemClock
from bot.enrolment import PRIVACY_NOTICE_VERSION
from bot.handlers.common import (
    Person,
    acknowledge,
    identify,
    prune_processed_updates,
    reply,
    shows_button,
)
from bot.practice import leave_programme
from bot.services import BotContext, Services
from bot.settings import Settings
from storage import audit, repo
from storage.crypto import DecryptionError, context_for
from storage.models import (
    Alert,
    Answer,
    AnswerChange,
    AuditEvent,
    CheckIn,
    Client,
    Invitation,
    OutboxMessage,
    SessionRating,
    Therapist,
    TherapySession,
    WeeklySchedule,
)

log = logging.getLogger(__name__)

EXPORT_FORMAT: Final = "alliance-checkin/personal-data"
EXPORT_VERSION: Final = 2  # 2: each check-in lists the answers changed with "Back"
# The /delete confirmation is meant to be pressed now, not found weeks later.
ERASE_CONFIRM_WINDOW: Final = timedelta(minutes=30)
# Statuses of clients who no longer take part; RETENTION_MONTHS counts from the change.
DISCHARGED: Final = ("stopped", "declined", "invited")
# Delivered messages lose their text at the next pass; undeliverable ones after a week
# (time enough to look into why Telegram refused them).
PARKED_TEXT_DAYS: Final = 7
RETENTION_BATCH: Final = 50
# Tables whose rows are the therapist's or the system's, never erased with a client.
_NOT_THE_CLIENTS: Final = frozenset({"therapist", "audit_event", "processed_update"})


# --------------------------------------------------------------------------- helpers


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def minute_of(moment: datetime) -> int:
    """Minutes since the epoch: the stamp a /delete confirmation carries."""
    return int(moment.timestamp() // 60)


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (day clamped to the month)."""
    year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def _markup(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


async def _client_or_refuse(update: Update, context: BotContext) -> Person | None:
    """The sender if they are a client (also after leaving); otherwise a short refusal."""
    person = await identify(context.services, update)
    if person.client is None:
        key = "therapist.not_for_therapists" if person.therapist else "common.unknown"
        await reply(update, context, person.locale, key)
        return None
    return person


# --------------------------------------------------------------------------- /mydata


def _comment_context(checkin: CheckIn, item_id: str) -> str:
    # Same binding as checkin_flow.comment_context (kept in step by the rotation test).
    return context_for("answer", checkin=checkin.id, client=checkin.client_id, item=item_id)


def _outbox_text(services: Services, row: OutboxMessage) -> str | None:
    """The text of a queued message, or None once it has been wiped after delivery."""
    if not row.payload_ciphertext:
        return None
    payload = services.cipher.decrypt(
        row.payload_ciphertext, context=outbox._payload_context(row.dedupe_key)
    )
    return outbox.Outgoing.from_json(payload).text


async def export_client(services: Services, client_id: int) -> dict[str, Any] | None:
    """Everything stored about one client, as a JSON-ready document (comments decrypted)."""
    instrument = services.instrument
    async with services.db.session() as session:
        client = await session.get(Client, client_id)
        if client is None:
            return None
        locale = client.locale
        therapist = await session.get(Therapist, client.therapist_id)
        sessions = (
            await session.exec(
                select(TherapySession)
                .where(TherapySession.client_id == client_id)
                .order_by(col(TherapySession.ended_at))
            )
        ).all()
        ratings = {
            r.session_id: r
            for r in (
                await session.exec(
                    select(SessionRating).where(
                        col(SessionRating.session_id).in_([s.id for s in sessions])
                    )
                )
            ).all()
        }
        schedule = (
            await session.exec(select(WeeklySchedule).where(WeeklySchedule.client_id == client_id))
        ).first()
        checkins = (
            await session.exec(
                select(CheckIn).where(CheckIn.client_id == client_id).order_by(col(CheckIn.due_at))
            )
        ).all()
        answers: dict[int, list[Answer]] = {c.id or 0: [] for c in checkins}
        changes: dict[int, list[AnswerChange]] = {c.id or 0: [] for c in checkins}
        for change in (
            await session.exec(
                select(AnswerChange)
                .where(col(AnswerChange.checkin_id).in_(list(changes)))
                .order_by(col(AnswerChange.id))
            )
        ).all():
            changes[change.checkin_id].append(change)
        for answer in (
            await session.exec(
                select(Answer)
                .where(col(Answer.checkin_id).in_(list(answers)))
                .order_by(col(Answer.id))
            )
        ).all():
            answers[answer.checkin_id].append(answer)
        alerts = (
            await session.exec(
                select(Alert).where(Alert.client_id == client_id).order_by(col(Alert.created_at))
            )
        ).all()
        messages = (
            await session.exec(
                select(OutboxMessage)
                .where(
                    or_(
                        col(OutboxMessage.client_id) == client_id,
                        col(OutboxMessage.checkin_id).in_(list(answers)),
                    )
                )
                .order_by(col(OutboxMessage.id))
            )
        ).all()
        invitations = (
            await session.exec(select(Invitation).where(Invitation.client_id == client_id))
        ).all()
        # Suggested relationship conversations are data about the client: theirs to see.
        suggestions = (await repo.suggestions_of(session, [client_id])).get(client_id, [])
        taps = await repo.answers_to_suggestions(session, [r.id or 0 for r in suggestions])
        events = await audit.events(session, client_id=client_id)

    def answer_entry(checkin: CheckIn, answer: Answer) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "question_id": answer.item_id,
            "answered_at": _iso(answer.answered_at),
        }
        if instrument.has_item(answer.item_id):
            item = instrument.item(answer.item_id)
            entry["question"] = instrument.localised(item.text, locale)
            option = item.option(answer.value) if answer.value is not None else None
            if option is not None:
                entry["answer_label"] = instrument.localised(option.label, locale)
        entry["value"] = answer.value
        entry["skipped"] = answer.skipped
        if answer.text_ciphertext is not None:
            try:
                entry["text"] = services.cipher.decrypt(
                    answer.text_ciphertext, context=_comment_context(checkin, answer.item_id)
                )
            except DecryptionError:
                entry["text"] = None
                entry["text_unreadable"] = True
        return entry

    def message_entry(row: OutboxMessage) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": row.kind,
            "status": row.status,
            "queued_at": _iso(row.created_at),
            "sent_at": _iso(row.sent_at),
        }
        try:
            entry["text"] = _outbox_text(services, row)
        except (DecryptionError, ValueError, KeyError):
            entry["text"] = None
            entry["text_unreadable"] = True
        return entry

    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "generated_at": _iso(services.clock.now()),
        "client": {
            "alias": client.alias,
            "status": client.status,
            "status_changed_at": _iso(client.status_changed_at),
            "joined_at": _iso(client.created_at),
            "language": client.locale,
            "language_chosen": client.locale_chosen,
            "time_zone": client.timezone,
            "telegram_user_id": client.telegram_user_id,
            "telegram_chat_id": client.chat_id,
            "consent_at": _iso(client.consent_at),
            "consent_notice_version": client.consent_version,
            "unreachable_since": _iso(client.unreachable_at),
        },
        "therapist": {"name": therapist.name if therapist else None},
        "sessions": [
            {
                "ended_at": _iso(s.ended_at),
                "recorded": s.source,
                "therapist_rating": ratings[s.id].value if s.id in ratings else None,
            }
            for s in sessions
        ],
        "weekly_session": None
        if schedule is None
        else {
            "weekday": schedule.weekday,
            "start_time": schedule.start_time,
            "minutes": schedule.duration_minutes,
            "time_zone": schedule.timezone,
            "active": schedule.active,
        },
        "checkins": [
            {
                "number": c.sequence,
                "questionnaire": c.instrument_id,
                "status": c.status,
                "due_at": _iso(c.due_at),
                "sent_at": _iso(c.sent_at),
                "reminder_sent_at": _iso(c.reminder_sent_at),
                "closed_at": _iso(c.closed_at),
                "answers": [answer_entry(c, a) for a in answers[c.id or 0]],
                "changed_answers": [
                    {
                        "question_id": ch.item_id,
                        "value": ch.value,
                        "skipped": ch.skipped,
                        "answered_at": _iso(ch.answered_at),
                        "changed_at": _iso(ch.changed_at),
                    }
                    for ch in changes[c.id or 0]
                ],
            }
            for c in checkins
        ],
        "risk_alerts": [{"kind": a.kind, "created_at": _iso(a.created_at)} for a in alerts],
        "relationship_conversations": [
            {
                "suggested_at": _iso(r.created_at),
                "about": [d for d in r.domains.split(",") if d],
                "therapist_answer": r.answer,
                "answered_at": _iso(r.answered_at),
                "reason": r.reason,
                "answers": [
                    {"answer": t.answer, "reason": t.reason, "at": _iso(t.answered_at)}
                    for t in taps
                    if t.suggestion_id == r.id
                ],
                "ended_at": _iso(r.closed_at),
                "outcome": r.outcome,
            }
            for r in suggestions
        ],
        "messages": [message_entry(m) for m in messages],
        "invitations": [
            {
                "created_at": _iso(i.created_at),
                "expires_at": _iso(i.expires_at),
                "used_at": _iso(i.used_at),
            }
            for i in invitations
        ],
        "access_log": [_event_entry(e) for e in events],
    }


def _event_entry(event: AuditEvent) -> dict[str, Any]:
    return {"at": _iso(event.at), "by": event.actor_kind, "action": event.action}


async def mydata(update: Update, context: BotContext) -> None:
    """/mydata: a JSON file with everything stored about the client."""
    person = await _client_or_refuse(update, context)
    if person is None or person.client is None:
        return
    services = context.services
    client = person.client
    document = await export_client(services, client.id or 0)
    message = update.effective_message
    if document is None or message is None:
        return
    # The person's records with other therapists (or under an alias they left) are theirs too.
    exported = [(client.id or 0, document)]
    for other in await _other_records(services, client):
        found = await export_client(services, other)
        if found is not None:
            exported.append((other, found))
    if len(exported) > 1:
        document["earlier_records"] = [found for _id, found in exported[1:]]
    data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    async with services.db.session() as session:
        for record_id, record in exported:
            await audit.record(
                session,
                at=services.clock.now(),
                actor_kind="client",
                actor_id=client.id,
                action="client_export",
                client_id=record_id,
                detail=audit.counts(checkins=len(record["checkins"])),
            )
    await message.reply_document(
        InputFile(data, filename="my-data.json"),
        caption=services.texts.render(client.locale, "rights.mydata_caption"),
    )
    # Beside the file, what is in it in a few plain lines: few people open a JSON file.
    await message.reply_text(mydata_summary(services, client.locale, document))


def mydata_summary(services: Services, locale: str, document: dict[str, Any]) -> str:
    """A short readable account of an export: what is stored, in counts and dates."""
    checkins = document["checkins"]
    answered = [c for c in checkins if c["answers"]]
    notes = sum(1 for c in checkins for a in c["answers"] if a.get("text"))
    changed = sum(len(c["changed_answers"]) for c in checkins)
    return services.texts.render(
        locale,
        "rights.mydata_summary",
        therapist=document["therapist"]["name"],
        joined=(document["client"]["joined_at"] or "")[:10],
        sessions=len(document["sessions"]),
        checkins=len(checkins),
        answered=len(answered),
        notes=notes,
        changed=changed,
        alerts=len(document["risk_alerts"]),
        looks=len(document["access_log"]),
    )


# --------------------------------------------------------------------------- /delete


async def delete_command(update: Update, context: BotContext) -> None:
    """/delete: ask for confirmation before erasing everything."""
    person = await _client_or_refuse(update, context)
    if person is None or person.client is None:
        return
    texts = context.services.texts
    client = person.client
    stamp = minute_of(context.services.clock.now())
    message = update.effective_message
    assert message is not None
    await message.reply_text(
        texts.render(client.locale, "rights.delete_confirm"),
        reply_markup=_markup(
            [
                [
                    (
                        texts.plain(client.locale, "rights.button_erase"),
                        callbacks.erase(True, client.id or 0, stamp),
                    )
                ],
                [
                    (
                        texts.plain(client.locale, "rights.button_keep"),
                        callbacks.erase(False, client.id or 0, stamp),
                    )
                ],
            ]
        ),
    )


async def _other_records(services: Services, client: Client) -> list[int]:
    """Ids of the person's other client records (one per therapist they were with)."""
    if client.telegram_user_id is None:
        return []
    async with services.db.session() as session:
        records = await repo.records_of_person(session, client.telegram_user_id)
    return [r.id or 0 for r in records if r.id != client.id]


def _table(name: str) -> Table:
    table = SQLModel.metadata.tables[name]
    assert isinstance(table, Table)
    return table


async def _rows_of(session: AsyncSession, client_id: int) -> dict[str, set[int]]:
    """Ids of every row that refers to the client, directly or through another such row."""
    owned: dict[str, set[int]] = {"client": {client_id}}
    for table in SQLModel.metadata.sorted_tables:  # parents before children
        if table.name in _NOT_THE_CLIENTS or table.name in owned or "id" not in table.c:
            continue
        found: set[int] = set()
        for foreign_key in table.foreign_keys:
            parents = owned.get(foreign_key.column.table.name)
            if parents:
                rows = await session.exec(
                    select(table.c.id).where(foreign_key.parent.in_(sorted(parents)))
                )
                found.update(int(row) for row in rows.all())
        if found:
            owned[table.name] = found
    return owned


async def erase_client(
    services: Services,
    client_id: int,
    *,
    actor_kind: audit.ActorKind,
    action: str,
    note: str | None,
) -> dict[str, int] | None:
    """Delete every row tied to a client; returns row counts per table (None if gone already).

    ``note`` names the template of the short note queued for the therapist (None: no note).
    Messages already queued *to the therapist* about this client (a risk alert, a note
    that they left) are still delivered, then lose their text like every sent message.
    """
    now = services.clock.now()
    async with services.db.session() as session:
        client = await session.get(Client, client_id)
        if client is None:
            return None
        therapist = await session.get(Therapist, client.therapist_id)
        alias = repo.shown_as(client)
        owned = await _rows_of(session, client_id)
        counts: dict[str, int] = {}
        for table in reversed(SQLModel.metadata.sorted_tables):  # children before parents
            ids = owned.get(table.name)
            if ids:
                await session.exec(delete(table).where(table.c.id.in_(sorted(ids))))
                counts[table.name] = len(ids)
        await audit.record(
            session,
            at=now,
            actor_kind=actor_kind,
            actor_id=client_id if actor_kind == "client" else None,
            action=action,
            client_id=client_id,
            detail=audit.counts(rows=sum(counts.values()), tables=len(counts)),
        )
        if note is not None and therapist is not None and therapist.unreachable_at is None:
            await outbox.enqueue(
                session,
                services.cipher,
                kind="notice",
                dedupe_key=f"erased:{client_id}:{now.isoformat()}",
                message=outbox.Outgoing(
                    therapist.chat_id,
                    services.texts.render(therapist.locale, note, alias=alias),
                ),
                now=now,
                therapist_id=therapist.id,
            )
    return counts


async def on_press(
    update: Update, context: BotContext, person: Person, press: callbacks.Press
) -> None:
    """The /delete confirmation and the answer to a renewed privacy notice."""
    query = update.callback_query
    assert query is not None
    texts = context.services.texts
    client = person.client
    if isinstance(press, callbacks.ErasePress):
        # Destructive: only from the confirmation message itself, by the client it names.
        if (
            client is None
            or client.id != press.client_id
            or not shows_button(query.message, query.data)
        ):
            await acknowledge(query, texts.plain(person.locale, "common.button_invalid"))
            return
        await _answer_erase(update, context, client, press)
        return
    if isinstance(press, callbacks.NoticePress):
        if client is None:
            await acknowledge(query, texts.plain(person.locale, "common.button_invalid"))
            return
        await _answer_notice(update, context, client, press)
        return
    await acknowledge(query, texts.plain(person.locale, "common.button_invalid"))


async def _edit(update: Update, text: str) -> None:
    """Replace the pressed confirmation with the outcome, if it is that message."""
    query = update.callback_query
    assert query is not None
    if shows_button(query.message, query.data):
        await query.edit_message_text(text, reply_markup=None)


async def _answer_erase(
    update: Update, context: BotContext, client: Client, press: callbacks.ErasePress
) -> None:
    query = update.callback_query
    assert query is not None
    services = context.services
    texts = services.texts
    now = services.clock.now()
    issued = press.issued_minute
    stale = (
        issued > minute_of(now) + 1
        or minute_of(now) - issued > ERASE_CONFIRM_WINDOW.total_seconds() // 60
        # A row id can be reused after an erasure: a button from before this enrolment is stale.
        or issued < minute_of(client.created_at)
    )
    if not press.confirm:
        await acknowledge(query)
        await _edit(update, texts.render(client.locale, "rights.delete_cancelled"))
        return
    if stale:
        await acknowledge(query, texts.plain(client.locale, "rights.delete_stale"))
        await _edit(update, texts.render(client.locale, "rights.delete_stale"))
        return
    locale = client.locale
    others = await _other_records(services, client)
    for record in [client.id or 0, *others]:
        await erase_client(
            services,
            record,
            actor_kind="client",
            action="erase",
            note="rights.therapist_client_erased",
        )
    await acknowledge(query)
    await _edit(update, texts.render(locale, "rights.deleted"))


# --------------------------------------------------------------------------- consent


def consent_outdated(client: Client) -> bool:
    """Whether the client agreed to an older privacy notice than the current one."""
    return client.consent_at is not None and (client.consent_version or 0) < PRIVACY_NOTICE_VERSION


async def ask_consent_again(
    session: AsyncSession, services: Services, client: Client, now: datetime
) -> bool:
    """Queue the new privacy notice with agree/decline buttons (once per version)."""
    if client.chat_id is None:
        return False
    texts = services.texts
    locale = client.locale
    return await outbox.enqueue(
        session,
        services.cipher,
        kind="consent",
        dedupe_key=f"consent:{client.id}:v{PRIVACY_NOTICE_VERSION}",
        message=outbox.Outgoing(
            client.chat_id,
            texts.render(locale, "rights.consent_again"),
            [
                [
                    (
                        texts.plain(locale, "rights.button_consent_yes"),
                        callbacks.notice(True, PRIVACY_NOTICE_VERSION),
                    )
                ],
                [
                    (
                        texts.plain(locale, "rights.button_consent_no"),
                        callbacks.notice(False, PRIVACY_NOTICE_VERSION),
                    )
                ],
            ],
        ),
        now=now,
        client_id=client.id,
    )


async def _answer_notice(
    update: Update, context: BotContext, client: Client, press: callbacks.NoticePress
) -> None:
    query = update.callback_query
    assert query is not None
    services = context.services
    texts = services.texts
    if press.version != PRIVACY_NOTICE_VERSION or not consent_outdated(client):
        # An old notice, or already answered: nothing to change.
        await acknowledge(query, texts.plain(client.locale, "rights.consent_nothing_to_do"))
        return
    now = services.clock.now()
    async with services.db.session() as session:
        fresh = await session.get(Client, client.id)
        if fresh is None:
            await acknowledge(query, texts.plain(client.locale, "common.button_invalid"))
            return
        if press.agree:
            fresh.consent_at = now
            fresh.consent_version = PRIVACY_NOTICE_VERSION
            outcome = "rights.consent_renewed"
        else:
            outcome = "rights.consent_refused"
    if not press.agree:
        await leave_programme(services, client.id or 0)
    await acknowledge(query)
    await _edit(update, texts.render(client.locale, outcome))


# --------------------------------------------------------------------------- housekeeping


async def purge_delivered_text(services: Services, now: datetime) -> int:
    """Wipe the stored text of messages already delivered (or that never can be)."""
    parked_before = now - timedelta(days=PARKED_TEXT_DAYS)
    done = or_(
        col(OutboxMessage.status).in_(("sent", "failed")),
        (col(OutboxMessage.status) == "parked") & (col(OutboxMessage.created_at) < parked_before),
    )
    async with services.db.session() as session:
        result = await session.exec(
            update(OutboxMessage)
            .where(done)
            .where(func.length(col(OutboxMessage.payload_ciphertext)) > 0)
            .values(payload_ciphertext=b"")
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def discharged_clients(services: Services, now: datetime) -> Sequence[int]:
    """Clients who stopped taking part (or could not be reached) RETENTION_MONTHS ago."""
    months = services.settings.retention_months
    if months <= 0:
        return []
    cutoff = months_before(now, months)
    async with services.db.session() as session:
        rows = await session.exec(
            select(Client.id)
            .where(
                or_(
                    col(Client.status).in_(DISCHARGED) & (col(Client.status_changed_at) < cutoff),
                    col(Client.unreachable_at) < cutoff,
                )
            )
            .order_by(col(Client.id))
            .limit(RETENTION_BATCH)
        )
        return [int(cid) for cid in rows.all() if cid is not None]


async def housekeeping(services: Services, now: datetime) -> int:
    """Wipe delivered text, forget old update ids and apply the retention period; returns how
    many clients were erased."""
    await purge_delivered_text(services, now)
    await prune_processed_updates(services)
    erased = 0
    for client_id in await discharged_clients(services, now):
        counts = await erase_client(
            services,
            client_id,
            actor_kind="system",
            action="erase_retention",
            note="rights.therapist_client_expired",
        )
        if counts is not None:
            erased += 1
    if erased:
        log.info("retention: erased %d discharged client(s)", erased)
    return erased


# --------------------------------------------------------------------------- audit log


async def audit_read(
    services: Services,
    therapist: Therapist,
    action: str,
    *,
    alias: str | None = None,
    detail: str | None = None,
) -> None:
    """Record that a therapist read or exported client data (the client by id, never alias)."""
    async with services.db.session() as session:
        client_id = None
        if alias is not None:
            found = await repo.client_by_alias(session, therapist.id or 0, alias)
            client_id = found.id if found is not None else None
        await audit.record(
            session,
            at=services.clock.now(),
            actor_kind="therapist",
            actor_id=therapist.id,
            action=action,
            client_id=client_id,
            detail=detail,
        )


def cmd_audit(settings: Settings, days: int) -> int:
    """`alliance-checkin audit`: print the last days of the audit log, one event a line."""
    import asyncio

    from storage.db import Database

    async def _read() -> list[AuditEvent]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                since = SystemClock().now() - timedelta(days=max(days, 0))
                return list(await audit.events(session, since=since, limit=100_000))
        finally:
            await db.dispose()

    events = asyncio.run(_read())
    if not events:
        print(f"no audit events in the last {max(days, 0)} days")
    for event in events:
        actor = event.actor_kind + (f"#{event.actor_id}" if event.actor_id is not None else "")
        about = f" client#{event.client_id}" if event.client_id is not None else ""
        detail = f" {event.detail}" if event.detail else ""
        print(f"{event.at.isoformat()} {actor} {event.action}{about}{detail}")
    return 0
