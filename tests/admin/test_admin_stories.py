"""The practice's administration as stories, through the stand-in: a therapist deactivated
and reactivated, the end of a client's therapy, /source for everyone."""

from __future__ import annotations

import io
import tarfile

from checks import drain, rows, shown
from story import FAST_PACE, answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot.offline.testbed import Testbed
from bot.practice import therapists
from storage.models import Answer, CheckIn, Client, Therapist, WeeklySchedule


async def _therapist_id(bed: Testbed) -> int:
    [therapist] = await rows(bed, Therapist)
    return therapist.id or 0


async def test_a_deactivated_therapist_s_clients_are_told_kindly_and_get_no_checkins(
    bed: Testbed,
) -> None:
    """The admin deactivates Dr. Ada: her open check-in is withdrawn, Alex and Bo are told
    kindly that check-ins are paused, Ada is told, her commands are refused, sessions make
    no check-ins and no digest comes. Reactivated, everyone is told and check-ins resume."""
    ada = await enrolled_therapist(bed, "Dr. Ada Example")
    alex = await enrolled_client(bed, ada, "alex")
    bo = await enrolled_client(bed, ada, "bo")
    await ada.command("schedule", "bo", "tuesday", "10:00", "50")
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    assert "felt heard" in alex.last_text()
    open_checkin = alex.message_with_buttons()

    assert await therapists.set_active(bed.services, await _therapist_id(bed), False) == "done"
    assert await therapists.set_active(bed.services, await _therapist_id(bed), False) == (
        "unchanged"
    )
    await drain(bed)
    assert alex.last_text() == shown(bed, "admin.client_therapist_away", name="Dr. Ada Example")
    assert "paused for the time being" in alex.last_text()
    assert "/mydata, /delete and /stop still work" in alex.last_text()
    assert bo.last_text() == shown(bed, "admin.client_therapist_away", name="Dr. Ada Example")
    assert ada.last_text() == shown(bed, "admin.therapist_deactivated")
    [checkin] = await rows(bed, CheckIn)
    assert checkin.status == "cancelled"
    # A tap on the withdrawn check-in changes nothing.
    await alex.press("4", open_checkin)
    assert all(row.status == "cancelled" for row in await rows(bed, CheckIn))

    await ada.command("session", "alex")
    assert ada.last_text() == shown(bed, "admin.therapist_inactive")
    await ada.command("digest")
    assert ada.last_text() == shown(bed, "admin.therapist_inactive")
    await ada.command("end", "alex")
    assert ada.last_text() == shown(bed, "admin.therapist_inactive")
    await ada.command("help")
    assert "/invite" in ada.last_text(), "help still works"

    # A week passes: Bo's Tuesday session and Monday's digest come and go without a message.
    seen = [len(person.messages()) for person in (ada, alex, bo)]
    for _ in range(7 * 24):
        await bed.advance(hours=1)
    assert [len(person.messages()) for person in (ada, alex, bo)] == seen
    assert len(await rows(bed, CheckIn)) == 1, "no session was turned into a check-in"
    [schedule] = await rows(bed, WeeklySchedule)
    assert schedule.active, "Bo's weekly session is kept for when Ada is back"
    assert all(client.status == "active" for client in await rows(bed, Client))

    assert await therapists.set_active(bed.services, await _therapist_id(bed), True) == "done"
    await drain(bed)
    assert alex.last_text() == shown(bed, "admin.client_therapist_back", name="Dr. Ada Example")
    assert bo.last_text() == shown(bed, "admin.client_therapist_back", name="Dr. Ada Example")
    # (Monday's digest, missed while deactivated, may follow as a catch-up.)
    assert shown(bed, "admin.therapist_reactivated") in [m.text for m in ada.messages()[-3:]]
    await ada.command("session", "alex")
    assert "recorded" in ada.last_text()
    await bed.advance(minutes=60)
    assert "felt heard" in alex.last_text()
    await answer_checkin(alex, "5", "5", "5", "5", "No", "Skip")
    assert [row.status for row in await rows(bed, CheckIn)][-1] == "completed"


async def test_a_paused_or_unreachable_client_is_not_woken_by_a_deactivation(
    bed: Testbed,
) -> None:
    """Only clients who can be written to get the note; a client who blocked the bot gets
    nothing, and the stand-in would refuse it anyway."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    bo = await enrolled_client(bed, ada, "bo")
    bed.standin.block_user(bo.chat_id)
    await drain(bed)
    before = len(bo.messages())
    await therapists.set_active(bed.services, await _therapist_id(bed), False)
    await drain(bed)
    assert "paused for the time being" in alex.last_text()
    assert len(bo.messages()) == before


async def test_the_therapist_ends_a_client_s_participation_when_therapy_ends(
    bed: Testbed,
) -> None:
    """/end alex asks first; Cancel changes nothing; confirmed, Alex is thanked kindly, the
    open check-in and the weekly session stop, and Alex's answers stay for the digest."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await ada.command("schedule", "alex", "tuesday", "10:00", "50")
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No", "Skip")
    await bed.advance(hours=1)
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    assert "felt heard" in alex.last_text()

    await ada.command("end")
    assert ada.last_text() == shown(bed, "admin.end_usage")
    await ada.command("end", "nobody")
    assert ada.last_text() == shown(bed, "therapist.unknown_alias", alias="nobody")

    await ada.command("end", "Alex")
    confirm = ada.last()
    assert confirm.text == shown(bed, "admin.end_confirm", alias="alex", months=12)
    assert confirm.button_texts == ["End participation", "Cancel"]
    await ada.press("Cancel")
    assert ada.last_text() == shown(bed, "admin.end_cancelled", alias="alex")
    assert ada.last().button_texts == []
    [client] = await rows(bed, Client)
    assert client.status == "active"

    # The data of the button, forged by the client on a message of her own, does nothing.
    await ada.command("end", "alex")
    confirm = ada.last()
    data = bed.standin.find_button(ada.chat_id, confirm.message_id, "End participation")
    answer = await alex.press_data(alex.last().message_id, data, strict=False)
    assert answer == shown(bed, "common.button_invalid")
    assert (await rows(bed, Client))[0].status == "active"

    await ada.press("End participation")
    assert ada.last_text() == shown(bed, "admin.end_done", alias="alex", months=12)
    await drain(bed)
    thanks = alex.last_text()
    assert thanks == shown(bed, "admin.client_therapy_ended", name="Dr. Ada Example", months=12)
    assert "Thank you for every answer" in thanks and "/delete erases them now" in thanks
    [client] = await rows(bed, Client)
    assert client.status == "stopped" and client.status_changed_at == bed.clock.now()
    statuses = [row.status for row in await rows(bed, CheckIn)]
    assert statuses == ["completed", "cancelled"]
    [schedule] = await rows(bed, WeeklySchedule)
    assert not schedule.active

    # Pressed again (a double tap reaching the edited message): refused, nothing ends twice.
    again = await ada.press_data(confirm.message_id, data, strict=False)
    assert again == shown(bed, "common.button_invalid")
    await ada.command("end", "alex")
    assert ada.last_text() == shown(bed, "admin.end_not_taking_part", alias="alex")
    # Alex's answers stay in the therapist's records until retention erases them.
    await ada.command("client", "alex")
    assert "Felt heard 4 · What matters 4" in " ".join(m.text or "" for m in ada.messages()[-3:])
    seen = len(alex.messages())
    for _ in range(8):
        await bed.advance(days=1)
    assert len(alex.messages()) == seen, "no check-in or reminder after the end"
    assert len(await rows(bed, Answer)) == 6, "the answers are kept under retention"
    # ... and erased once RETENTION_MONTHS (12) have passed since the end.
    await bed.advance(days=370)
    assert await rows(bed, Answer) == []
    assert await rows(bed, Client) == []


async def test_source_is_there_for_everyone(bed: Testbed) -> None:
    """/source works for a stranger, a client and a therapist; /help and /privacy point to it.
    Without SOURCE_URL it sends the running code with its licence."""
    stranger = new_person(bed, "Sam")
    await stranger.command("source")
    text, document = stranger.messages()[-2:]
    assert text.text == shown(bed, "admin.source", url=None)
    assert "GNU Affero General Public License" in (text.text or "")
    assert document.filename == "alliance-checkin-source.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(document.document or b"")) as archive:
        names = archive.getnames()
        licence = archive.extractfile("alliance-checkin/LICENSE")
        assert licence is not None and b"GNU AFFERO GENERAL PUBLIC LICENSE" in licence.read()
    assert "alliance-checkin/bot/handlers/admin.py" in names
    assert "alliance-checkin/prompts/templates/admin.j2" in names
    assert "alliance-checkin/prompts/locales/de/LC_MESSAGES/messages.po" in names
    assert not [name for name in names if name.endswith((".db", ".env", ".pyc"))]

    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex", language="de")
    for person, key in ((ada, "therapist.help"), (alex, "client.help")):
        locale = "de" if person is alex else "en"
        await person.command("help")
        assert person.last_text() == (
            shown(bed, key, locale) + "\n\n" + shown(bed, "admin.source_line", locale)
        )
    await alex.command("privacy")
    assert alex.last_text().endswith(shown(bed, "admin.source_line", "de"))
    assert "/source" in alex.last_text()


async def test_source_names_the_configured_url(database_url: str) -> None:
    """With SOURCE_URL set, /source links it (in the asker's language) and sends no file."""
    from datetime import UTC, datetime

    url = "https://git.example.org/practice/alliance-checkin"
    async with Testbed(
        database_url, start=datetime(2026, 6, 2, tzinfo=UTC), source_url=url, **FAST_PACE
    ) as bed:
        maria = new_person(bed, "María", language="es")
        await maria.command("source")
        assert maria.last_text() == shown(bed, "admin.source", "es", url=url)
        assert url in maria.last_text()
        assert all(message.document is None for message in maria.messages())
