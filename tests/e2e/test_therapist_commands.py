"""The therapist's commands as a therapist meets them: what they type, what they read.

Backdated sessions promise only what will happen; /schedule and /session read times
alike; /timezone answers an area, a city or a server-only name clearly; /clients says
status and who needs attention; /client lists sessions in the order they took place
with each note on its own line; a client's words reach the therapist without direction
overrides in every place they are shown. Assertions are on the displayed text.
"""

from __future__ import annotations

import pytest
from story import Person, answer_checkin, enrolled_client, enrolled_therapist

from bot.offline.testbed import Testbed
from storage.models import Therapist, WeeklySchedule

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# The testbed starts on Tuesday 2 June 2026, 07:00 UTC.
OVERRIDE = "\u202e"


async def _practice(bed: Testbed) -> tuple[Person, Person]:
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    return ada, alex


async def _rows(bed: Testbed, model: type) -> list:  # type: ignore[type-arg]
    from checks import rows

    return await rows(bed, model)


# --------------------------------------------------------------------------- /session


async def test_a_backdated_session_says_its_checkin_goes_out_now(bed: Testbed) -> None:
    """A session that ended yesterday: its check-in is already due, so "now" — and it does."""
    ada, alex = await _practice(bed)
    before = len(alex.messages())
    await ada.command("session", "alex", "2026-06-01", "10:00")
    told = ada.last_text()
    assert "The check-in goes out now" in told, told
    assert "01 Jun" not in told and "2026-06-01" not in told
    await bed.advance(hours=1)  # 08:00: the client's quiet hours are over
    assert len(alex.messages()) > before
    assert alex.message_with_buttons().buttons, "the check-in went out as promised"


async def test_a_session_beyond_the_expiry_window_is_refused_plainly(bed: Testbed) -> None:
    """Five days back (check-ins close 72 hours after falling due): no promise, no row."""
    ada, alex = await _practice(bed)
    before = len(alex.messages())
    await ada.command("session", "alex", "2026-05-28", "10:00")
    told = ada.last_text()
    assert "too long ago" in told and "72 hours" in told and "Nothing was recorded" in told
    await bed.tick()
    assert len(alex.messages()) == before
    from storage.models import TherapySession

    assert await _rows(bed, TherapySession) == []


async def test_a_future_session_time_still_names_its_time(bed: Testbed) -> None:
    """A session that just ended: the check-in comes in an hour, and the time is named."""
    ada, _alex = await _practice(bed)
    await ada.command("session", "alex")
    assert "The check-in goes out Tue, Jun 2, 2026, 08:00" in ada.last_text()


async def test_client_history_is_in_the_order_the_sessions_took_place(bed: Testbed) -> None:
    """Two sessions recorded in the wrong order: /client lists them by date, newest first,
    and each note sits on its own line."""
    ada, alex = await _practice(bed)
    await ada.command("session", "alex")  # ended Tue 2 Jun 07:00 UTC
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No")
    await alex.says("Later-note")
    await ada.command("session", "alex", "2026-06-01", "10:00")  # recorded after, took place before
    await bed.tick()
    await answer_checkin(alex, "3", "3", "3", "3", "No")
    await alex.says("Earlier-note")
    seen = len(ada.messages())
    await ada.command("client", "alex")
    text = "\n".join(m.text or "" for m in ada.messages()[seen:])
    assert text.index("Jun 2, 2026") < text.index("Jun 1, 2026"), text
    lines = text.splitlines()
    later = next(i for i, line in enumerate(lines) if "Later-note" in line)
    assert lines[later].startswith("💬"), lines[later - 1 : later + 1]
    assert "Jun 2, 2026" in lines[later - 1]
    earlier = next(i for i, line in enumerate(lines) if "Earlier-note" in line)
    assert lines[earlier].startswith("💬") and "Jun 1, 2026" in lines[earlier - 1]


# --------------------------------------------------------------------------- times


async def test_schedule_reads_9_00_like_session_does(bed: Testbed) -> None:
    """/schedule alex monday 9:00 works and says 09:00; /digesttime too."""
    ada, _alex = await _practice(bed)
    await ada.command("schedule", "alex", "monday", "9:00")
    assert "Monday at 09:00 for 50 minutes" in ada.last_text()
    [schedule] = await _rows(bed, WeeklySchedule)
    assert schedule.start_time == "09:00"
    await ada.command("digesttime", "friday", "7:30")
    assert "Friday at 07:30" in ada.last_text()


async def test_digits_of_other_scripts_are_refused_not_echoed(bed: Testbed) -> None:
    """Arabic-Indic or full-width digits are not read as a time or a length of session."""
    ada, _alex = await _practice(bed)
    for args in (("monday", "٠٩:٣٠"), ("monday", "０９:００"), ("monday", "09:00", "٥٠")):
        await ada.command("schedule", "alex", *args)
        told = ada.last_text()
        assert "couldn't read" in told and args[-1] not in told, told
    assert await _rows(bed, WeeklySchedule) == []
    await ada.command("session", "alex", "2026-06-01", "٠٩:٣٠")
    assert "couldn't read that time" in ada.last_text()
    await ada.command("digesttime", "monday", "０８:００")
    assert "０８" not in ada.last_text() and "Change it with" in ada.last_text()


async def test_dates_at_the_ends_of_the_calendar_get_a_clear_answer(bed: Testbed) -> None:
    """Year 1 in Berlin and year 9999 in New York fall off the calendar in UTC."""
    ada, _alex = await _practice(bed)
    await ada.command("timezone", "Europe/Berlin")
    await ada.command("session", "alex", "0001-01-01", "00:00")
    assert "couldn't read that time" in ada.last_text() or "two weeks" in ada.last_text()
    await ada.command("timezone", "America/New_York")
    await ada.command("session", "alex", "9999-12-31", "23:59")
    told = ada.last_text()
    assert "couldn't read that time" in told or "in the future" in told


# --------------------------------------------------------------------------- /timezone


async def test_timezone_answers_areas_cities_and_server_names_clearly(bed: Testbed) -> None:
    """Areas, server-only names and pages of text are refused; a city gets a suggestion;
    the case does not matter. The therapist's zone changes only when one is set."""
    ada, _alex = await _practice(bed)
    for name in ("Europe", "America", "localtime", "Factory"):
        await ada.command("timezone", name)
        assert f'I don\'t know the time zone "{name}"' in ada.last_text(), name
    await ada.command("timezone", "x" * 300)
    assert "not a time zone name" in ada.last_text() and "xxx" not in ada.last_text()
    [therapist] = await _rows(bed, Therapist)
    assert therapist.timezone == "UTC"
    await ada.command("timezone", "Berlin")
    assert "Did you mean /timezone Europe/Berlin?" in ada.last_text()
    await ada.command("timezone", "New", "York")
    assert "/timezone America/New_York" in ada.last_text()
    await ada.command("timezone", "europe/berlin")
    assert "Time zone set to Europe/Berlin" in ada.last_text()
    [therapist] = await _rows(bed, Therapist)
    assert therapist.timezone == "Europe/Berlin"


# --------------------------------------------------------------------------- /clients


async def test_clients_says_status_and_who_needs_attention(bed: Testbed) -> None:
    """/clients: each client's standing and their latest check-in's state, with the ones
    who need attention marked — no count of answers."""
    ada, alex = await _practice(bed)
    sam = await enrolled_client(bed, ada, "sam")
    for day in range(4):
        await ada.command("session", "alex")
        await ada.command("session", "sam")
        await bed.advance(minutes=60)
        support = ("5",) if day == 3 else ()  # the fourth check-in also asks about support
        await answer_checkin(alex, "5", "5", "5", "5", "No", *support)
        await alex.says("fine")
        if day < 3:
            await answer_checkin(sam, "5", "5", "5", "5", "No")
        else:
            await answer_checkin(sam, "1", "1", "1", "1", "A lot", "No", *support)
        await sam.says("hm")
        await bed.advance(days=1)
    await ada.command("clients")
    text = ada.last_text()
    assert "answers" not in text, text
    alex_line = text[text.index("alex") : text.index("sam")]
    sam_part = text[text.index("sam") :]
    assert "answered" in alex_line and "steady" in alex_line
    assert "relationship conversation" in sam_part or "worth watching" in sam_part


# --------------------------------------------------------------------------- sanitising


async def test_direction_overrides_in_a_note_reach_no_therapist_view(bed: Testbed) -> None:
    """A note with a right-to-left override: /client shows it without the override (the
    digest already did); so does the risk alert."""
    ada, alex = await _practice(bed)
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No")
    await alex.says(f"fine {OVERRIDE}olleh")
    await ada.command("client", "alex")
    shown = "\n".join(m.text or "" for m in ada.messages()[-3:])
    assert "olleh" in shown and OVERRIDE not in shown
    await alex.says(f"I want to kill myself {OVERRIDE}tonight")
    await bed.tick()
    alert = ada.last_text()
    assert "tonight" in alert and OVERRIDE not in alert, alert
