"""Client rights, as use cases: a copy of everything stored (the /mydata export) and erasure
(the /delete confirmation, and retention, erase through :func:`erase_client`).

Erasure removes every row that refers to the client, found by following the schema's
foreign keys from the client row (so a table added later is covered without touching
this module), and queues a short note to the therapist. The chat side (the commands and
their buttons) is bot.handlers.rights; renewed consent is bot.privacy.consent and the
retention period bot.privacy.retention.

The audit log records every export and erasure (storage.audit), never their content.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Table, delete, or_
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import SystemClock
from bot.notices import queue_for_therapist
from bot.sending import outbox
from bot.services import Services
from bot.settings import Settings
from storage import audit, repo
from storage.crypto import DecryptionError, answer_text_context, outbox_payload_context
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
# Tables whose rows are the therapist's or the system's, never erased with a client.
_NOT_THE_CLIENTS: Final = frozenset({"therapist", "audit_event", "processed_update"})


# --------------------------------------------------------------------------- helpers


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def minute_of(moment: datetime) -> int:
    """Minutes since the epoch: the stamp a /delete confirmation carries."""
    return int(moment.timestamp() // 60)


# --------------------------------------------------------------------------- /mydata


def _outbox_text(services: Services, row: OutboxMessage) -> str | None:
    """The text of a queued message, or None once it has been wiped after delivery."""
    if not row.payload_ciphertext:
        return None
    payload = services.cipher.decrypt(
        row.payload_ciphertext, context=outbox_payload_context(row.dedupe_key)
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
                    answer.text_ciphertext,
                    context=answer_text_context(checkin.id, checkin.client_id, answer.item_id),
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


# --------------------------------------------------------------------------- /delete


async def other_records(services: Services, client: Client) -> list[int]:
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
            await queue_for_therapist(
                session,
                services,
                therapist,
                services.texts.render(therapist.locale, note, alias=alias),
                kind="notice",
                dedupe_key=f"erased:{client_id}:{now.isoformat()}",
                now=now,
            )
    return counts


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
