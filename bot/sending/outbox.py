"""The one sending path for everything the bot initiates: check-ins, reminders, digests, alerts.

A message is first written to the ``outbox`` table (payload encrypted, with a
dedupe key so the same logical message is queued once) here; the sender
(bot.sending.sender) then claims it, sends it and marks it with Telegram's message id.
Replies to a person's own action (a command, a button press) go straight back through
the handler instead; both share the process's flood control (bot.sending.flood).

Delivery is at least once. Telegram has no idempotency key, so a worker killed after
its request reached Telegram but before the row was marked leaves the row "sending";
the worker that takes it over sends it again and logs that it may arrive twice. At
most SEND_IN_DOUBT_MAX sends per process (default 1) are in that state at once, so a
crash duplicates at most one message. Rows that were claimed but not yet tried are taken
over silently. A restarted worker takes back its own rows at once, and on PostgreSQL a
worker whose session is gone loses its rows at once (``Presence``); otherwise a row
comes back when its lease expires. See docs/operations.md.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from storage.crypto import Cipher, outbox_payload_context
from storage.models import OutboxMessage
from storage.states import OutboxState

log = logging.getLogger(__name__)


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


def keyboard_json(buttons: Sequence[Sequence[tuple[str, str]]]) -> str:
    """The inline keyboard as the Bot API's ``reply_markup`` JSON (what ``keyboard`` sends)."""
    return json.dumps(
        {
            "inline_keyboard": [
                [{"text": text, "callback_data": data} for text, data in row] for row in buttons
            ]
        }
    )


@dataclass(frozen=True)
class Queued:
    """One message for ``enqueue_many``: what ``enqueue`` takes, less the session and time."""

    kind: str
    dedupe_key: str
    message: Outgoing
    not_before: datetime | None = None
    checkin_id: int | None = None
    client_id: int | None = None
    therapist_id: int | None = None


def _row(cipher: Cipher, queued: Queued, now: datetime) -> dict[str, Any]:
    """The outbox row for a message: its payload encrypted and bound to its dedupe key."""
    return {
        "kind": queued.kind,
        "chat_id": queued.message.chat_id,
        "dedupe_key": queued.dedupe_key,
        "payload_ciphertext": cipher.encrypt(
            queued.message.to_json(), context=outbox_payload_context(queued.dedupe_key)
        ),
        "checkin_id": queued.checkin_id,
        "client_id": queued.client_id,
        "therapist_id": queued.therapist_id,
        "status": OutboxState.PENDING,
        "attempts": 0,
        "not_before": queued.not_before or now,
        "created_at": now,
    }


async def _insert_ignoring_duplicates(session: AsyncSession) -> tuple[AsyncConnection, Any]:
    # INSERT … ON CONFLICT (dedupe_key) DO NOTHING: no read-then-write race between
    # workers. Executed on the session's connection, without autoflush: the rows refer only
    # to rows that already have ids, and flushing the caller's pending changes first would
    # cost a round trip each time.
    connection = await session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    return connection, insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])


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
    queued = Queued(kind, dedupe_key, message, not_before, checkin_id, client_id, therapist_id)
    connection, statement = await _insert_ignoring_duplicates(session)
    result = await connection.execute(statement.values(_row(cipher, queued, now)))
    return bool(result.rowcount == 1)


async def enqueue_many(
    session: AsyncSession, cipher: Cipher, messages: Sequence[Queued], now: datetime
) -> None:
    """Queue many messages in one statement (executemany); a dedupe key that exists already
    is skipped, as in ``enqueue``."""
    if not messages:
        return
    connection, statement = await _insert_ignoring_duplicates(session)
    await connection.execute(statement, [_row(cipher, queued, now) for queued in messages])
