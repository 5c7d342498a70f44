"""The one sending path for everything the bot initiates: check-ins, reminders, digests, alerts.

A message is first written to the ``outbox`` table (payload encrypted, with a
dedupe key so the same logical message is queued once), then claimed, sent and
marked with Telegram's message id. Replies to a person's own action (a command,
a button press) go straight back through the handler instead.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.services import Services
from storage.crypto import Cipher, DecryptionError, context_for
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 8


@dataclass
class Outgoing:
    """A message to send: HTML text with optional buttons, or a photo/document with caption."""

    chat_id: int
    text: str = ""
    buttons: Sequence[Sequence[tuple[str, str]]] = ()
    photo: bytes | None = None
    document: bytes | None = None
    filename: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise for the encrypted payload column."""
        return json.dumps(
            {
                "chat_id": self.chat_id,
                "text": self.text,
                "buttons": [list(map(list, row)) for row in self.buttons],
                "photo": base64.b64encode(self.photo).decode() if self.photo else None,
                "document": base64.b64encode(self.document).decode() if self.document else None,
                "filename": self.filename,
                "extra": self.extra,
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> Outgoing:
        """Inverse of to_json."""
        data = json.loads(raw)
        return cls(
            chat_id=int(data["chat_id"]),
            text=data["text"],
            buttons=[[(str(t), str(d)) for t, d in row] for row in data["buttons"]],
            photo=base64.b64decode(data["photo"]) if data.get("photo") else None,
            document=base64.b64decode(data["document"]) if data.get("document") else None,
            filename=data.get("filename"),
            extra=data.get("extra") or {},
        )


def keyboard(buttons: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup | None:
    """Inline keyboard from rows of (label, callback data)."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in buttons]
    )


def _payload_context(dedupe_key: str) -> str:
    return context_for("outbox", key=dedupe_key.replace(":", "/").replace("=", "~"))


async def enqueue(
    session: AsyncSession,
    cipher: Cipher,
    *,
    kind: str,
    dedupe_key: str,
    message: Outgoing,
    now: datetime,
    not_before: datetime | None = None,
    checkin_id: int | None = None,
    client_id: int | None = None,
    therapist_id: int | None = None,
) -> bool:
    """Queue a message unless one with the same dedupe key exists; True if queued."""
    existing = await session.exec(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    )
    if existing.first() is not None:
        return False
    session.add(
        OutboxMessage(
            kind=kind,
            chat_id=message.chat_id,
            dedupe_key=dedupe_key,
            payload_ciphertext=cipher.encrypt(
                message.to_json(), context=_payload_context(dedupe_key)
            ),
            checkin_id=checkin_id,
            client_id=client_id,
            therapist_id=therapist_id,
            not_before=not_before or now,
            created_at=now,
        )
    )
    await session.flush()
    return True


SentHook = Callable[[AsyncSession, OutboxMessage, Message, datetime], Awaitable[None]]
FailHook = Callable[[AsyncSession, OutboxMessage, datetime], Awaitable[None]]


async def _claim(services: Services, now: datetime, limit: int) -> list[OutboxMessage]:
    """Atomically take due messages (and ones whose lease expired after a crash)."""
    due = or_(
        (col(OutboxMessage.status) == "pending") & (col(OutboxMessage.not_before) <= now),
        (col(OutboxMessage.status) == "sending") & (col(OutboxMessage.lease_until) < now),
    )
    claim = f"{services.worker_id[:48]}:{uuid.uuid4().hex[:12]}"
    async with services.db.session() as session:
        query = (
            select(OutboxMessage.id, OutboxMessage.status)
            .where(due)
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
        if not services.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        found = list((await session.exec(query)).all())
        if not found:
            return []
        ids = [row_id for row_id, _ in found]
        for row_id, status in found:
            if status == "sending":
                # A worker died between claiming and marking: this may send a duplicate,
                # which is the price of never losing a message (Telegram has no idempotency key).
                log.warning("outbox %s: lease expired; sending again", row_id)
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ids))
            .where(due)
            .values(status="sending", lease_until=now + LEASE, lease_owner=claim)
        )
        rows = await session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ids))
            .where(OutboxMessage.lease_owner == claim)
            .where(OutboxMessage.status == "sending")
        )
        claimed = list(rows.all())
    return claimed


async def _send(bot: Any, message: Outgoing) -> Message:
    markup = keyboard(message.buttons)
    if message.photo is not None:
        return await bot.send_photo(
            message.chat_id,
            photo=InputFile(message.photo, filename=message.filename or "chart.png"),
            caption=message.text or None,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )
    if message.document is not None:
        return await bot.send_document(
            message.chat_id,
            document=InputFile(message.document, filename=message.filename or "export.csv"),
            caption=message.text or None,
            parse_mode=ParseMode.HTML,
        )
    return await bot.send_message(
        message.chat_id, message.text, parse_mode=ParseMode.HTML, reply_markup=markup
    )


async def deliver_due(
    services: Services,
    bot: Any,
    *,
    on_sent: SentHook,
    on_unreachable: FailHook,
    limit: int = 100,
) -> int:
    """Send what is due now; returns how many messages went out."""
    now = services.clock.now()
    claimed = await _claim(services, now, limit)
    sent = 0
    for row in claimed:
        assert row.id is not None
        try:
            payload = services.cipher.decrypt(
                row.payload_ciphertext, context=_payload_context(row.dedupe_key)
            )
            message = Outgoing.from_json(payload)
        except (DecryptionError, ValueError, KeyError):
            log.error("outbox %s: payload unreadable; parked", row.id)
            await _finish(services, row.id, status="parked", error="payload unreadable", now=now)
            continue
        try:
            result = await _send(bot, message)
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            await _finish(
                services,
                row.id,
                status="pending",
                error="rate limited",
                now=now,
                not_before=now + timedelta(seconds=seconds),
                count_attempt=False,
            )
            continue
        except Forbidden:
            log.info("outbox %s: recipient unreachable (%s)", row.id, row.kind)
            async with services.db.session() as session:
                fresh = await session.get(OutboxMessage, row.id)
                if fresh is not None:
                    fresh.status = "failed"
                    fresh.last_error = "recipient blocked the bot"
                    fresh.lease_until = None
                    await on_unreachable(session, fresh, now)
            continue
        except BadRequest as exc:
            log.error("outbox %s: rejected by Telegram (%s); parked", row.id, type(exc).__name__)
            await _finish(services, row.id, status="parked", error="rejected: bad request", now=now)
            continue
        except (TimedOut, NetworkError):
            attempts = row.attempts + 1
            status = "parked" if attempts >= MAX_ATTEMPTS else "pending"
            backoff = timedelta(seconds=min(2**attempts, 900))
            await _finish(
                services,
                row.id,
                status=status,
                error="network error",
                now=now,
                not_before=now + backoff,
            )
            continue
        async with services.db.session() as session:
            fresh = await session.get(OutboxMessage, row.id)
            if fresh is None:
                continue
            fresh.status = "sent"
            fresh.sent_at = now
            fresh.message_id = result.message_id
            fresh.lease_until = None
            fresh.attempts += 1
            await on_sent(session, fresh, result, now)
        sent += 1
    return sent


async def _finish(
    services: Services,
    outbox_id: int,
    *,
    status: str,
    error: str,
    now: datetime,
    not_before: datetime | None = None,
    count_attempt: bool = True,
) -> None:
    async with services.db.session() as session:
        row = await session.get(OutboxMessage, outbox_id)
        if row is None:
            return
        row.status = status
        row.last_error = error
        row.lease_until = None
        if count_attempt:
            row.attempts += 1
        if not_before is not None:
            row.not_before = not_before
