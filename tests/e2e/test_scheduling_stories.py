"""Sessions, schedules and the check-in itself as stories: when check-ins come (delay, weekly
sessions across daylight-saving changes, quiet hours), how they close, what they ask."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from checks import drain, rows
from story import (
    Person,
    answer_checkin,
    enrolled_client,
    enrolled_therapist,
    new_person,
    story_testbed,
)

from bot import due_work as dispatcher
from bot.app import DISPATCH_JOB
from bot.offline.testbed import Testbed
from storage.models import Answer, CheckIn, Client, TherapySession

JUNE = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Berlin


def checkins_shown(person: Person) -> int:
    """How many check-ins the person has received (first question of each)."""
    return len([m for m in person.messages() if "· 1/" in (m.text or "")])


# ----------------------------------------------------------------- when check-ins come


async def test_each_session_yields_one_checkin_after_the_configured_delay(
    database_url: str,
) -> None:
    """With CHECKIN_DELAY_MINUTES=45, a session ending now brings its check-in 45 minutes
    later, exactly once, however often the dispatcher runs."""
    midday = JUNE.replace(hour=12)  # well outside quiet hours (the zone is UTC here)
    async with story_testbed(database_url, midday, checkin_delay_minutes=45) as bed:
        ada = await enrolled_therapist(bed)
        alex = await enrolled_client(bed, ada, "alex")
        await ada.command("session", "alex")
        assert (await bed.advance(minutes=44)).queued == 0
        report = await bed.advance(minutes=1)
        assert report.queued == 1
        await drain(bed)
        for _ in range(5):
            assert (await bed.advance(minutes=10)).queued == 0
        assert checkins_shown(alex) == 1
        [checkin] = await rows(bed, CheckIn)
        [session] = await rows(bed, TherapySession)
        assert checkin.due_at == session.ended_at + timedelta(minutes=45)
        assert checkin.sent_at == checkin.due_at


DST_CASES = {
    # zone, first Thursday, the weeks span the change (dates in the comments)
    "berlin-march": ("Europe/Berlin", date(2026, 3, 19)),  # clocks go forward on 29 March
    "berlin-october": ("Europe/Berlin", date(2026, 10, 15)),  # back on 25 October
    "new-york-march": ("America/New_York", date(2026, 2, 26)),  # forward on 8 March
    "new-york-november": ("America/New_York", date(2026, 10, 22)),  # back on 1 November
}


@pytest.mark.parametrize("case", list(DST_CASES), ids=list(DST_CASES))
async def test_weekly_sessions_keep_local_time_across_daylight_saving(
    database_url: str, case: str
) -> None:
    """A weekly Thursday session at 10:00 for 50 minutes, four weeks across a clock change:
    every week the session is recorded as ending at 10:50 local time and the check-in
    arrives at 11:50 local time — not an hour early or late after the change."""
    zone, first = DST_CASES[case]
    tz = ZoneInfo(zone)
    start = datetime.combine(first - timedelta(days=3), time(9, 0), tz).astimezone(UTC)
    async with story_testbed(database_url, start) as bed:
        ada = await enrolled_therapist(bed)
        await ada.command("timezone", zone)
        alex = await enrolled_client(bed, ada, "alex")
        await ada.command("schedule", "alex", "thursday", "10:00", "50")
        offsets = set()
        for week in range(4):
            day = first + timedelta(weeks=week)
            ended = datetime.combine(day, time(10, 50), tz).astimezone(UTC)
            due = datetime.combine(day, time(11, 50), tz).astimezone(UTC)
            offsets.add(datetime.combine(day, time(12, 0), tz).utcoffset())
            bed.clock.set(due - timedelta(minutes=1))
            assert (await bed.tick()).queued == 0, f"week {week}: nothing before 11:50"
            bed.clock.set(due)
            assert (await bed.tick()).queued == 1, f"week {week}: the check-in at 11:50"
            await drain(bed)
            assert "felt heard" in alex.last_text()
            sessions = sorted(await rows(bed, TherapySession), key=lambda s: s.ended_at)
            assert len(sessions) == week + 1
            assert sessions[-1].ended_at == ended
            assert sessions[-1].ended_at.astimezone(tz).time() == time(10, 50)
        assert len(offsets) == 2, "the four weeks really straddle a change of UTC offset"
        assert checkins_shown(alex) == 4


async def test_a_session_recorded_by_hand_and_by_the_schedule_is_one_session(
    database_url: str,
) -> None:
    """The therapist has a weekly schedule and also types /session right after it: one
    session, one check-in."""
    async with story_testbed(database_url, JUNE) as bed:
        ada = await enrolled_therapist(bed)
        alex = await enrolled_client(bed, ada, "alex")
        await ada.command("schedule", "alex", "tuesday", "09:00", "50")  # UTC: ends 09:50
        bed.clock.set(datetime(2026, 6, 2, 9, 52, tzinfo=UTC))
        await bed.tick()  # the schedule records the session
        await ada.command("session", "alex")
        assert "already recorded" in ada.last_text()
        await bed.advance(hours=1)
        await drain(bed)
        assert checkins_shown(alex) == 1

        # The other order: /session a little early, then the schedule's occurrence passes.
        bed.clock.set(datetime(2026, 6, 9, 9, 45, tzinfo=UTC))
        await ada.command("session", "alex")
        assert "recorded" in ada.last_text() and "already" not in ada.last_text()
        await bed.advance(hours=3)
        await drain(bed)
        assert len(await rows(bed, TherapySession)) == 2
        assert len(await rows(bed, CheckIn)) == 2
        assert checkins_shown(alex) == 2


async def test_quiet_hours_hold_a_checkin_in_the_clients_own_time_zone(
    database_url: str,
) -> None:
    """A New York session ending at 20:30: the check-in waits until 08:00 New York time."""
    start = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)  # 08:00 in New York
    async with story_testbed(database_url, start) as bed:
        ada = await enrolled_therapist(bed)
        await ada.command("timezone", "America/New_York")
        alex = await enrolled_client(bed, ada, "alex")
        bed.clock.set(datetime(2026, 6, 3, 0, 30, tzinfo=UTC))  # 20:30 New York
        await ada.command("session", "alex")
        assert (await bed.advance(minutes=60)).queued == 0  # 21:30: quiet
        bed.clock.set(datetime(2026, 6, 3, 11, 59, tzinfo=UTC))  # 07:59
        assert (await bed.tick()).queued == 0
        assert (await bed.advance(minutes=1)).queued == 1  # 08:00
        await drain(bed)
        assert "felt heard" in alex.last_text()


async def test_a_reminder_that_falls_in_quiet_hours_waits_for_morning(database_url: str) -> None:
    """With reminders after 12 hours, a check-in sent at 10:00 would be reminded at 22:00;
    the reminder comes at 08:00 the next morning instead."""
    async with story_testbed(database_url, JUNE, reminder_after_hours=12) as bed:
        ada = await enrolled_therapist(bed)
        await ada.command("timezone", "Europe/Berlin")
        alex = await enrolled_client(bed, ada, "alex")
        await ada.command("session", "alex")  # 09:00 Berlin → check-in 10:00
        await bed.advance(minutes=60)
        await drain(bed)
        bed.clock.set(datetime(2026, 6, 2, 20, 0, tzinfo=UTC))  # 22:00 Berlin
        assert (await bed.tick()).reminders == 0
        bed.clock.set(datetime(2026, 6, 3, 5, 59, tzinfo=UTC))  # 07:59
        assert (await bed.tick()).reminders == 0
        assert (await bed.advance(minutes=1)).reminders == 1
        await drain(bed)
        assert "gentle reminder" in alex.last_text()


async def test_reminders_held_by_quiet_hours_do_not_hold_up_the_others(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reminders are read a page at a time (two rows here). The oldest unanswered check-ins
    belong to three Tokyo clients, for whom the reminder time falls at night; two UTC clients
    whose check-ins came later still get theirs in that same pass, and Tokyo's come at 08:00."""
    monkeypatch.setattr(dispatcher, "BATCH", 2)
    async with story_testbed(database_url, JUNE, reminder_after_hours=6) as bed:
        kai = await enrolled_therapist(bed, "Dr. Kai Example")
        await kai.command("timezone", "Asia/Tokyo")
        night = [await enrolled_client(bed, kai, f"night{n}") for n in range(3)]
        ada = await enrolled_therapist(bed)
        day = [await enrolled_client(bed, ada, f"day{n}") for n in range(2)]
        for person in night:
            await kai.command("session", person.user.first_name.lower())
        await bed.advance(minutes=60)  # 08:00 UTC, 17:00 in Tokyo
        await drain(bed)
        for person in day:
            await ada.command("session", person.user.first_name.lower())
        await bed.advance(minutes=60)  # 09:00 UTC
        await drain(bed)
        assert all(checkins_shown(person) == 1 for person in night + day)

        bed.clock.set(datetime(2026, 6, 2, 15, 0, tzinfo=UTC))  # midnight in Tokyo
        assert (await bed.tick()).reminders == 2
        await drain(bed)
        assert all("gentle reminder" in person.last_text() for person in day)
        assert not any("gentle reminder" in person.last_text() for person in night)

        bed.clock.set(datetime(2026, 6, 2, 23, 0, tzinfo=UTC))  # 08:00 in Tokyo
        assert (await bed.tick()).reminders == 3
        await drain(bed)
        assert all("gentle reminder" in person.last_text() for person in night)


async def test_checkins_due_together_each_answer_their_own_checkin(database_url: str) -> None:
    """Three sessions end at the same moment, so their check-ins go out in one dispatcher
    pass. Alex and Bo see the same first question, Cleo sees it in German, and the buttons
    of each message answer that person's own check-in."""
    async with story_testbed(database_url, JUNE.replace(hour=12)) as bed:
        ada = await enrolled_therapist(bed)
        people = {
            alias: await enrolled_client(bed, ada, alias, language)
            for alias, language in (("alex", "en"), ("bo", "en"), ("cleo", "de"))
        }
        for alias in people:
            await ada.command("session", alias)
        assert (await bed.advance(minutes=60)).queued == 3
        await drain(bed)
        user_of = {c.id: c.telegram_user_id for c in await rows(bed, Client)}
        checkin_of = {user_of[c.client_id]: c.id for c in await rows(bed, CheckIn)}
        shown = {alias: person.message_with_buttons() for alias, person in people.items()}
        assert shown["alex"].text == shown["bo"].text and "felt heard" in (shown["bo"].text or "")
        assert shown["cleo"].text != shown["alex"].text
        for alias, person in people.items():
            targets = {b.data.split(":")[1] for b in shown[alias].buttons if b.data}
            assert targets == {str(checkin_of[person.user.id])}, alias
        assert "saved" in (await people["bo"].press("4")).lower()
        assert "saved" in (await people["alex"].press("2")).lower()
        answers = {a.checkin_id: a.value for a in await rows(bed, Answer)}
        assert answers == {
            checkin_of[people["bo"].user.id]: 4,
            checkin_of[people["alex"].user.id]: 2,
        }


async def test_a_newer_checkin_closes_an_older_open_one(database_url: str) -> None:
    """Alex half-answers Monday's check-in; Wednesday's arrives and Monday's closes: its
    buttons say so, and the answers already given stay."""
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # Monday
    async with story_testbed(database_url, start) as bed:
        ada = await enrolled_therapist(bed)
        alex = await enrolled_client(bed, ada, "alex")
        await ada.command("session", "alex")
        await bed.advance(minutes=60)
        await drain(bed)
        monday = alex.message_with_buttons()
        await answer_checkin(alex, "4", "3")

        bed.clock.set(datetime(2026, 6, 3, 9, 0, tzinfo=UTC))
        await ada.command("session", "alex")
        report = await bed.advance(minutes=60)
        assert report.queued == 1 and report.expired == 1
        await drain(bed)
        answer = await alex.press("5", monday)
        assert "closed" in answer
        checkins = sorted(await rows(bed, CheckIn), key=lambda c: c.id or 0)
        assert [c.status for c in checkins] == ["expired", "sent"]
        kept = [a for a in await rows(bed, Answer) if a.checkin_id == checkins[0].id]
        assert sorted(a.item_id for a in kept) == ["bond", "goals"]


async def test_a_checkin_for_a_client_who_joins_days_later_is_not_sent(
    database_url: str,
) -> None:
    """The therapist records a session before Alex has accepted; Alex joins four days later:
    no check-in about a session that long ago. One joining the same day still gets it."""
    async with story_testbed(database_url, JUNE) as bed:
        ada = await enrolled_therapist(bed)
        await ada.command("invite", "late")
        late_token = ada.link_token()
        await ada.command("invite", "soon")
        soon_token = ada.link_token()
        await ada.command("session", "late")
        await ada.command("session", "soon")
        assert "once late has accepted" in (ada.messages()[-2].text or "")

        bed.clock.advance(hours=3)
        soon = await _join(bed, soon_token, "Soon")
        await bed.tick()
        await drain(bed)
        assert "felt heard" in soon.last_text()

        bed.clock.advance(days=4)
        late = await _join(bed, late_token, "Late")
        report = await bed.tick()
        await drain(bed)
        assert report.queued == 0
        assert checkins_shown(late) == 0
        statuses = {c.status for c in await rows(bed, CheckIn)}
        assert "expired" in statuses


async def _join(bed: Testbed, token: str, name: str) -> Person:
    """A new person opens an invitation link and agrees."""
    person = new_person(bed, name)
    await person.command("start", token)
    await person.press("✅")
    return person


# ----------------------------------------------------------------- the real job


async def test_the_real_scheduler_job_runs_every_dispatch_interval_and_sends(
    database_url: str,
) -> None:
    """The APScheduler job is registered with DISPATCH_INTERVAL_SECONDS; running it (as the
    job queue does) picks up due work and sends the check-in."""
    async with story_testbed(database_url, JUNE, dispatch_interval_seconds=45) as bed:
        assert bed.app is not None and bed.app.job_queue is not None
        [job] = bed.app.job_queue.get_jobs_by_name(DISPATCH_JOB)
        assert job.job.trigger.interval == timedelta(seconds=45)
        ada = await enrolled_therapist(bed)
        alex = await enrolled_client(bed, ada, "alex")
        await ada.command("session", "alex")
        bed.clock.advance(minutes=60)
        await job.run(bed.app)
        assert "felt heard" in alex.last_text()
        [checkin] = await rows(bed, CheckIn)
        assert checkin.status == "sent"


# ----------------------------------------------------------------- the check-in


async def test_the_checkin_buttons_follow_the_contract(database_url: str) -> None:
    """Scale buttons begin with their number; tension buttons begin "No", "A little",
    "A lot"; the follow-up "Yes", "Partly", "No"; the comment can be skipped. Each answer is
    in the database the moment the button is pressed."""
    async with story_testbed(database_url, JUNE) as bed:
        ada = await enrolled_therapist(bed)
        alex = await enrolled_client(bed, ada, "alex")
        await ada.command("session", "alex")
        await bed.advance(minutes=60)
        await drain(bed)
        expected: dict[str, int | None] = {}
        for item, choice, value in (
            ("bond", "5", 5),
            ("goals", "4", 4),
            ("tasks", "2", 2),
            ("openness", "1", 1),
        ):
            # Every button on a scale question begins with its number: no other button.
            texts = alex.last().button_texts
            assert [t.split(" ")[0] for t in texts] == ["5", "4", "3", "2", "1"]
            assert all(t[0].isdigit() for t in texts)
            await alex.press(choice)
            expected[item] = value
            stored = {a.item_id: a.value for a in await rows(bed, Answer)}
            assert stored == expected, f"{item} is stored at once"
        assert alex.last().button_texts == ["No", "A little", "A lot"]
        await alex.press("A lot")
        assert alex.last().button_texts == ["Yes", "Partly", "No"]
        await alex.press("No")
        assert [t for t in alex.last().button_texts if "Skip" in t]
        await alex.press("Skip")
        kept = {a.item_id: (a.value, a.skipped) for a in await rows(bed, Answer)}
        assert kept["tension"] == (2, False) and kept["talked_through"] == (0, False)
        assert kept["comment"] == (None, True)


@pytest.mark.parametrize(
    ("tension", "talked", "offered"),
    [
        ("A lot", "No", True),
        ("A little", "Partly", True),
        ("A little", "Yes", False),
        ("No", None, False),
    ],
)
async def test_unresolved_tension_gets_a_gentle_offer_to_raise_it(
    database_url: str, tension: str, talked: str | None, offered: bool
) -> None:
    """When tension was reported and not (fully) talked through, the thanks suggests a way
    to bring it up next time; otherwise it just says thank you."""
    async with story_testbed(database_url, JUNE) as bed:
        ada = await enrolled_therapist(bed)
        alex = await enrolled_client(bed, ada, "alex")
        await ada.command("session", "alex")
        await bed.advance(minutes=60)
        await drain(bed)
        await answer_checkin(alex, "4", "4", "4", "4", tension)
        if talked:
            await alex.press(talked)
        await alex.press("Skip")
        thanks = alex.last_text()
        assert thanks.startswith("Thank you!")
        assert ("bring it up" in thanks) is offered


async def test_the_support_question_comes_every_fourth_checkin(database_url: str) -> None:
    """Check-ins 1–3 ask the core questions; the 4th also asks about support from people
    close to the client; the 5th does not."""
    # Without the conversation loop's occasional question, which has its own stories.
    async with story_testbed(database_url, JUNE, conversation_item_one_in=0) as bed:
        ada = await enrolled_therapist(bed)
        alex = await enrolled_client(bed, ada, "alex")
        asked: list[bool] = []
        for _ in range(5):
            await ada.command("session", "alex")
            await bed.advance(minutes=60)
            await drain(bed)
            await answer_checkin(alex, "4", "4", "4", "4", "No")
            support = "people close to me" in alex.last_text()
            asked.append(support)
            if support:
                await alex.press("4")
            await alex.press("Skip")
            assert alex.last_text().startswith("Thank you!")
            bed.clock.advance(days=7)
        assert asked == [False, False, False, True, False]
        sequences = sorted(c.sequence for c in await rows(bed, CheckIn))
        assert sequences == [1, 2, 3, 4, 5]
