"""The one way a message for a therapist is queued (``queue_for_therapist``: notes, alerts,
rating questions), and the short notes when a client joins, declines, leaves or can no
longer be reached (``tell_therapist``).

They go through the outbox in the same transaction as the change they report, so a
note is queued exactly when the change is stored, and is sent on the next dispatcher
run. Only the alias is named: the therapist knows who that is, Telegram need not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sending import outbox
from bot.services import Services
from storage import repo
from storage.models import Client, Therapist

# "rejoined": the person who held this alias before, back with the same Telegram account;
# "joined_new": someone else under an alias given again (``former`` names the earlier record).
EVENTS = ("joined", "rejoined", "joined_new", "declined", "left", "unreachable")


async def queue_for_therapist(
    session: AsyncSession,
    services: Services,
    therapist: Therapist,
    text: str,
    *,
    kind: str,
    dedupe_key: str,
    now: datetime,
    buttons: Sequence[Sequence[tuple[str, str]]] = (),
    client_id: int | None = None,
) -> bool:
    """Queue a message for this therapist in the caller's transaction; True if queued.

    The row names the therapist, so a 403 on it marks *them* unreachable. ``client_id``
    names the client it is about only where a 403 should mark the client too (never for
    a risk alert). Nothing is queued twice under one ``dedupe_key``.
    """
    return await outbox.enqueue(
        session,
        services.cipher,
        kind=kind,
        dedupe_key=dedupe_key,
        message=outbox.Outgoing(therapist.chat_id, text, buttons),
        now=now,
        client_id=client_id,
        therapist_id=therapist.id,
    )


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
    return await queue_for_therapist(
        session,
        services,
        therapist,
        text,
        kind="notice",
        # One note per event and moment: a client may leave, rejoin and leave again.
        dedupe_key=f"notice:{client.id}:{event}:{now.isoformat()}",
        now=now,
    )
