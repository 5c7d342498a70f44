"""Short notes to a therapist when a client joins, declines, leaves or can no longer be reached.

They go through the outbox in the same transaction as the change they report, so a
note is queued exactly when the change is stored, and is sent on the next dispatcher
run. Only the alias is named: the therapist knows who that is, Telegram need not.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sending import outbox
from bot.services import Services
from storage import repo
from storage.models import Client, Therapist

# "rejoined": the person who held this alias before, back with the same Telegram account;
# "joined_new": someone else under an alias given again (``former`` names the earlier record).
EVENTS = ("joined", "rejoined", "joined_new", "declined", "left", "unreachable")


async def tell_therapist(
    session: AsyncSession,
    services: Services,
    client: Client,
    event: str,
    now: datetime,
    *,
    former: str = "",
) -> bool:
    """Queue the note about ``event`` for the client's therapist; True if queued."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    therapist = await session.get(Therapist, client.therapist_id)
    if therapist is None or therapist.unreachable_at is not None:
        return False
    text = services.texts.render(
        therapist.locale,
        f"therapist.client_{event}",
        alias=repo.shown_as(client),
        former=former,
    )
    return await outbox.enqueue(
        session,
        services.cipher,
        kind="notice",
        # One note per event and moment: a client may leave, rejoin and leave again.
        dedupe_key=f"notice:{client.id}:{event}:{now.isoformat()}",
        message=outbox.Outgoing(therapist.chat_id, text),
        now=now,
        therapist_id=therapist.id,
    )
