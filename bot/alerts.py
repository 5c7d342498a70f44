"""The immediate alert for severe strain: at most one per check-in; everything else waits.

After each answer a client gives, the check-in is judged with everything before it
(``bot.core.strain.assess_checkin_alert``). Only the severe end — a lot of tension
not talked through, or several core domains low at once — alerts the therapist at
once; milder strain goes into the weekly digest, so that alerts keep their meaning.
An ``Alert`` row (unique per client and check-in) makes the alert happen once,
whichever answer tipped it and however many workers run. Risk language is handled
separately by ``bot.safety`` (keys ``risk:…``); these use ``strain:<check-in id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot import outbox
from bot.core.digest import render_alert
from bot.core.instrument import Instrument
from bot.core.scoring import CheckinRecord
from bot.core.strain import ClientHistory, assess_checkin_alert, assess_strain
from bot.digest_service import load_histories
from bot.services import Services
from storage.models import Alert, CheckIn, Client, Therapist


def alert_key(checkin_id: int) -> str:
    """The dedupe key of a check-in's strain alert."""
    return f"strain:{checkin_id}"


def could_alert(
    instrument: Instrument, answers: Mapping[str, int | None], instrument_id: str, now: datetime
) -> bool:
    """Whether these answers alone are severe enough for an immediate alert.

    Severity is decided by the check-in's own answers (a lot of tension not talked
    through, or several core domains low); earlier check-ins shape the reasons shown,
    not whether the alert is due. So a check-in that is not severe on its own can never
    alert, and the full judgement (which reads the client's history) is skipped for it:
    the common case, on every answer.
    """
    record = CheckinRecord(
        checkin_id=0,
        sequence=1,
        session_end=now,
        due_at=now,
        status="pending",
        answers=answers,
        has_comment=False,
        instrument_id=instrument_id,
    )
    alone = ClientHistory(
        client_id=0,
        alias="",
        locale="en",
        enrolled_at=now,
        status="active",
        status_since=None,
        checkins=(record,),
    )
    return assess_checkin_alert(alone, instrument)


async def after_answer(
    services: Services,
    checkin_id: int,
    answers: Mapping[str, int | None] | None = None,
    instrument_id: str | None = None,
) -> bool:
    """Queue the therapist's alert if this check-in now shows severe strain; True if queued.

    With the check-in's ``answers`` (and its ``instrument_id``) at hand, a check-in that
    cannot be severe is dismissed without touching the database.
    """
    now = services.clock.now()
    if (
        answers is not None
        and instrument_id is not None
        and not could_alert(services.instrument, answers, instrument_id, now)
    ):
        return False
    key = alert_key(checkin_id)
    try:
        async with services.db.session() as session:
            checkin = await session.get(CheckIn, checkin_id)
            client = await session.get(Client, checkin.client_id) if checkin else None
            if checkin is None or client is None or client.id is None:
                return False
            therapist = await session.get(Therapist, client.therapist_id)
            if therapist is None or therapist.unreachable_at is not None:
                return False
            seen = await session.exec(
                select(Alert.id).where(Alert.client_id == client.id).where(Alert.dedupe_key == key)
            )
            if seen.first() is not None:
                return False
            histories = await load_histories(
                session,
                services.cipher,
                therapist.id or 0,
                comments_since=None,
                client_ids=[client.id],
            )
            if not histories:
                return False
            # Judge this check-in as the newest: the next session's check-in may already
            # be waiting to be sent, and must not hide this one.
            history = replace(
                histories[0],
                checkins=tuple(c for c in histories[0].checkins if c.sequence <= checkin.sequence),
            )
            if not assess_checkin_alert(history, services.instrument):
                return False
            assessment = assess_strain(history, services.instrument, now)
            session.add(Alert(client_id=client.id, kind="strain", dedupe_key=key, created_at=now))
            await session.flush()
            text = render_alert(
                services.texts,
                therapist.locale,
                client.alias,
                assessment,
                ZoneInfo(therapist.timezone),
            )
            return await outbox.enqueue(
                session,
                services.cipher,
                kind="alert",
                dedupe_key=f"alert:{client.id}:{key}",
                message=outbox.Outgoing(therapist.chat_id, text),
                now=now,
                client_id=client.id,
                therapist_id=therapist.id,
            )
    except IntegrityError:
        return False  # another worker queued this alert a moment ago
