"""Aliases are unique per therapist ignoring case, and the database holds that line too:
two invitations of "Alex" and "alex" at the same instant leave one client, on both engines."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from checks import rows
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from story import enrolled_therapist

from bot.offline.testbed import Testbed
from bot.practice import enrolment
from storage import repo
from storage.models import Client, Invitation, Therapist, alias_key

PAIRS = [
    ("Alex", "alex"),
    ("ÄRGER", "ärger"),
    (unicodedata.normalize("NFD", "José"), "JOSÉ"),
    ("Straße", "STRASSE"),
]


async def _therapist(bed: Testbed) -> Therapist:
    await enrolled_therapist(bed)
    [therapist] = await rows(bed, Therapist)
    return therapist


async def _live_invitations(bed: Testbed) -> list[Invitation]:
    now = bed.services.clock.now()
    return [
        i
        for i in await rows(bed, Invitation)
        if i.kind == "client" and i.used_at is None and i.expires_at > now
    ]


async def test_two_invites_differing_only_in_case_at_once_leave_one_client(
    bed: Testbed,
) -> None:
    """Called truly concurrently (as with several workers): one client per alias, one link
    that works. Whichever of the two comes second either finds the first (and renews its
    link, as a second /invite does) or is refused by the unique key as "alias taken"."""
    therapist = await _therapist(bed)
    for first, second in PAIRS:
        outcomes = await asyncio.gather(
            enrolment.invite_client(bed.services, therapist, first),
            enrolment.invite_client(bed.services, therapist, second),
        )
        assert sorted(o.status for o in outcomes) in (["alias_active", "ok"], ["ok", "ok"])
    clients = await rows(bed, Client)
    assert sorted(c.alias_key for c in clients) == sorted(alias_key(a) for a, _ in PAIRS)
    assert len(await _live_invitations(bed)) == len(PAIRS)


def _meeting_after_look_up(
    original: Callable[..., Awaitable[Client | None]],
) -> tuple[Callable[..., Awaitable[Client | None]], list[Client | None]]:
    """A look-up that returns only once two callers have both looked (what they found is
    kept in the list), so neither has stored its client yet."""
    arrived: list[Client | None] = []
    both = asyncio.Event()

    async def look_up_then_wait(*args: Any, **kwargs: Any) -> Client | None:
        found = await original(*args, **kwargs)
        arrived.append(found)
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=10)
        return found

    return look_up_then_wait, arrived


async def test_when_both_look_ups_miss_the_unique_key_lets_one_through(
    bed: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race made certain: both invitations look the alias up before either stores it.
    The second insert is refused by the database and answered like any taken alias."""
    therapist = await _therapist(bed)
    original = repo.client_by_alias
    for first, second in PAIRS:
        look_up_then_wait, arrived = _meeting_after_look_up(original)
        monkeypatch.setattr(repo, "client_by_alias", look_up_then_wait)
        outcomes = await asyncio.gather(
            enrolment.invite_client(bed.services, therapist, first),
            enrolment.invite_client(bed.services, therapist, second),
        )
        assert arrived == [None, None]
        assert sorted(o.status for o in outcomes) == ["alias_active", "ok"], (first, second)
        [winner] = [o for o in outcomes if o.status == "ok"]
        assert winner.token is not None
    monkeypatch.setattr(repo, "client_by_alias", original)
    clients = await rows(bed, Client)
    assert len(clients) == len(PAIRS)
    assert len(await _live_invitations(bed)) == len(PAIRS)


async def test_the_therapist_is_told_the_alias_is_taken(
    bed: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The /invite that loses the race gets the same answer as any taken alias."""
    therapist = await _therapist(bed)
    await enrolment.invite_client(bed.services, therapist, "Alex")

    async def missed(*_args: Any, **_kwargs: Any) -> Client | None:
        return None  # as if the look-up ran just before the other invitation was stored

    monkeypatch.setattr(repo, "client_by_alias", missed)
    outcome = await enrolment.invite_client(bed.services, therapist, "alex")
    assert outcome.status == "alias_active" and outcome.token is None
    assert [c.alias for c in await rows(bed, Client)] == ["Alex"]


async def test_the_key_follows_the_alias_however_a_client_is_written(bed: Testbed) -> None:
    """Constructed, renamed, or bulk-inserted without naming it: the key is always the
    alias's comparison form, and a second alias with that key is refused by the database."""
    therapist = await _therapist(bed)
    now = bed.services.clock.now()
    db = bed.services.db
    async with db.session() as session:
        # Without alias_key on purpose (the type says it is required; the model fills it).
        client = Client(therapist_id=therapist.id or 0, alias="Robin", created_at=now)  # type: ignore[call-arg]
        session.add(client)
        await session.flush()
        assert client.alias_key == "robin"
        client.alias = "Ärger"
    async with db.session() as session:
        await session.exec(
            insert(Client),
            params=[
                {"therapist_id": therapist.id, "alias": "Kim", "created_at": now},
                {"therapist_id": therapist.id, "alias": "STRASSE", "created_at": now},
            ],
        )
    async with db.session() as session:
        stored = (await session.exec(select(Client).order_by(col(Client.id)))).all()
        assert [(c.alias, c.alias_key) for c in stored] == [
            ("Ärger", "ärger"),
            ("Kim", "kim"),
            ("STRASSE", "strasse"),
        ]
    for alias in ("ärger", "KIM", "Straße"):
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                session.add(Client(therapist_id=therapist.id or 0, alias=alias, created_at=now))  # type: ignore[call-arg]
    assert len(await rows(bed, Client)) == 3
