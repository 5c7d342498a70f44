"""Every command of the contract as a story: onboarding, invitations, sessions, schedules,
the client's own commands, settings, languages and the client overview."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from checks import db_snapshot, drain, rows, shown
from sqlmodel import select
from story import FAST_PACE, answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot.core.digest import visible_length
from bot.offline.testbed import Testbed
from bot.practice.enrolment import create_therapist_invitation, invite_client
from bot.practice.tokens import hash_token
from storage.models import CheckIn, Client, Invitation, Therapist, TherapySession, WeeklySchedule

# ----------------------------------------------------------------- the command line


async def _cli(
    bed: Testbed, tmp_path: Path, *args: str, token: str | None = None
) -> tuple[int, str, str]:
    """Run the real console entry point in a subprocess against the testbed's stand-in."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": token or bed.standin.token,
        "TELEGRAM_API_BASE_URL": bed.standin.base_url,
        "DATABASE_URL": bed.database_url,
        "ENCRYPTION_KEYS": bed.encryption_keys,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,  # no stray .env
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_prints_a_therapist_link_that_registers_them(
    database_url: str, tmp_path: Path
) -> None:
    """An admin runs `alliance-checkin therapist-invite --name …`; the printed deep link
    (bot username from getMe) registers the therapist who opens it, once."""
    # The command line uses the system clock, so the bot's clock starts at the same moment.
    async with Testbed(database_url, start=datetime.now(UTC), **FAST_PACE) as bed:
        code, out, err = await _cli(bed, tmp_path, "therapist-invite", "--name", "Dr. Ada Example")
        assert code == 0, err
        match = re.fullmatch(
            rf"https://t\.me/{bed.standin.bot_username}\?start=([A-Za-z0-9_-]{{1,64}})\n", out
        )
        assert match, out
        assert any(call.method == "getMe" for call in bed.standin.calls)

        ada = new_person(bed, "Ada")
        await ada.command("start", match.group(1))
        assert "registered as a therapist" in ada.last_text()
        assert "Dr. Ada Example" in ada.last_text()
        [therapist] = await rows(bed, Therapist)
        assert therapist.name == "Dr. Ada Example" and therapist.telegram_user_id == ada.user.id

        intruder = new_person(bed, "Eve")
        await intruder.command("start", match.group(1))
        assert intruder.last_text() == shown(bed, "common.unknown")
        assert len(await rows(bed, Therapist)) == 1


async def test_the_cli_names_a_rejected_token_in_one_line(
    database_url: str, tmp_path: Path
) -> None:
    """A token the Bot API rejects: exit code 2, one line naming the variable, no traceback."""
    async with Testbed(database_url, start=datetime.now(UTC), **FAST_PACE) as bed:
        wrong = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
        code, out, err = await _cli(bed, tmp_path, "therapist-invite", "--name", "X", token=wrong)
        assert code == 2 and out == ""
        errors = [line for line in err.splitlines() if line.startswith("alliance-checkin:")]
        assert len(errors) == 1 and "TELEGRAM_BOT_TOKEN" in errors[0]
        assert "Traceback" not in err and wrong not in err
        assert await rows(bed, Invitation) == []


# ----------------------------------------------------------------- invitations


async def test_a_therapist_link_works_once_and_a_second_start_is_harmless(bed: Testbed) -> None:
    """The therapist opens their link twice: registered once, then told they are already in,
    without using up anything."""
    ada = await enrolled_therapist(bed, "Dr. Ada Example")
    other_token = await create_therapist_invitation(bed.services, "Dr. Someone Else")
    await ada.command("start", other_token)
    assert ada.last_text() == shown(bed, "common.already_enrolled")
    invitation = next(i for i in await rows(bed, Invitation) if i.name == "Dr. Someone Else")
    assert invitation.used_at is None, "a registered therapist's click does not spend a link"


async def test_aliases_are_unique_per_therapist_ignoring_case(bed: Testbed) -> None:
    """ "Alex" and "alex" are one client; a second therapist may use the same alias."""
    ada = await enrolled_therapist(bed, "Dr. Ada Example")
    await ada.command("invite", "Alex")
    first = ada.link_token()
    await ada.command("invite", "alex")
    second = ada.link_token()
    assert first != second
    assert len([c for c in await rows(bed, Client) if c.alias.lower() == "alex"]) == 1

    # Only the newest link of an alias works.
    old = new_person(bed, "Old")
    await old.command("start", first)
    assert old.last_text() == shown(bed, "common.unknown")
    alex = new_person(bed, "Alex")
    await alex.command("start", second)
    await alex.press("✅")
    assert "all set" in alex.last_text()

    await ada.command("invite", "ALEX")
    assert ada.last_text() == shown(bed, "therapist.alias_active", alias="ALEX")

    # Case folding beyond ASCII, the same on SQLite and PostgreSQL.
    await ada.command("invite", "ÄRGER")
    await ada.command("invite", "ärger")
    assert len([c for c in await rows(bed, Client) if c.alias.casefold() == "ärger"]) == 1

    bea = await enrolled_therapist(bed, "Dr. Bea Example")
    await bea.command("invite", "alex")
    assert "https://t.me/" in bea.last_text()


async def test_bad_aliases_get_a_clear_answer_and_store_nothing(bed: Testbed) -> None:
    """No alias, two words, markup, invisible characters or 4,000 characters: a short answer."""
    ada = await enrolled_therapist(bed)
    before = await db_snapshot(bed)
    await ada.command("invite")
    assert ada.last_text() == shown(bed, "therapist.invite_usage")
    await ada.command("invite", "two words")
    assert ada.last_text() == shown(bed, "therapist.invite_usage")
    for alias in ("<b>x</b>", "al\u200bex", "\u202ealex", "🙂", "x" * 4000):
        await ada.command("invite", alias)
        assert ada.last_text() == shown(bed, "therapist.alias_invalid")
    assert await db_snapshot(bed) == before


async def test_a_declined_alias_can_be_invited_again(bed: Testbed) -> None:
    """Sam declines; the therapist invites sam again; this time Sam agrees."""
    ada = await enrolled_therapist(bed)
    await ada.command("invite", "sam")
    sam = new_person(bed, "Sam")
    await sam.command("start", ada.link_token())
    await sam.press("No, thank you")
    await drain(bed)
    assert ada.last_text() == shown(bed, "therapist.client_declined", alias="sam")

    await ada.command("invite", "sam")
    await sam.command("start", ada.link_token())
    await sam.press("✅")
    assert "all set" in sam.last_text()
    [client] = await rows(bed, Client)
    assert client.status == "active" and client.telegram_user_id == sam.user.id


async def test_a_client_who_left_can_come_back_and_keeps_their_history(bed: Testbed) -> None:
    """Alex leaves with /stop, later the therapist sends a new link, Alex rejoins under the
    same alias: one client record, earlier answers still there, check-ins flow again."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No", "Skip")
    await alex.command("stop")
    await alex.press("Yes, leave")

    await ada.command("invite", "alex")
    await alex.command("start", ada.link_token())
    await alex.press("✅")
    assert "all set" in alex.last_text()
    [client] = await rows(bed, Client)
    assert client.status == "active" and client.telegram_user_id == alex.user.id
    assert len(await rows(bed, CheckIn)) == 1

    bed.clock.advance(days=7)
    await ada.command("session", "alex")
    assert (await bed.advance(minutes=60)).queued == 1
    assert "felt heard" in alex.last_text()


async def test_a_former_client_can_join_another_therapist(bed: Testbed) -> None:
    """Alex left Dr. Ada's check-ins and is invited by Dr. Bea: the new enrolment works, and
    Ada's record of alex keeps its answers and stays Alex's (their /mydata and /delete cover
    it: tests/privacy/test_alias_reuse.py)."""
    ada = await enrolled_therapist(bed, "Dr. Ada Example")
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("stop")
    await alex.press("Yes, leave")
    bea = await enrolled_therapist(bed, "Dr. Bea Example")
    await bea.command("invite", "a-k")
    await alex.command("start", bea.link_token())
    assert "Dr. Bea Example" in alex.last_text()
    await alex.press("✅")
    assert "all set" in alex.last_text()
    clients = {c.alias: c for c in await rows(bed, Client)}
    assert clients["a-k"].telegram_user_id == alex.user.id
    assert clients["alex"].telegram_user_id == alex.user.id and clients["alex"].status == "stopped"


async def test_an_active_client_cannot_enrol_twice(bed: Testbed) -> None:
    """Someone already taking part opens another therapist's link: told they are signed up;
    the link stays unused for the person it was meant for."""
    ada = await enrolled_therapist(bed, "Dr. Ada Example")
    alex = await enrolled_client(bed, ada, "alex")
    bea = await enrolled_therapist(bed, "Dr. Bea Example")
    await bea.command("invite", "kim")
    token = bea.link_token()
    await alex.command("start", token)
    assert alex.last_text() == shown(bed, "common.already_enrolled")
    kim = new_person(bed, "Kim")
    await kim.command("start", token)
    await kim.press("✅")
    assert "all set" in kim.last_text()


async def test_invitations_expire_after_seven_days(bed: Testbed) -> None:
    """A link opened a minute before its seventh day ends works; one a minute after does not."""
    ada = await enrolled_therapist(bed)
    await ada.command("invite", "early")
    early = ada.link_token()
    await ada.command("invite", "late")
    late = ada.link_token()

    bed.clock.advance(timedelta(days=7) - timedelta(minutes=1))
    first = new_person(bed, "Early")
    await first.command("start", early)
    await first.press("✅")
    assert "all set" in first.last_text()

    bed.clock.advance(minutes=2)
    second = new_person(bed, "Late")
    await second.command("start", late)
    assert second.last_text() == shown(bed, "common.unknown")
    assert {c.alias: c.status for c in await rows(bed, Client)} == {
        "early": "active",
        "late": "invited",
    }

    token = await create_therapist_invitation(bed.services, "Dr. Late Example")
    bed.clock.advance(days=7, seconds=1)
    latecomer = new_person(bed, "Latecomer")
    await latecomer.command("start", token)
    assert latecomer.last_text() == shown(bed, "common.unknown")


async def test_tokens_are_never_stored_in_any_column(bed: Testbed) -> None:
    """After a therapist and two clients enrol, no token appears anywhere in the database;
    each invitation row holds only the SHA-256 of its token."""
    admin_token = await create_therapist_invitation(bed.services, "Dr. Ada Example")
    ada = new_person(bed, "Ada")
    await ada.command("start", admin_token)
    tokens = [admin_token]
    for alias in ("alex", "sam"):
        await ada.command("invite", alias)
        tokens.append(ada.link_token())
    alex = new_person(bed, "Alex")
    await alex.command("start", tokens[1])
    await alex.press("✅")
    await bed.tick()

    snapshot = await db_snapshot(bed, skip=())
    for token in tokens:
        for table, table_rows in snapshot.items():
            for row in table_rows:
                for value in row:
                    if isinstance(value, bytes):
                        assert token.encode() not in value, table
                    else:
                        assert token not in str(value), table
    hashes = {i.token_hash for i in await rows(bed, Invitation)}
    assert hashes == {hash_token(t) for t in tokens}


# ----------------------------------------------------------------- sessions


async def test_session_times_are_read_in_the_therapists_time_zone(bed: Testbed) -> None:
    """At 09:00 in Berlin, `/session alex 2026-06-02 08:30` records 06:30 UTC; the check-in
    is due an hour later, shown as 09:30 Berlin time, and goes out then."""
    ada = await enrolled_therapist(bed)
    await ada.command("timezone", "Europe/Berlin")
    alex = await enrolled_client(bed, ada, "alex")
    await ada.command("session", "alex", "2026-06-02", "08:30")
    assert "Tue, Jun 2, 2026, 09:30" in ada.last_text()
    [session] = await rows(bed, TherapySession)
    assert session.ended_at == datetime(2026, 6, 2, 6, 30, tzinfo=UTC)
    [checkin] = await rows(bed, CheckIn)
    assert checkin.due_at == datetime(2026, 6, 2, 7, 30, tzinfo=UTC)

    assert (await bed.advance(minutes=29)).queued == 0
    assert (await bed.advance(minutes=1)).queued == 1
    assert "felt heard" in alex.last_text()


async def test_session_mistakes_get_a_clear_answer_and_record_nothing(bed: Testbed) -> None:
    """Future, too old, malformed, incomplete, unknown alias: each its own short answer."""
    ada = await enrolled_therapist(bed)
    await ada.command("timezone", "Europe/Berlin")
    await enrolled_client(bed, ada, "alex")
    before = await db_snapshot(bed)
    cases = [
        (("alex", "2026-06-02", "09:30"), "therapist.session_future"),
        (("alex", "2026-05-01", "10:00"), "therapist.session_too_old"),
        (("alex", "2026-13-01", "10:00"), "therapist.session_bad_time"),
        (("alex", "tomorrow", "10:00"), "therapist.session_bad_time"),
        (("alex", "2026-06-02", "25:00"), "therapist.session_bad_time"),
        (("alex", "2026-06-02"), "therapist.session_usage"),
        ((), "therapist.session_usage"),
        (("nobody",), "therapist.unknown_alias"),
        (("<i>x</i>",), "therapist.alias_invalid"),
        (("x" * 4000,), "therapist.alias_invalid"),
    ]
    for args, key in cases:
        await ada.command("session", *args)
        alias = args[0] if key == "therapist.unknown_alias" else "alex"
        assert ada.last_text() == shown(bed, key, alias=alias), args
    assert await db_snapshot(bed) == before


async def test_one_session_recorded_twice_yields_one_checkin(bed: Testbed) -> None:
    """`/session alex` twice in a row, and again ten minutes later: one session, one check-in."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await ada.command("session", "alex")
    await ada.command("session", "alex")
    assert ada.last_text() == shown(bed, "therapist.session_duplicate", alias="alex")
    bed.clock.advance(minutes=10)
    await ada.command("session", "alex")
    assert ada.last_text() == shown(bed, "therapist.session_duplicate", alias="alex")
    await bed.advance(hours=2)
    assert len(await rows(bed, TherapySession)) == 1
    assert len(await rows(bed, CheckIn)) == 1
    assert len([m for m in alex.messages() if "felt heard" in (m.text or "")]) == 1


async def test_a_session_for_a_paused_client_says_no_checkin_will_come(bed: Testbed) -> None:
    """The therapist records a session while Alex has paused: the reply says so, nothing is sent."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("pause")
    await ada.command("session", "alex")
    assert "paused check-ins" in ada.last_text()
    assert (await bed.advance(hours=2)).queued == 0
    assert not [m for m in alex.messages() if "felt heard" in (m.text or "")]


# ----------------------------------------------------------------- weekly schedule


async def test_a_weekly_schedule_is_set_replaced_and_switched_off(bed: Testbed) -> None:
    """/schedule alex tuesday 17:00 50 in Berlin; a bad weekday, time or length is refused;
    `off` stops it and a second `off` says there is none."""
    ada = await enrolled_therapist(bed)
    await ada.command("timezone", "Europe/Berlin")
    await enrolled_client(bed, ada, "alex")

    await ada.command("schedule", "alex", "tuesday", "17:00", "50")
    reply = ada.last_text()
    assert "Tuesday at 17:00 for 50 minutes" in reply
    assert "Tue, Jun 2, 2026, 17:50" in reply
    [schedule] = await rows(bed, WeeklySchedule)
    assert schedule.next_end_at == datetime(2026, 6, 2, 15, 50, tzinfo=UTC)

    before = await db_snapshot(bed)
    for args in (
        ("alex", "someday", "17:00"),
        ("alex", "monday", "25:00"),
        ("alex", "monday", "10:00", "5"),
        ("alex", "monday", "10:00", "fifty"),
        ("alex", "monday"),
    ):
        await ada.command("schedule", *args)
        assert ada.last_text() == shown(bed, "therapist.schedule_bad_args", alias="alex"), args
    await ada.command("schedule", "nobody", "monday", "10:00")
    assert ada.last_text() == shown(bed, "therapist.unknown_alias", alias="nobody")
    await ada.command("schedule", "alex")
    assert ada.last_text() == shown(bed, "therapist.schedule_usage")
    assert await db_snapshot(bed) == before

    await ada.command("schedule", "alex", "lunes", "08:00")
    assert "Monday at 08:00 for 50 minutes" in ada.last_text()
    await ada.command("schedule", "alex", "off")
    assert ada.last_text() == shown(bed, "therapist.schedule_off", alias="alex")
    await ada.command("schedule", "alex", "off")
    assert ada.last_text() == shown(bed, "therapist.schedule_none", alias="alex")
    [schedule] = await rows(bed, WeeklySchedule)
    assert not schedule.active


# ----------------------------------------------------------------- the client's commands


async def test_pause_and_resume(bed: Testbed) -> None:
    """Paused: the next session brings no check-in. Resumed: the one after does."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("pause")
    assert alex.last_text() == shown(bed, "client.pause_done")
    await alex.command("pause")
    assert alex.last_text() == shown(bed, "client.pause_unchanged")
    await ada.command("session", "alex")
    assert (await bed.advance(minutes=60)).queued == 0

    bed.clock.advance(days=7)
    await alex.command("resume")
    assert alex.last_text() == shown(bed, "client.resume_done")
    await alex.command("resume")
    assert alex.last_text() == shown(bed, "client.resume_unchanged")
    await ada.command("session", "alex")
    assert (await bed.advance(minutes=60)).queued == 1
    assert "felt heard" in alex.last_text()


async def test_pausing_withdraws_a_checkin_queued_but_not_yet_sent(bed: Testbed) -> None:
    """The check-in is queued (Telegram briefly unreachable), Alex pauses before it goes out:
    it never arrives."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await bed.tick()  # the "alex joined" note to the therapist
    await ada.command("session", "alex")
    bed.standin.fail_next("sendMessage", error_code=502, chat_id=alex.chat_id)
    report = await bed.advance(minutes=60)
    assert report.queued == 1 and report.sent == 0
    await alex.command("pause")
    await bed.advance(minutes=30)
    assert not [m for m in alex.messages() if "felt heard" in (m.text or "")]
    [checkin] = await rows(bed, CheckIn)
    assert checkin.status == "cancelled"


async def test_stop_asks_first_and_no_stay_changes_nothing(bed: Testbed) -> None:
    """/stop shows a confirmation; "No, stay" leaves everything as it was."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await bed.tick()
    before = await db_snapshot(bed)
    await alex.command("stop")
    assert alex.last_text() == shown(bed, "client.stop_confirm")
    assert alex.last().button_texts == ["Yes, leave", "No, stay"]
    await alex.press("No, stay")
    assert alex.last_text() == shown(bed, "client.stop_cancelled")
    assert not alex.last().reply_markup
    assert await db_snapshot(bed) == before


async def test_stop_leaves_for_good_and_the_therapist_is_told(bed: Testbed) -> None:
    """ "Yes, leave": no more check-ins (even for a session already recorded), the weekly
    schedule stops, the therapist gets a note, and a second /stop says so plainly."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await ada.command("schedule", "alex", "friday", "10:00")
    await ada.command("session", "alex")
    await alex.command("stop")
    await alex.press("Yes, leave")
    assert alex.last_text() == shown(bed, "client.stopped")
    await drain(bed)
    assert ada.last_text() == shown(bed, "therapist.client_left", alias="alex")

    assert (await bed.advance(days=14)).queued == 0
    assert not [m for m in alex.messages() if "felt heard" in (m.text or "")]
    assert {c.status for c in await rows(bed, CheckIn)} == {"cancelled"}
    [schedule] = await rows(bed, WeeklySchedule)
    assert not schedule.active
    await alex.command("stop")
    assert alex.last_text() == shown(bed, "client.stop_already")
    await alex.command("pause")
    assert alex.last_text() == shown(bed, "client.stop_already")


async def test_the_therapist_hears_when_a_client_joins(bed: Testbed) -> None:
    """After Alex agrees, the next dispatcher run brings the therapist a short note."""
    ada = await enrolled_therapist(bed)
    await enrolled_client(bed, ada, "alex")
    assert (await bed.tick()).sent == 1
    assert ada.last_text() == shown(bed, "therapist.client_joined", alias="alex")


async def test_help_and_privacy(bed: Testbed) -> None:
    """Each person's /help lists their own commands; /privacy repeats the notice."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await ada.command("help")
    for command in ("/invite", "/session", "/schedule", "/clients", "/digest", "/timezone"):
        assert command in ada.last_text()
    await alex.command("help")
    for command in ("/pause", "/resume", "/stop", "/privacy", "/language"):
        assert command in alex.last_text()
    assert "/invite" not in alex.last_text()
    await alex.command("privacy")
    assert "not end-to-end encrypted" in alex.last_text()
    assert "not watched in real time" in alex.last_text()

    await alex.command("invite", "someone")
    assert alex.last_text() == shown(bed, "client.not_for_clients")
    await ada.command("pause")
    assert ada.last_text() == shown(bed, "therapist.not_for_therapists")


async def test_timezone_and_digest_time(bed: Testbed) -> None:
    """/timezone shows, sets and refuses; /digesttime shows and sets the weekly digest."""
    ada = await enrolled_therapist(bed)
    await ada.command("timezone")
    assert ada.last_text() == shown(bed, "therapist.timezone_usage", current="UTC")
    await ada.command("timezone", "Mars/Olympus_Mons")
    assert ada.last_text() == shown(bed, "therapist.timezone_unknown", name="Mars/Olympus_Mons")
    await ada.command("timezone", "../../etc/passwd")
    assert ada.last_text() == shown(bed, "therapist.timezone_unknown", name="../../etc/passwd")
    await ada.command("timezone", "America/New_York")
    assert ada.last_text() == shown(bed, "therapist.timezone_set", name="America/New_York")
    await ada.command("invite", "alex")
    [client] = await rows(bed, Client)
    assert client.timezone == "America/New_York", "new clients start in the therapist's zone"

    await ada.command("digesttime")
    assert "Monday at 08:00" in ada.last_text()
    await ada.command("digesttime", "friday", "16:30")
    assert "Friday at 16:30" in ada.last_text()
    await ada.command("digesttime", "friday", "4pm")
    assert "Friday at 16:30" in ada.last_text()  # the usage answer shows the current setting
    [therapist] = await rows(bed, Therapist)
    assert (therapist.digest_weekday, therapist.digest_time) == (4, "16:30")


# ----------------------------------------------------------------- languages


async def test_a_spanish_speaker_gets_spanish_from_their_telegram_language(bed: Testbed) -> None:
    """Lucía's Telegram is set to es-ES: the welcome, the buttons and the check-in are Spanish;
    numeric buttons still begin with their number."""
    ada = await enrolled_therapist(bed)
    await ada.command("invite", "lucia")
    lucia = new_person(bed, "Lucía", "es-ES")
    await lucia.command("start", ada.link_token())
    assert lucia.last_text().startswith("¡Hola!")
    assert "no tienen cifrado de extremo a extremo" in lucia.last_text()
    await lucia.press("✅ Acepto")
    assert lucia.last_text() == shown(bed, "client.consent_agreed", "es")

    await ada.command("session", "lucia")
    await bed.advance(minutes=60)
    assert "sentí que mi terapeuta me escuchaba" in lucia.last_text()
    assert [t.split(" ")[0] for t in lucia.last().button_texts] == ["5", "4", "3", "2", "1"]
    await answer_checkin(lucia, "5", "5", "4", "4")
    assert lucia.last().button_texts == ["No", "Un poco", "Mucho"]
    await lucia.press("Un poco")
    assert lucia.last().button_texts == ["Sí", "En parte", "No"]
    await lucia.press("Sí")
    await lucia.press("Omitir")
    assert lucia.last_text().startswith("¡Gracias!")


async def test_language_switches_and_later_messages_follow(bed: Testbed) -> None:
    """Alex switches to Spanish: the confirmation, /help and the next check-in are Spanish;
    switching back works the same way. The therapist can switch too."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("language")
    assert "English" in alex.last().button_texts and "Español" in alex.last().button_texts
    await alex.press("Español")
    assert alex.last_text() == shown(bed, "language.set", "es")
    await alex.command("help")
    help_es = shown(bed, "client.help", "es") + "\n\n" + shown(bed, "admin.source_line", "es")
    assert alex.last_text() == help_es
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    assert "sentí que mi terapeuta me escuchaba" in alex.last_text()

    await alex.command("language")
    await alex.press("English")
    assert alex.last_text() == shown(bed, "language.set", "en")
    await alex.command("pause")
    assert alex.last_text() == shown(bed, "client.pause_done", "en")

    await ada.command("language")
    await ada.press("Español")
    await ada.command("clients")
    assert "Tus clientes" in ada.last_text()


async def test_a_forged_language_button_changes_nothing(bed: Testbed) -> None:
    """A language the bot does not have: answered as an invalid button, nothing stored."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await alex.command("language")
    before = await db_snapshot(bed)
    answer = await alex.press_data(alex.last().message_id, "l:xx", strict=False)
    assert answer == shown(bed, "common.button_invalid")
    assert await db_snapshot(bed) == before


# ----------------------------------------------------------------- the client overview


async def test_clients_lists_status_and_latest_checkin(bed: Testbed) -> None:
    """Joined, invited, paused and left clients, each with its latest check-in."""
    ada = await enrolled_therapist(bed)
    await ada.command("clients")
    assert ada.last_text() == shown(bed, "therapist.clients_none")
    alex = await enrolled_client(bed, ada, "alex")
    kim = await enrolled_client(bed, ada, "kim")
    await ada.command("invite", "noor")
    await ada.command("schedule", "alex", "friday", "10:00")
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4")
    await kim.command("pause")
    await ada.command("clients")
    text = ada.last_text()
    assert "Your clients (3)" in text
    assert "alex — active; Friday 10:00" in text and "2026: partly answered" in text
    assert "answers" not in text, "a state a therapist can act on, not a count"
    assert "kim — paused" in text and "noor — invited, not joined yet" in text


async def test_a_long_client_list_is_split_to_fit_telegram(bed: Testbed) -> None:
    """Eighty clients with long aliases do not fit one message: the list arrives in several,
    each within Telegram's 4,096 characters, every client exactly once."""
    ada = await enrolled_therapist(bed)
    async with bed.services.db.session() as session:
        therapist = (await session.exec(select(Therapist))).one()
    aliases = [f"client_{n:02d}_" + "x" * 22 for n in range(80)]
    for alias in aliases:
        assert (await invite_client(bed.services, therapist, alias)).status == "ok"
    seen = len(ada.messages())
    await ada.command("clients")
    parts = [m.text or "" for m in ada.messages()[seen:]]
    assert len(parts) >= 2
    assert all(visible_length(part) <= 4096 for part in parts)
    joined = "\n".join(parts)
    assert all(joined.count(alias) == 1 for alias in aliases)
    assert parts[0].startswith("Your clients (80)")
