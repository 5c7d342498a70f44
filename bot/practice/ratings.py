"""The therapist's own view of a session: an optional one-tap rating, off unless /rate on.

When a therapist has switched it on, every session (recorded with /session or
from a weekly schedule) is followed by one message with buttons 1–5. The rating is
stored per session (``SessionRating``) and the strain rules compare it with the
client's own answers (docs/clinical.md, rule 7): therapists and clients often see
the same session differently, and the client's view predicts outcome best.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import callbacks
from bot.notices import queue_for_therapist
from bot.services import Services
from storage import repo
from storage.models import Client, SessionRating, Therapist, TherapySession

RATING_VALUES = (1, 2, 3, 4, 5)

Buttons = list[list[tuple[str, str]]]


@dataclass
class RatingPrompt:
    """The rating question for one session: HTML text and one row of buttons."""

    text: str
    buttons: Buttons


def prompt(
    services: Services, therapist: Therapist, client: Client, therapy_session: TherapySession
) -> RatingPrompt:
    """The one-tap rating question about a session, in the therapist's language and time."""
    texts, locale = services.texts, therapist.locale
    ended = therapy_session.ended_at.astimezone(ZoneInfo(therapist.timezone))
    return RatingPrompt(
        texts.render(locale, "rating.prompt", alias=client.alias, ended=ended),
        [
            [
                (
                    texts.plain(locale, "rating.button", value=value),
                    callbacks.rating(therapy_session.id or 0, value),
                )
                for value in RATING_VALUES
            ]
        ],
    )


async def queue_prompt(
    session: AsyncSession,
    services: Services,
    client: Client,
    therapy_session: TherapySession,
    now: datetime,
) -> bool:
    """Queue the rating question after a scheduled session, if the therapist wants it."""
    therapist = await session.get(Therapist, client.therapist_id)
    if therapist is None or not therapist.rates_sessions or therapist.unreachable_at is not None:
        return False
    question = prompt(services, therapist, client, therapy_session)
    return await queue_for_therapist(
        session,
        services,
        therapist,
        question.text,
        kind="rating",
        dedupe_key=f"rating:{therapy_session.id}",
        now=now,
        buttons=question.buttons,
    )


async def latest_prompt(
    services: Services, therapist_id: int, client_id: int
) -> RatingPrompt | None:
    """The rating question for the session just recorded with /session, if wanted."""
    async with services.db.session() as session:
        therapist = await session.get(Therapist, therapist_id)
        client = await session.get(Client, client_id)
        if therapist is None or client is None or not therapist.rates_sessions:
            return None
        latest = await session.exec(
            select(TherapySession)
            .where(TherapySession.client_id == client_id)
            .order_by(col(TherapySession.created_at).desc(), col(TherapySession.id).desc())
            .limit(1)
        )
        therapy_session = latest.first()
        if therapy_session is None:
            return None
        return prompt(services, therapist, client, therapy_session)


async def set_preference(services: Services, therapist_id: int, on: bool) -> None:
    """Switch the after-session rating question on or off for a therapist."""
    async with services.db.session() as session:
        therapist = await session.get(Therapist, therapist_id)
        if therapist is not None:
            therapist.rates_sessions = on


@dataclass
class RatingResult:
    """Outcome of a rating button: the short answer and, when stored, the message to show."""

    notice: str
    text: str | None = None


async def press_rating(
    services: Services, user_id: int, press: callbacks.RatingPress
) -> RatingResult:
    """Store (or change) the therapist's rating of one of their own clients' sessions."""
    texts = services.texts
    now = services.clock.now()
    locale = "en"
    try:
        async with services.db.session() as session:
            therapist = await repo.therapist_by_user(session, user_id)
            therapy_session = await session.get(TherapySession, press.session_id)
            client = (
                await session.get(Client, therapy_session.client_id) if therapy_session else None
            )
            if therapist is not None:
                locale = therapist.locale
            if (
                therapist is None
                or client is None
                or client.therapist_id != therapist.id
                or press.value not in RATING_VALUES
            ):
                return RatingResult(texts.plain(locale, "common.button_invalid"))
            existing = await session.exec(
                select(SessionRating).where(SessionRating.session_id == press.session_id)
            )
            rating = existing.first()
            if rating is None:
                session.add(
                    SessionRating(session_id=press.session_id, value=press.value, created_at=now)
                )
            else:
                rating.value = press.value  # a second tap corrects the first
            return RatingResult(
                texts.plain(locale, "rating.saved_notice", value=press.value),
                texts.render(locale, "rating.saved", alias=client.alias, value=press.value),
            )
    except IntegrityError:
        # Two taps raced: the first one was stored.
        return RatingResult(texts.plain(locale, "common.button_invalid"))
