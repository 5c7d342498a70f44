"""Queries the bot uses: small functions that read and write, and decide nothing clinical."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Answer,
    CheckIn,
    Client,
    ConversationAnswer,
    ConversationSuggestion,
    Invitation,
    Therapist,
    TherapySession,
    alias_key,
)
from storage.states import OPEN_CHECKIN, PARTICIPATING

__all__ = ["OPEN_CHECKIN", "PARTICIPATING"]


async def therapist_by_user(session: AsyncSession, user_id: int) -> Therapist | None:
    """The therapist with this Telegram user id."""
    result = await session.exec(select(Therapist).where(Therapist.telegram_user_id == user_id))
    return result.first()


# Marks a released alias key ("alex~2026-06-02"): no alias can contain it.
RELEASED = "~"


async def client_by_user(session: AsyncSession, user_id: int) -> Client | None:
    """The person's current client record: the one taking part, else the latest.

    A person may hold several records (one per therapist they have been with, and
    none of them re-bound to anyone else); at most one takes part at a time.
    """
    records = await records_of_person(session, user_id)
    taking_part = [c for c in records if c.status in PARTICIPATING]
    current = taking_part or records
    return current[0] if current else None


async def records_of_person(session: AsyncSession, user_id: int) -> list[Client]:
    """Every client record linked to this Telegram account, the newest first."""
    result = await session.exec(
        select(Client).where(Client.telegram_user_id == user_id).order_by(col(Client.id).desc())
    )
    return list(result.all())


def display_alias(alias: str, key: str) -> str:
    """How the therapist sees and names a record (its alias and alias key): the alias, plus
    the released suffix of a former client whose alias was given again ("alex~2026-06-02")."""
    _base, mark, suffix = key.partition(RELEASED)
    return f"{alias}{mark}{suffix}" if mark else alias


def shown_as(client: Client) -> str:
    """A client record as the therapist sees and names it (see display_alias)."""
    return display_alias(client.alias, client.alias_key)


def released(client: Client) -> bool:
    """Whether this record's alias was given to someone else (a former client)."""
    return RELEASED in client.alias_key


async def client_by_alias(session: AsyncSession, therapist_id: int, alias: str) -> Client | None:
    """A therapist's client by alias, ignoring case.

    Compared in Python because SQLite's lower() folds only ASCII ("Ärger" ≠ "ärger"),
    and the answer must be the same on both databases; a caseload is small. The stored key
    is compared, so a former client is found by the name they are shown under
    ("alex~2026-06-02") and the current one by the alias.
    """
    wanted = alias_key(alias)
    for client in await clients_of(session, therapist_id):
        if client.alias_key == wanted:
            return client
    return None


async def clients_of(session: AsyncSession, therapist_id: int) -> Sequence[Client]:
    """All clients of a therapist, by alias."""
    result = await session.exec(
        select(Client).where(Client.therapist_id == therapist_id).order_by(col(Client.alias))
    )
    return result.all()


async def invitation_by_hash(session: AsyncSession, token_hash: str) -> Invitation | None:
    """The invitation with this token hash."""
    result = await session.exec(select(Invitation).where(Invitation.token_hash == token_hash))
    return result.first()


async def redeem_invitation(session: AsyncSession, invitation_id: int, now: datetime) -> bool:
    """Mark an invitation used if it is still valid; True for exactly one caller."""
    result = await session.exec(
        update(Invitation)
        .where(col(Invitation.id) == invitation_id)
        .where(col(Invitation.used_at).is_(None))
        .where(col(Invitation.expires_at) > now)
        .values(used_at=now)
    )
    return bool(result.rowcount == 1)


async def revoke_invitations(session: AsyncSession, client_id: int, now: datetime) -> None:
    """Let every unused invitation for this client expire now."""
    await session.exec(
        update(Invitation)
        .where(col(Invitation.client_id) == client_id)
        .where(col(Invitation.used_at).is_(None))
        .where(col(Invitation.expires_at) > now)
        .values(expires_at=now)
    )


async def answers_of(session: AsyncSession, checkin_id: int) -> Sequence[Answer]:
    """Answers of one check-in, in the order given."""
    result = await session.exec(
        select(Answer).where(Answer.checkin_id == checkin_id).order_by(col(Answer.id))
    )
    return result.all()


# Built once: the busiest path of the bot runs them for every tap (see answer_values).
_ANSWER_TABLE = Answer.__table__  # type: ignore[attr-defined]
_ANSWER_VALUES = (
    select(_ANSWER_TABLE.c.item_id, _ANSWER_TABLE.c.value)
    .where(_ANSWER_TABLE.c.checkin_id == bindparam("checkin"))
    .order_by(_ANSWER_TABLE.c.id)
)
_ADD_ANSWER = insert(_ANSWER_TABLE)


async def _connection(db: AsyncSession | AsyncConnection) -> AsyncConnection:
    """The connection to run a plain statement on: a session's own, or the one given."""
    return await db.connection() if isinstance(db, AsyncSession) else db


async def answer_values(
    db: AsyncSession | AsyncConnection, checkin_id: int
) -> dict[str, int | None]:
    """item id → value (None: skipped or typed) of one check-in's answers, in the order given.

    What ``answers_of`` gives as Answer objects, read as two plain columns on the
    session's connection (or a bare connection, as the tap uses): a tap needs only the
    values, and building, tracking and identity-mapping ORM objects for them was a good
    part of its database cost.
    """
    connection = await _connection(db)
    rows = await connection.execute(_ANSWER_VALUES, {"checkin": checkin_id})
    return {item_id: value for item_id, value in rows}


async def add_answer(
    db: AsyncSession | AsyncConnection,
    *,
    checkin_id: int,
    item_id: str,
    value: int | None,
    answered_at: datetime,
    text_ciphertext: bytes | None = None,
) -> None:
    """Store one answer at once with a plain INSERT on the session's connection.

    No Answer object is built or flushed. Raises IntegrityError, there and then, when
    the item has an answer already (two taps racing for the same question).
    """
    connection = await _connection(db)
    await connection.execute(
        _ADD_ANSWER,
        {
            "checkin_id": checkin_id,
            "item_id": item_id,
            "value": value,
            "skipped": value is None and text_ciphertext is None,
            "text_ciphertext": text_ciphertext,
            "answered_at": answered_at,
        },
    )


async def open_checkins_of(session: AsyncSession, client_id: int) -> Sequence[CheckIn]:
    """A client's check-ins that were sent and are not closed yet, oldest first."""
    result = await session.exec(
        select(CheckIn)
        .where(CheckIn.client_id == client_id)
        .where(col(CheckIn.status).in_(OPEN_CHECKIN))
        .order_by(col(CheckIn.due_at))
    )
    return result.all()


async def latest_checkin(session: AsyncSession, client_id: int) -> CheckIn | None:
    """A client's most recently due check-in that was sent."""
    result = await session.exec(
        select(CheckIn)
        .where(CheckIn.client_id == client_id)
        .where(col(CheckIn.sent_at).is_not(None))
        .order_by(col(CheckIn.due_at).desc())
        .limit(1)
    )
    return result.first()


async def checkin_count(session: AsyncSession, client_id: int) -> int:
    """How many check-ins a client has been given so far."""
    result = await session.exec(
        select(func.count()).select_from(CheckIn).where(CheckIn.client_id == client_id)
    )
    return int(result.one())


async def session_of(session: AsyncSession, session_id: int) -> TherapySession | None:
    """A therapy session by id."""
    return await session.get(TherapySession, session_id)


async def suggestions_of(
    session: AsyncSession, client_ids: Sequence[int]
) -> dict[int, list[ConversationSuggestion]]:
    """Every stored conversation suggestion of these clients, oldest first, by client id."""
    found: dict[int, list[ConversationSuggestion]] = {cid: [] for cid in client_ids}
    if not client_ids:
        return found
    rows = await session.exec(
        select(ConversationSuggestion)
        .where(col(ConversationSuggestion.client_id).in_(list(client_ids)))
        .order_by(col(ConversationSuggestion.created_at), col(ConversationSuggestion.id))
    )
    for row in rows.all():
        found.setdefault(row.client_id, []).append(row)
    return found


async def suggestions_of_therapist(
    session: AsyncSession, therapist_id: int, since: datetime, until: datetime
) -> Sequence[ConversationSuggestion]:
    """The therapist's suggestions made in [since, until), oldest first."""
    rows = await session.exec(
        select(ConversationSuggestion)
        .where(ConversationSuggestion.therapist_id == therapist_id)
        .where(col(ConversationSuggestion.created_at) >= since)
        .where(col(ConversationSuggestion.created_at) < until)
        .order_by(col(ConversationSuggestion.created_at), col(ConversationSuggestion.id))
    )
    return rows.all()


async def answers_to_suggestions(
    session: AsyncSession, suggestion_ids: Sequence[int]
) -> list[ConversationAnswer]:
    """Every tap given to these suggestions, in the order given."""
    if not suggestion_ids:
        return []
    rows = await session.exec(
        select(ConversationAnswer)
        .where(col(ConversationAnswer.suggestion_id).in_(list(suggestion_ids)))
        .order_by(col(ConversationAnswer.id))
    )
    return list(rows.all())
