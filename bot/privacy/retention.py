"""Retention: :func:`housekeeping` runs on every periodic pass. It wipes the text of messages
the bot has already delivered (the outbox only needs it until Telegram has it), forgets
Telegram update ids older than a week, and erases clients who left more than the retention
period (``RETENTION_MONTHS``) ago.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, or_, update
from sqlmodel import col, select

from bot.privacy.rights import erase_client
from bot.services import Services
from bot.updates import prune_processed_updates
from storage.models import (
    Client,
    OutboxMessage,
)
from storage.states import DISCHARGED, OutboxState

log = logging.getLogger(__name__)


# Statuses of clients who no longer take part; RETENTION_MONTHS counts from the change.
# Delivered messages lose their text at the next pass; undeliverable ones after a week
# (time enough to look into why Telegram refused them).
PARKED_TEXT_DAYS: Final = 7
RETENTION_BATCH: Final = 50


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (day clamped to the month)."""
    year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


async def purge_delivered_text(services: Services, now: datetime) -> int:
    """Wipe the stored text of messages already delivered (or that never can be)."""
    parked_before = now - timedelta(days=PARKED_TEXT_DAYS)
    done = or_(
        col(OutboxMessage.status).in_((OutboxState.SENT, OutboxState.FAILED)),
        (col(OutboxMessage.status) == OutboxState.PARKED)
        & (col(OutboxMessage.created_at) < parked_before),
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
