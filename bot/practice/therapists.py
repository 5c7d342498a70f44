"""The admin's view of therapists: list them, deactivate one (a leave, a departure), reactivate.

A deactivated therapist keeps everything stored. While deactivated, none of their clients
gets a check-in (open and due ones are cancelled at once, later sessions make none), no
digest is composed for them, and their commands are refused with a short explanation.
Their clients who take part are told kindly, in their own language, and told again when
check-ins resume; the rights commands (/mydata, /delete, /stop) keep working throughout.
The notes go through the outbox in the same transaction as the change they report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.checkins.conversation import close_checkins
from bot.sending import outbox
from bot.services import Services
from storage.models import CheckIn, Client, Therapist
from storage.states import PARTICIPATING, UNCLOSED_CHECKIN, CheckinState

TAKING_PART = PARTICIPATING
Outcome = Literal["done", "unchanged", "unknown"]


@dataclass(frozen=True)
class TherapistLine:
    """One therapist as `therapist list` shows them."""

    id: int
    name: str
    active: bool
    clients_taking_part: int
    registered: datetime
    deactivated_at: datetime | None


async def list_therapists(services: Services) -> list[TherapistLine]:
    """Every therapist, oldest first, with how many clients take part."""
    async with services.db.session() as session:
        therapists = (await session.exec(select(Therapist).order_by(col(Therapist.id)))).all()
        counts = dict(
            (
                await session.exec(
                    select(Client.therapist_id, func.count())
                    .where(col(Client.status).in_(TAKING_PART))
                    .group_by(col(Client.therapist_id))
                )
            ).all()
        )
    return [
        TherapistLine(
            id=t.id or 0,
            name=t.name,
            active=t.deactivated_at is None,
            clients_taking_part=int(counts.get(t.id or 0, 0)),
            registered=t.created_at,
            deactivated_at=t.deactivated_at,
        )
        for t in therapists
    ]


async def _tell(
    session: AsyncSession,
    services: Services,
    *,
    chat_id: int,
    locale: str,
    key: str,
    dedupe: str,
    now: datetime,
    therapist_id: int | None = None,
    client_id: int | None = None,
    **values: object,
) -> None:
    """Queue one note (kind "notice") in the caller's transaction."""
    await outbox.enqueue(
        session,
        services.cipher,
        kind="notice",
        dedupe_key=f"{dedupe}:{now.isoformat()}",
        message=outbox.Outgoing(chat_id, services.texts.render(locale, key, **values)),
        now=now,
        therapist_id=therapist_id,
        client_id=client_id,
    )


async def _reachable_clients(session: AsyncSession, therapist_id: int) -> list[Client]:
    """The therapist's clients who take part and can be written to."""
    found = await session.exec(
        select(Client)
        .where(Client.therapist_id == therapist_id)
        .where(col(Client.status).in_(TAKING_PART))
        .where(col(Client.unreachable_at).is_(None))
        .where(col(Client.chat_id).is_not(None))
        .order_by(col(Client.id))
    )
    return list(found.all())


async def set_active(services: Services, therapist_id: int, active: bool) -> Outcome:
    """Deactivate or reactivate a therapist, telling them and their clients."""
    now = services.clock.now()
    async with services.db.session() as session:
        therapist = await session.get(Therapist, therapist_id)
        if therapist is None:
            return "unknown"
        if (therapist.deactivated_at is None) == active:
            return "unchanged"
        therapist.deactivated_at = None if active else now
        if not active:
            await _cancel_checkins(session, therapist_id, now)
        event = "back" if active else "away"
        for client in await _reachable_clients(session, therapist_id):
            await _tell(
                session,
                services,
                chat_id=client.chat_id or 0,
                locale=client.locale,
                key=f"admin.client_therapist_{event}",
                dedupe=f"therapist-{event}:{client.id}",
                now=now,
                client_id=client.id,
                name=therapist.name,
            )
        if therapist.unreachable_at is None:
            await _tell(
                session,
                services,
                chat_id=therapist.chat_id,
                locale=therapist.locale,
                key="admin.therapist_reactivated" if active else "admin.therapist_deactivated",
                dedupe=f"therapist-{event}:t{therapist.id}",
                now=now,
                therapist_id=therapist.id,
            )
        return "done"


async def _cancel_checkins(session: AsyncSession, therapist_id: int, now: datetime) -> None:
    """Close every check-in of the therapist's clients that is open or waiting to be sent."""
    client_ids = select(Client.id).where(Client.therapist_id == therapist_id)
    pending = await session.exec(
        select(CheckIn)
        .where(col(CheckIn.client_id).in_(client_ids))
        .where(col(CheckIn.status).in_(UNCLOSED_CHECKIN))
    )
    await close_checkins(session, list(pending.all()), CheckinState.CANCELLED, now)


async def inactive_therapist_ids(session: AsyncSession) -> set[int]:
    """Ids of the therapists deactivated now (the dispatcher skips their clients)."""
    found = await session.exec(
        select(Therapist.id).where(col(Therapist.deactivated_at).is_not(None))
    )
    return {therapist_id for therapist_id in found.all() if therapist_id is not None}
