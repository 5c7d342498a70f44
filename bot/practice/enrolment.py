"""Invitations and registration: therapists by admin invitation, clients by therapist invitation."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.notices import tell_therapist
from bot.practice.tokens import hash_token, looks_like_token, new_token
from bot.services import Services
from bot.settings import WEEKDAYS
from bot.texts import pick_locale
from storage import repo
from storage.models import Client, Invitation, Therapist, WeeklySchedule, alias_key
from storage.states import ClientState, move

# Aliases are the therapist's pseudonyms for clients: short, no spaces, no markup,
# no invisible or direction-changing characters (they are not word characters).
ALIAS_PATTERN = re.compile(r"[\w.-]{1,32}")
# Raise this whenever the notice (client.notice in prompts/) changes what it says: every
# client who agreed to an older version is asked again before their next check-in
# (bot/privacy/rights.py). 2: names every stored item, the risk alert, /mydata and /delete.
# 3: says notes are checked for risk words, and that a very hard check-in reaches the
# therapist at once.
PRIVACY_NOTICE_VERSION = 3
# Statuses in which a client takes part; anyone else may enrol again with a new link.
PARTICIPATING = repo.PARTICIPATING


def normalise_alias(alias: str) -> str:
    """NFKC form, so a composed and a decomposed "José" are one alias."""
    return unicodedata.normalize("NFKC", alias.strip())


def valid_alias(alias: str) -> bool:
    """Whether an alias is 1–32 letters, digits, '.', '-' or '_' (after normalising)."""
    return ALIAS_PATTERN.fullmatch(normalise_alias(alias)) is not None


async def create_therapist_invitation(services: Services, name: str) -> str:
    """A single-use therapist invitation; returns the token (shown once, stored hashed)."""
    token = new_token()
    now = services.clock.now()
    async with services.db.session() as session:
        session.add(
            Invitation(
                token_hash=hash_token(token),
                kind="therapist",
                name=name.strip()[:128],
                created_at=now,
                expires_at=now + timedelta(days=services.settings.invitation_ttl_days),
            )
        )
    return token


@dataclass
class InviteResult:
    """Outcome of /invite: a token or the reason there is none."""

    status: str  # "ok" | "alias_invalid" | "alias_active"
    token: str | None = None
    # The name under which a former client of this alias is now kept apart, if there is one.
    former: str | None = None


def holds_a_person(client: Client) -> bool:
    """Whether a record belongs to someone: linked to their account, or holding their consent
    (and so, perhaps, their answers). Such a record is never given to anyone else."""
    return client.telegram_user_id is not None or client.consent_at is not None


async def release_alias(
    session: AsyncSession, client: Client, therapist: Therapist, now: datetime
) -> str:
    """Keep a former client's record apart so its alias can be given again; returns the name
    the therapist now knows it by: the alias and the day they left ("alex~2026-06-02").

    The record keeps its history and its link to its person (their /mydata and /delete keep
    working); only its alias key changes, and every link still open for it stops working.
    """
    left = (client.status_changed_at or now).astimezone(ZoneInfo(therapist.timezone))
    base = f"{alias_key(client.alias)}{repo.RELEASED}{left.date().isoformat()}"
    taken = {c.alias_key for c in await repo.clients_of(session, therapist.id or 0)}
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    client.alias_key = key
    if client.status == ClientState.INVITED:  # a link made before aliases were kept apart
        move(client, ClientState.STOPPED)
    await repo.revoke_invitations(session, client.id or 0, now)
    await session.flush()
    return repo.shown_as(client)


def _new_record(therapist: Therapist, alias: str, now: datetime) -> Client:
    return Client(
        therapist_id=therapist.id or 0,
        alias=alias,
        alias_key=alias_key(alias),
        status=ClientState.INVITED,
        status_changed_at=now,
        timezone=therapist.timezone,
        locale=therapist.locale,
        created_at=now,
    )


async def invite_client(services: Services, therapist: Therapist, alias: str) -> InviteResult:
    """Create (or renew) a client invitation under an alias unique for this therapist.

    An alias whose client has left may be given again, but never with that client's
    record: the new link leads to a new, empty record, and the former one is kept apart
    (release_alias) until its own person comes back through the link (answer_consent).
    """
    if not valid_alias(alias):
        return InviteResult("alias_invalid")
    alias = normalise_alias(alias)
    now = services.clock.now()
    token = new_token()
    former = None
    async with services.db.session() as session:
        client = await repo.client_by_alias(session, therapist.id or 0, alias)
        if client is not None and client.status in PARTICIPATING:
            return InviteResult("alias_active")
        if client is not None and holds_a_person(client):
            former = await release_alias(session, client, therapist, now)
            client = None
        else:
            earlier = await _kept_apart(session, therapist.id or 0, alias_key(alias))
            former = repo.shown_as(earlier[0]) if earlier else None
        if client is not None:
            # Only the newest link for an alias works: an older one may have gone astray.
            await repo.revoke_invitations(session, client.id or 0, now)
        if client is None:
            client = _new_record(therapist, alias, now)
            session.add(client)
            try:
                await session.flush()
            except IntegrityError:
                # Another invitation under the same alias (ignoring case) was stored between
                # the look-up above and this insert: the unique key on (therapist, alias key)
                # lets exactly one through, and this one is told the alias is taken.
                await session.rollback()
                return InviteResult("alias_active")
        else:
            move(client, ClientState.INVITED)
            client.status_changed_at = now
        session.add(
            Invitation(
                token_hash=hash_token(token),
                kind="client",
                client_id=client.id,
                created_at=now,
                expires_at=now + timedelta(days=services.settings.invitation_ttl_days),
            )
        )
    return InviteResult("ok", token, former)


@dataclass
class StartResult:
    """What /start <token> led to."""

    status: str  # "therapist_registered" | "client_consent" | "already_enrolled" | "invalid"
    therapist_name: str = ""
    locale: str = "en"


async def _valid_invitation(services: Services, token: str, now: datetime) -> Invitation | None:
    if not looks_like_token(token):
        return None
    async with services.db.session() as session:
        invitation = await repo.invitation_by_hash(session, hash_token(token))
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= now:
        return None
    return invitation


async def start_with_token(
    services: Services, user_id: int, chat_id: int, language_code: str | None, token: str
) -> StartResult:
    """Handle /start <token>: register a therapist, or show a client the consent step.

    Someone already taking part is told so before the token is even looked at, so
    the answer says nothing about the link (a therapist trying their own client's
    link must not use it up).
    """
    now = services.clock.now()
    if await _participating(services, user_id):
        return StartResult("already_enrolled")
    invitation = await _valid_invitation(services, token, now)
    if invitation is None:
        return StartResult("invalid")
    locale = pick_locale(language_code, services.texts.locales)
    async with services.db.session() as session:
        if invitation.kind == "therapist":
            if await repo.client_by_user(session, user_id):
                # One Telegram account, one role: a second role would make every button
                # ambiguous (a client who left is still linked to their answers).
                return StartResult("invalid")
            if not await repo.redeem_invitation(session, invitation.id or 0, now):
                return StartResult("invalid")
            session.add(
                Therapist(
                    telegram_user_id=user_id,
                    chat_id=chat_id,
                    name=invitation.name or "",
                    locale=locale,
                    timezone=services.settings.default_timezone,
                    digest_weekday=_weekday_index(services.settings.default_digest_weekday),
                    digest_time=services.settings.default_digest_time,
                    created_at=now,
                )
            )
            try:
                await session.flush()
            except IntegrityError:
                await session.rollback()
                return StartResult("invalid")
            return StartResult("therapist_registered", invitation.name or "", locale)
        client = await session.get(Client, invitation.client_id)
        if client is None:
            return StartResult("invalid")
        therapist = await session.get(Therapist, client.therapist_id)
        return StartResult("client_consent", therapist.name if therapist else "", locale)


def _weekday_index(name: str) -> int:
    return WEEKDAYS.index(name)


async def _participating(services: Services, user_id: int) -> bool:
    """Whether this Telegram user is a therapist or a client taking part."""
    async with services.db.session() as session:
        if await repo.therapist_by_user(session, user_id):
            return True
        client = await repo.client_by_user(session, user_id)
        return client is not None and client.status in PARTICIPATING


async def answer_consent(
    services: Services,
    user_id: int,
    chat_id: int,
    language_code: str | None,
    token: str,
    agree: bool,
) -> str:
    """Record the client's choice; returns "agreed", "declined" or "invalid".

    The invitation is redeemed only here, atomically, so of two people (or two
    taps) racing with one link exactly one wins; a second tap by the winner gets
    the same answer again. A client who declines leaves nothing behind but the
    used invitation. Someone who left the programme may join again with a new link.

    Identity rests on the person: a record that holds someone's history is bound to no
    one else. Whoever agrees gets the invitation's empty record, except the person whose
    former record was kept apart under this alias, who takes up their own record again.
    """
    now = services.clock.now()
    if not looks_like_token(token):
        return "invalid"
    async with services.db.session() as session:
        invitation = await repo.invitation_by_hash(session, hash_token(token))
        if invitation is None or invitation.kind != "client":
            return "invalid"
        if await repo.therapist_by_user(session, user_id):
            return "invalid"
        previous = await repo.client_by_user(session, user_id)
        if previous is not None and previous.status in PARTICIPATING:
            # Taking part already: a second tap of the winner gets the same answer again;
            # anything else would be a second enrolment of one account.
            same = previous.id == invitation.client_id and previous.status == ClientState.ACTIVE
            return "agreed" if same and agree else "invalid"
        if not await repo.redeem_invitation(session, invitation.id or 0, now):
            # Lost a race; if the winner was this same person, say what they were told.
            winner = await repo.client_by_user(session, user_id)
            if (
                agree
                and winner is not None
                and winner.id == invitation.client_id
                and winner.status == ClientState.ACTIVE
            ):
                return "agreed"
            return "invalid"
        client = await session.get(Client, invitation.client_id)
        therapist = await session.get(Therapist, client.therapist_id) if client else None
        if client is None or therapist is None:
            return "invalid"
        if holds_a_person(client) and client.telegram_user_id != user_id:
            # A link made before aliases were kept apart, on a former client's record:
            # keep that record theirs and give this person a new one under the alias.
            await release_alias(session, client, therapist, now)
            client = _new_record(therapist, client.alias, now)
            session.add(client)
            await session.flush()
        if not agree:
            move(client, ClientState.DECLINED)
            client.status_changed_at = now
            await tell_therapist(session, services, client, "declined", now)
            return "declined"
        event, former = await _whose_record(session, client, user_id)
        if event == "rejoined" and former is not None:
            client = await _take_up(session, client, former)
        client.telegram_user_id = user_id
        client.chat_id = chat_id
        move(client, ClientState.ACTIVE)
        client.status_changed_at = now
        client.unreachable_at = None
        client.consent_at = now
        client.consent_version = PRIVACY_NOTICE_VERSION
        client.locale = pick_locale(language_code, services.texts.locales)
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            return "invalid"
        former_name = repo.shown_as(former) if former is not None else ""
        await tell_therapist(session, services, client, event, now, former=former_name)
    return "agreed"


async def _whose_record(
    session: AsyncSession, client: Client, user_id: int
) -> tuple[str, Client | None]:
    """Who is agreeing under this alias, as the therapist is told: "joined" (the alias is
    new), "rejoined" (the person whose former record this alias kept apart, or who held
    this record) or "joined_new" (someone else than the alias's former client)."""
    if client.telegram_user_id == user_id:
        return "rejoined", None
    kept_apart = await _kept_apart(session, client.therapist_id, client.alias_key)
    own = [c for c in kept_apart if c.telegram_user_id == user_id]
    if own:
        return "rejoined", own[0]
    if kept_apart:
        return "joined_new", kept_apart[0]
    return "joined", None


async def _kept_apart(session: AsyncSession, therapist_id: int, key: str) -> list[Client]:
    """Former clients of this alias (by its key) kept apart for the therapist, newest first."""
    found = [
        c
        for c in await repo.clients_of(session, therapist_id)
        if repo.released(c) and c.alias_key.partition(repo.RELEASED)[0] == key
    ]
    return sorted(found, key=lambda c: c.id or 0, reverse=True)


async def _take_up(session: AsyncSession, new: Client, former: Client) -> Client:
    """The person takes up their former record again: what was recorded under the new link
    (sessions, their check-ins, a weekly schedule, the invitation) moves to it, the empty
    new record goes, and the former record gets its alias back."""
    target, source = former.id or 0, new.id or 0
    if (
        await session.exec(select(WeeklySchedule).where(WeeklySchedule.client_id == source))
    ).first() is not None:
        await session.exec(delete(WeeklySchedule).where(col(WeeklySchedule.client_id) == target))
    for table in SQLModel.metadata.sorted_tables:
        for foreign_key in table.foreign_keys:
            if foreign_key.column.table.name == "client" and table.name != "client":
                await session.exec(
                    update(table)
                    .where(foreign_key.parent == source)
                    .values({foreign_key.parent.name: target})
                )
    alias = new.alias
    await session.delete(new)
    await session.flush()
    former.alias = alias  # the key follows (storage.models._keep_alias_key)
    await session.flush()
    return former
