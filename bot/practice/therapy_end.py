"""The end of therapy: the therapist ends a client's participation (/end alias, confirmed).

The client's status becomes "stopped", as when a client leaves with /stop, so nothing is
sent to them any more and RETENTION_MONTHS erases their data that many months later;
until then the answers stay in the therapist's records (digest history, /client,
/export). Open and scheduled check-ins are cancelled and the weekly session removed.
The client is thanked, in their language, through the outbox in the same transaction.
"""

from __future__ import annotations

from typing import Literal

from sqlmodel import col, select

from bot.checkins.conversation import close_checkins
from bot.sending import outbox
from bot.services import Services
from storage.models import CheckIn, Client, Therapist, WeeklySchedule
from storage.states import PARTICIPATING, UNCLOSED_CHECKIN, CheckinState, ClientState, move

TAKING_PART = PARTICIPATING
Ended = Literal["done", "not_taking_part", "unknown"]


async def end_participation(services: Services, therapist_id: int, client_id: int) -> Ended:
    """End one of this therapist's clients' participation; the client is thanked."""
    now = services.clock.now()
    async with services.db.session() as session:
        client = await session.get(Client, client_id)
        therapist = await session.get(Therapist, therapist_id)
        if client is None or therapist is None or client.therapist_id != therapist_id:
            return "unknown"
        if client.status not in TAKING_PART:
            return "not_taking_part"
        move(client, ClientState.STOPPED)
        client.status_changed_at = now
        waiting = await session.exec(
            select(CheckIn)
            .where(CheckIn.client_id == client_id)
            .where(col(CheckIn.status).in_(UNCLOSED_CHECKIN))
        )
        await close_checkins(session, list(waiting.all()), CheckinState.CANCELLED, now)
        schedule = (
            await session.exec(select(WeeklySchedule).where(WeeklySchedule.client_id == client_id))
        ).first()
        if schedule is not None:
            schedule.active = False
        if client.chat_id is not None and client.unreachable_at is None:
            text = services.texts.render(
                client.locale,
                "admin.client_therapy_ended",
                name=therapist.name,
                months=services.settings.retention_months,
            )
            await outbox.enqueue(
                session,
                services.cipher,
                kind="notice",
                dedupe_key=f"therapy-ended:{client_id}:{now.isoformat()}",
                message=outbox.Outgoing(client.chat_id, text),
                now=now,
                client_id=client_id,
            )
        return "done"
