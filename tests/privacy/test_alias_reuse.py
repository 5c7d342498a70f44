"""Identity rests on the person, never on an alias, a link or a Telegram id.

A therapist may give an alias again once its client has left, declined or erased their
data. Whoever opens the new link decides which record it leads to: only the Telegram
account that held the former record may take it up again; anyone else starts a new,
empty record, and the former client's history stays theirs (their /mydata and /delete keep
working) and stays apart for the therapist under the alias with the date they left.

Every path where an alias, a token or a Telegram id could be re-bound is here, each
checked by what every person sees through the stand-in and by the rows behind it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import select
from story import Person, answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot.offline.testbed import Testbed
from storage.models import Client
from storage.states import ClientState

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OLD_NOTE = "Wombat-note: the first client's own words"
NEW_NOTE = "Heron-note: the second client's own words"
# The testbed starts on Tuesday 2 June 2026; the former client leaves that day.
FORMER = "alex~2026-06-02"


async def _client_who_answered(bed: Testbed, therapist: Person, alias: str, note: str) -> Person:
    """A client of ``therapist`` with one answered check-in carrying ``note``."""
    client = await enrolled_client(bed, therapist, alias)
    await therapist.command("session", alias)
    await bed.advance(minutes=60)
    await answer_checkin(client, "4", "3", "4", "4", "A little", "Partly")
    await client.says(note)
    await bed.tick()
    return client


async def _leaves(bed: Testbed, client: Person) -> None:
    await client.command("stop")
    await client.press("Yes, leave")
    await bed.tick()


async def _mydata(client: Person) -> dict[str, Any]:
    """The JSON document /mydata sends this person."""
    await client.command("mydata")
    # The JSON file, then a short readable summary of it.
    document = next(m for m in reversed(client.messages()) if m.kind == "document")
    data: dict[str, Any] = json.loads(document.document or b"")
    return data


def _notes(data: dict[str, Any]) -> list[str]:
    return [
        answer.get("text") or ""
        for checkin in data["checkins"]
        for answer in checkin["answers"]
        if answer.get("text")
    ]


async def _client_view(therapist: Person, alias: str) -> str:
    """Everything /client <alias> shows the therapist, as displayed."""
    seen = len(therapist.messages())
    await therapist.command("client", alias)
    return "\n".join(m.text or m.caption or "" for m in therapist.messages()[seen:])


async def _invite(therapist: Person, alias: str) -> tuple[str, str]:
    """/invite alias: the token of the new link and what the therapist was told."""
    await therapist.command("invite", alias)
    return therapist.link_token(), therapist.last_text()


async def _clients(bed: Testbed) -> list[Client]:
    async with bed.services.db.session() as session:
        return list((await session.exec(select(Client).order_by(Client.id))).all())  # type: ignore[arg-type]


async def test_a_new_person_under_a_reused_alias_starts_a_new_record(bed: Testbed) -> None:
    """Alex leaves; the alias goes to Robin. Robin sees nothing of Alex, Alex keeps their
    data and rights, and the therapist sees two histories, told plainly which is which."""
    ada = await enrolled_therapist(bed)
    alex = await _client_who_answered(bed, ada, "alex", OLD_NOTE)
    await _leaves(bed, alex)

    token, told = await _invite(ada, "alex")
    assert FORMER in told and "new, empty" in told, told
    robin = new_person(bed, "Robin")
    await robin.command("start", token)
    await robin.press("✅")
    await bed.tick()
    assert "different Telegram account" in ada.last_text() and FORMER in ada.last_text()

    robins = await _mydata(robin)
    assert robins["checkins"] == [] and OLD_NOTE not in json.dumps(robins)
    assert robins["client"]["alias"] == "alex"
    alexs = await _mydata(alex)
    assert _notes(alexs) == [OLD_NOTE]

    view = await _client_view(ada, "alex")
    assert OLD_NOTE not in view and "No check-ins yet" in view
    former = await _client_view(ada, FORMER)
    assert OLD_NOTE in former and "left" in former

    await ada.command("clients")
    listing = ada.last_text()
    assert "alex —" in listing and f"{FORMER} —" in listing

    # Robin's check-ins are Robin's alone, and so is the baseline behind them.
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(robin, "2", "2", "2", "2", "A lot", "No")
    await robin.says(NEW_NOTE)
    assert _notes(await _mydata(robin)) == [NEW_NOTE]
    assert _notes(await _mydata(alex)) == [OLD_NOTE]
    view = await _client_view(ada, "alex")
    assert NEW_NOTE in view and OLD_NOTE not in view and "1 of 1" in view

    rows = await _clients(bed)
    assert [(r.alias, r.telegram_user_id, r.status) for r in rows] == [
        ("alex", alex.user.id, "stopped"),
        ("alex", robin.user.id, "active"),
    ]

    # Robin erases: Alex's record is untouched, and the other way round.
    await robin.command("delete")
    await robin.press("🗑")
    assert _notes(await _mydata(alex)) == [OLD_NOTE]
    assert OLD_NOTE in await _client_view(ada, FORMER)
    await alex.command("delete")
    await alex.press("🗑")
    await alex.command("mydata")
    assert "invitation links" in alex.last_text()
    assert await _clients(bed) == []


async def test_the_same_person_coming_back_continues_their_own_history(bed: Testbed) -> None:
    """Alex leaves and opens the new link themselves: one record, one history, and the
    therapist is told it is the same person."""
    ada = await enrolled_therapist(bed)
    alex = await _client_who_answered(bed, ada, "alex", OLD_NOTE)
    await _leaves(bed, alex)
    token, _told = await _invite(ada, "alex")
    await ada.command("session", "alex")  # recorded while the invitation is open
    await alex.command("start", token)
    await alex.press("✅")
    await bed.tick()
    assert "same Telegram account" in ada.last_text()

    rows = await _clients(bed)
    assert [(r.alias, r.telegram_user_id, r.status) for r in rows] == [
        ("alex", alex.user.id, "active")
    ]
    view = await _client_view(ada, "alex")
    assert OLD_NOTE in view
    data = await _mydata(alex)
    assert _notes(data) == [OLD_NOTE] and len(data["sessions"]) == 2
    await bed.advance(minutes=60)
    assert "How was" in alex.last_text() or alex.message_with_buttons()


async def test_someone_else_declining_a_reused_alias_leaves_the_former_record(
    bed: Testbed,
) -> None:
    """Robin declines the link of a reused alias: Alex's record and rights are untouched."""
    ada = await enrolled_therapist(bed)
    alex = await _client_who_answered(bed, ada, "alex", OLD_NOTE)
    await _leaves(bed, alex)
    token, _told = await _invite(ada, "alex")
    robin = new_person(bed, "Robin")
    await robin.command("start", token)
    await robin.press("No, thank you")
    await robin.command("mydata")
    assert "invitation links" in robin.last_text()
    assert _notes(await _mydata(alex)) == [OLD_NOTE]
    assert OLD_NOTE in await _client_view(ada, FORMER)
    # The alias can be given once more (the therapist is reminded of the former client),
    # and the same person may still come back.
    token, told = await _invite(ada, "alex")
    assert FORMER in told, told
    await alex.command("start", token)
    await alex.press("✅")
    assert OLD_NOTE in await _client_view(ada, "alex")


async def test_reinvite_after_declining_binds_only_who_agrees(bed: Testbed) -> None:
    """Kim declines; the alias is given again and Robin agrees: Robin's record, and Kim,
    who never agreed, is bound to nothing."""
    ada = await enrolled_therapist(bed)
    token, _told = await _invite(ada, "alex")
    kim = new_person(bed, "Kim")
    await kim.command("start", token)
    await kim.press("No, thank you")
    token, told = await _invite(ada, "alex")
    assert "~" not in told, "nobody's history to keep apart"
    robin = new_person(bed, "Robin")
    await robin.command("start", token)
    await robin.press("✅")
    rows = await _clients(bed)
    assert [(r.alias, r.telegram_user_id, r.status) for r in rows] == [
        ("alex", robin.user.id, "active")
    ]
    await kim.command("mydata")
    assert "invitation links" in kim.last_text()


async def test_reinvite_after_erasure_starts_from_nothing(bed: Testbed) -> None:
    """Alex erases everything; the alias goes to Robin, who sees nothing of Alex."""
    ada = await enrolled_therapist(bed)
    alex = await _client_who_answered(bed, ada, "alex", OLD_NOTE)
    await alex.command("delete")
    await alex.press("🗑")
    token, told = await _invite(ada, "alex")
    assert "~" not in told
    robin = new_person(bed, "Robin")
    await robin.command("start", token)
    await robin.press("✅")
    robins = await _mydata(robin)
    assert robins["checkins"] == [] and OLD_NOTE not in json.dumps(robins)
    assert "No check-ins yet" in await _client_view(ada, "alex")


async def test_an_old_link_cannot_bind_anyone_after_a_reinvite(bed: Testbed) -> None:
    """The first link (used) and a second one (superseded) both stop working: only the
    newest link of an alias binds anyone."""
    ada = await enrolled_therapist(bed)
    await ada.command("invite", "alex")
    first = ada.link_token()
    alex = new_person(bed, "Alex")
    await alex.command("start", first)
    await alex.press("✅")
    await _leaves(bed, alex)
    superseded, _told = await _invite(ada, "alex")
    newest, _told = await _invite(ada, "alex")
    for token in (first, superseded):
        robin = new_person(bed, "Robin")
        await robin.command("start", token)
        assert "isn't valid" in robin.last_text() or "invitation links" in robin.last_text()
    robin = new_person(bed, "Robin")
    await robin.command("start", newest)
    await robin.press("✅")
    rows = await _clients(bed)
    assert sorted((r.telegram_user_id or 0, r.status) for r in rows) == sorted(
        [(alex.user.id, "stopped"), (robin.user.id, "active")]
    )


async def test_one_account_invited_by_two_therapists(bed: Testbed) -> None:
    """Alex takes part with Ada: Bo's link neither binds them nor is used up. After Alex
    leaves Ada and joins Bo, neither therapist sees the other's history, and Alex keeps
    the rights over what Ada's record holds."""
    ada = await enrolled_therapist(bed)
    bo = await enrolled_therapist(bed, "Dr. Bo Sample")
    alex = await _client_who_answered(bed, ada, "alex", OLD_NOTE)
    token, _told = await _invite(bo, "sam")
    await alex.command("start", token)
    assert "already" in alex.last_text()
    await _leaves(bed, alex)
    await alex.command("start", token)
    await alex.press("✅")
    await bed.tick()
    assert "accepted your invitation" in bo.last_text()

    assert "No check-ins yet" in await _client_view(bo, "sam")
    assert OLD_NOTE not in await _client_view(bo, "sam")
    assert OLD_NOTE in await _client_view(ada, "alex")
    data = await _mydata(alex)
    assert data["client"]["alias"] == "sam"
    assert OLD_NOTE in json.dumps(data), "Alex's earlier record is still theirs to see"
    await alex.command("delete")
    await alex.press("🗑")
    await bed.tick()
    assert await _clients(bed) == [], "erasure covers every record of the person"


async def test_a_link_made_before_the_upgrade_on_a_former_record_binds_no_one_else(
    bed: Testbed,
) -> None:
    """Before this rule, /invite revived the former client's own record ("invited", still
    linked to them). Such a link, opened by someone else, gives them a new record and
    leaves the former one to its person."""
    from datetime import timedelta

    from bot.practice.tokens import hash_token, new_token
    from storage.models import Invitation

    ada = await enrolled_therapist(bed)
    alex = await _client_who_answered(bed, ada, "alex", OLD_NOTE)
    await _leaves(bed, alex)
    token = new_token()
    now = bed.services.clock.now()
    async with bed.services.db.session() as session:
        record = (await session.exec(select(Client))).one()
        record.status = ClientState.INVITED  # what the old /invite did to a former client's record
        session.add(
            Invitation(
                token_hash=hash_token(token),
                kind="client",
                client_id=record.id,
                created_at=now,
                expires_at=now + timedelta(days=7),
            )
        )
    robin = new_person(bed, "Robin")
    await robin.command("start", token)
    await robin.press("✅")
    await bed.tick()
    assert "different Telegram account" in ada.last_text()
    robins = await _mydata(robin)
    assert robins["checkins"] == [] and OLD_NOTE not in json.dumps(robins)
    assert _notes(await _mydata(alex)) == [OLD_NOTE]
    assert OLD_NOTE not in await _client_view(ada, "alex")
    assert OLD_NOTE in await _client_view(ada, FORMER)
