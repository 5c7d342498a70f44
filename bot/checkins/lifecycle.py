"""What a delivery changes: where a sent check-in now lives, and what a blocked bot stops.

These are the hooks the outbox sender calls after Telegram accepted (or refused with 403)
a batch of messages; ``sender_of`` builds the process's one Sender with them. The moves
themselves (which state may follow which) are storage.states.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import BindParameter, bindparam, case, func, or_, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.checkins.conversation import (
    close_checkins,
)
from bot.notices import tell_therapist
from bot.sending.sender import Delivered, OutboxRow, Sender
from bot.services import Services
from storage.models import (
    CheckIn,
    Client,
    Therapist,
)
from storage.states import OPEN_CHECKIN, CheckinState, is_one_of, sources
from storage.types import UTCDateTime

# The writes of on_sent, built once with bound parameters (one set per row, executemany):
# building a statement and its cache key per batch cost more than running it.
_NOW = bindparam("b_now", type_=UTCDateTime())
_MAY_BECOME_SENT = is_one_of(col(CheckIn.status), sources(CheckinState.SENT))
_MESSAGE: BindParameter[Any] = bindparam("b_message")
_CHAT: BindParameter[Any] = bindparam("b_chat")
# A first send: the check-in becomes "sent", as this message, now. One answered (or
# closed) before that keeps its status, but it was sent, and as this message (a press on
# it already recorded the same id): the digest counts sent_at. One statement for both
# (every SET sees the row as it was), guarded so a check-in already marked sent by an
# earlier delivery is left alone.
_FIRST_SENT = (
    update(CheckIn)
    .where(col(CheckIn.id) == bindparam("b_id"))
    .where(or_(_MAY_BECOME_SENT, col(CheckIn.sent_at).is_(None)))
    .values(
        status=case((_MAY_BECOME_SENT, CheckinState.SENT), else_=col(CheckIn.status)),
        message_id=case(
            (_MAY_BECOME_SENT, _MESSAGE), else_=func.coalesce(col(CheckIn.message_id), _MESSAGE)
        ),
        chat_id=case((_MAY_BECOME_SENT, _CHAT), else_=func.coalesce(col(CheckIn.chat_id), _CHAT)),
        sent_at=_NOW,
    )
)
# The reminder carries the check-in on: presses on the older message now say so.
_REMINDED = (
    update(CheckIn)
    .where(col(CheckIn.id) == bindparam("b_id"))
    .where(is_one_of(col(CheckIn.status), OPEN_CHECKIN))
    .values(message_id=bindparam("b_message"), chat_id=bindparam("b_chat"))
)


async def on_sent(session: AsyncSession, delivered: Sequence[Delivered], now: datetime) -> None:
    """Record where check-ins (or their reminders) now live, so presses can be checked.

    One guarded UPDATE per kind for the whole batch, never a write of rows loaded earlier:
    the client may answer, or even finish, a check-in between Telegram accepting the
    message and this write, and that later status must stay.
    """
    first: list[dict[str, Any]] = []
    again: list[dict[str, Any]] = []
    for item in delivered:
        row = item.row
        if row.checkin_id is None or row.kind not in ("checkin", "reminder"):
            continue
        params = {
            "b_id": row.checkin_id,
            "b_message": item.message_id,
            "b_chat": item.chat_id,
            "b_now": now,
        }
        (first if row.kind == "checkin" else again).append(params)
    if not first and not again:
        return
    connection = await session.connection()
    if first:
        await connection.execute(_FIRST_SENT, first)
    if again:
        await connection.execute(_REMINDED, again)


async def on_unreachable(
    session: AsyncSession, row: OutboxRow, now: datetime, services: Services | None = None
) -> None:
    """A 403: the person blocked the bot; stop trying and tell the therapist."""
    if row.client_id is not None:
        client = await session.get(Client, row.client_id)
        if client is not None and client.unreachable_at is None:
            client.unreachable_at = now
            if services is not None:
                await tell_therapist(session, services, client, "unreachable", now)
    if row.therapist_id is not None:
        therapist = await session.get(Therapist, row.therapist_id)
        if therapist is not None and therapist.unreachable_at is None:
            therapist.unreachable_at = now
    if row.checkin_id is not None:
        checkin = await session.get(CheckIn, row.checkin_id)
        if checkin is not None and checkin.status in OPEN_CHECKIN:
            await close_checkins(session, [checkin], CheckinState.CANCELLED, now)


def new_sender(services: Services, bot: Any) -> Sender:
    """Build the process's one Sender, with these hooks, and keep it on the services."""
    sender = Sender(
        services,
        bot,
        on_sent=on_sent,
        on_unreachable=partial(on_unreachable, services=services),
    )
    services.sender = sender
    return sender


def sender_of(services: Services, bot: Any) -> Sender:
    """The process's one Sender: the one built at wiring time (bot.app), or, for a process
    without an Application (a second worker in a test), one built now and kept."""
    if isinstance(services.sender, Sender):
        return services.sender
    return new_sender(services, bot)
