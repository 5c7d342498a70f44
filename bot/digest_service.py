"""Gathering a therapist's digest from the database and queuing it for sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.services import Services
from storage import repo
from storage.models import Answer, CheckIn, Therapist

DIGEST_PERIOD = timedelta(days=7)


@dataclass
class ClientSummary:
    """A client's check-ins in the digest period, newest last."""

    alias: str
    status: str
    checkins: list[tuple[CheckIn, dict[str, int | None]]]


async def gather(services: Services, therapist: Therapist, now: datetime) -> list[ClientSummary]:
    """Each client of the therapist with the check-ins due in the last seven days."""
    since = now - DIGEST_PERIOD
    async with services.db.session() as session:
        clients = [
            c for c in await repo.clients_of(session, therapist.id or 0) if c.status != "declined"
        ]
        ids = [c.id for c in clients]
        by_client: dict[int, list[CheckIn]] = {cid: [] for cid in ids if cid is not None}
        answers: dict[int, dict[str, int | None]] = {}
        if ids:
            rows = await session.exec(
                select(CheckIn)
                .where(col(CheckIn.client_id).in_(ids))
                .where(col(CheckIn.due_at) > since)
                .where(col(CheckIn.due_at) <= now)
                .where(col(CheckIn.sent_at).is_not(None))
                .order_by(col(CheckIn.due_at))
            )
            checkins = list(rows.all())
            for checkin in checkins:
                by_client[checkin.client_id].append(checkin)
                answers[checkin.id or 0] = {}
            if checkins:
                for answer in (
                    await session.exec(
                        select(Answer).where(col(Answer.checkin_id).in_([c.id for c in checkins]))
                    )
                ).all():
                    answers[answer.checkin_id][answer.item_id] = answer.value
    return [
        ClientSummary(
            alias=c.alias,
            status=c.status,
            checkins=[(ci, answers[ci.id or 0]) for ci in by_client[c.id or 0]],
        )
        for c in clients
    ]


async def digest_texts(services: Services, therapist: Therapist, now: datetime) -> list[str]:
    """The digest as HTML messages ready to send."""
    summaries = await gather(services, therapist, now)
    tz = ZoneInfo(therapist.timezone)
    scale_items = [i for i in services.instrument.items if i.kind != "text"]
    return [
        services.texts.render(
            therapist.locale,
            "digest_basic.body",
            summaries=summaries,
            items=scale_items,
            tz=tz,
            period_start=(now - DIGEST_PERIOD).astimezone(tz),
            period_end=now.astimezone(tz),
        )
    ]
