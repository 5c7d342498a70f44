"""The immediate alert for severe strain: at most one per check-in, once it is finished.

A check-in is judged for an alert when it is finished — completed after its last
question, or closed unfinished (expired, or replaced by the next session's) — never
on partial answers in mid check-in, so the alert rests on every answer and carries
the client's note (``bot.core.strain.assess_checkin_alert``). Only the severe end
alerts at once, and only with new information (a client who stays low is alerted
once); milder strain goes into the weekly digest, so that alerts keep their meaning.
An ``Alert`` row (unique per client and check-in) makes the alert happen once,
however many times the check is made and however many workers run. Risk language is
handled separately by ``bot.safety`` (keys ``risk:…``); these use ``strain:<check-in id>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.checkins.conversation import answer_map
from bot.core.digest import render_alert
from bot.core.instrument import Instrument
from bot.core.strain import (
    DEFAULT_SETTINGS,
    StrainSettings,
    assess_checkin_alert,
    assess_strain,
    could_be_severe,
)
from bot.digest.weekly import load_histories
from bot.notices import queue_for_therapist
from bot.services import Services
from storage import repo
from storage.models import Alert, Answer, CheckIn, Client, Therapist, TherapySession
from storage.states import FINISHED_CHECKIN, CheckinState


def alert_key(checkin_id: int) -> str:
    """The dedupe key of a check-in's strain alert."""
    return f"strain:{checkin_id}"


# A check-in in these states is finished: every answer it will get is in.
# How far back a check-in left mid-way is looked for by each sweep.
STALLED_LOOKBACK = timedelta(days=1)


def could_alert(
    instrument: Instrument,
    answers: Mapping[str, int | None],
    instrument_id: str,
    now: datetime,
    settings: StrainSettings = DEFAULT_SETTINGS,
) -> bool:
    """Whether these answers alone could be severe enough for an immediate alert.

    Severity needs the check-in's own answers to be severe (a lot of tension not fully
    talked through, or several core domains low); the client's history only decides
    whether it is new. So a check-in that cannot be severe on its own never alerts, and
    the full judgement (which reads the history) is skipped for it: the common case.
    """
    if instrument_id != instrument.id:
        return False
    return could_be_severe(instrument, answers, now, settings)


async def after_answer(
    services: Services,
    checkin_id: int,
    answers: Mapping[str, int | None] | None = None,
    instrument_id: str | None = None,
    *,
    settled: bool = False,
) -> bool:
    """Queue the therapist's alert if this finished check-in is severe news; True if queued.

    A check-in still being answered is left alone (it is judged when it is finished),
    unless ``settled``: the client left it for the grace period (``sweep_stalled``).
    With the check-in's ``answers`` (and its ``instrument_id``) at hand, a check-in that
    cannot be severe is dismissed without touching the database.
    """
    now = services.clock.now()
    if (
        answers is not None
        and instrument_id is not None
        and not could_alert(services.instrument, answers, instrument_id, now, services.strain)
    ):
        return False
    key = alert_key(checkin_id)
    try:
        async with services.db.session() as session:
            checkin = await session.get(CheckIn, checkin_id)
            if checkin is None or not (
                checkin.status in FINISHED_CHECKIN
                or (settled and checkin.status == CheckinState.ANSWERING)
            ):
                return False
            client = await session.get(Client, checkin.client_id)
            if client is None or client.id is None:
                return False
            therapist = await session.get(Therapist, client.therapist_id)
            if therapist is None or therapist.unreachable_at is not None:
                return False
            seen = await session.exec(
                select(Alert.id).where(Alert.client_id == client.id).where(Alert.dedupe_key == key)
            )
            if seen.first() is not None:
                return False
            therapy_session = await session.get(TherapySession, checkin.session_id)
            histories = await load_histories(
                session,
                services.cipher,
                therapist.id or 0,
                comments_since=therapy_session.ended_at if therapy_session else None,
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
            if not assess_checkin_alert(
                history, services.instrument, services.strain, settled=settled
            ):
                return False
            assessment = assess_strain(history, services.instrument, now, services.strain)
            comment = next(
                (c.comment for c in history.checkins if c.checkin_id == checkin_id), None
            )
            session.add(Alert(client_id=client.id, kind="strain", dedupe_key=key, created_at=now))
            await session.flush()
            text = render_alert(
                services.texts,
                therapist.locale,
                client.alias,
                assessment,
                ZoneInfo(therapist.timezone),
                comment=comment,
            )
            return await queue_for_therapist(
                session,
                services,
                therapist,
                text,
                kind="alert",
                dedupe_key=f"alert:{client.id}:{key}",
                now=now,
                client_id=client.id,
            )
    except IntegrityError:
        return False  # another worker queued this alert a moment ago


async def after_close(services: Services, checkin_ids: Iterable[int]) -> int:
    """Judge check-ins just closed unfinished (expired or replaced); how many alerted."""
    queued = 0
    for checkin_id in checkin_ids:
        queued += await after_answer(services, checkin_id)
    return queued


async def sweep_stalled(services: Services, now: datetime) -> int:
    """Judge check-ins the client left mid-way for the grace period; how many alerted.

    A severe answer need not wait days for the check-in to expire: once the client has
    given no answer for ``alert_grace_minutes`` (time to type a note), the answers so
    far are judged as if the check-in had closed. Each check-in still alerts at most
    once, and the cheap check on its own answers comes first.
    """
    grace = timedelta(minutes=services.strain.alert_grace_minutes)
    last_answer = func.max(Answer.answered_at)
    async with services.db.session() as session:
        stalled = (
            await session.exec(
                select(CheckIn.id, CheckIn.instrument_id)
                .join(Answer, col(Answer.checkin_id) == col(CheckIn.id))
                .where(CheckIn.status == CheckinState.ANSWERING)
                .group_by(col(CheckIn.id), col(CheckIn.instrument_id))
                # Left within the last day: older ones were judged then (or close soon).
                .having(last_answer <= now - grace)
                .having(last_answer > now - grace - STALLED_LOOKBACK)
            )
        ).all()
        answers = {
            checkin_id: answer_map(await repo.answers_of(session, checkin_id or 0))
            for checkin_id, _ in stalled
        }
    queued = 0
    for checkin_id, instrument_id in stalled:
        queued += await after_answer(
            services, checkin_id or 0, answers[checkin_id], instrument_id, settled=True
        )
    return queued
