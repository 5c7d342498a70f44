"""Immediate strain alerts as the therapist receives them (issue 11).

An alert is judged when the check-in is finished — after its last question, or when it
closes unfinished — never on partial answers, so it comes at most once per check-in and
carries the client's note. A client who stays low is alerted once, not every week.
Each story drives the real bot through the Bot API stand-in, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from story import Person, answer_checkin, enrolled_client, enrolled_therapist
from test_digest_stories import STEADY, alerts_about, weekly_checkin

from bot.offline.testbed import Testbed


async def steady_weeks(bed: Testbed, therapist: Person, client: Person, weeks: int) -> None:
    """A few ordinary weeks, so the client has a usual range."""
    for _ in range(weeks):
        await weekly_checkin(bed, therapist, client, "sam", *STEADY)
        await bed.advance(days=7, hours=-1)


async def test_an_alert_comes_once_after_the_last_answer_and_carries_the_note(
    bed: Testbed,
) -> None:
    """Sam, usually at the top, answers item by item: bond 2, a lot of tension, only partly
    talked through. No alert while Sam is still answering; when Sam sends the note the
    check-in is complete, and one alert arrives with the note in it."""
    therapist = await enrolled_therapist(bed)
    sam = await enrolled_client(bed, therapist, "sam")
    await steady_weeks(bed, therapist, sam, 3)

    await therapist.command("session", "sam")
    await bed.advance(minutes=60)
    for choice in ("2", "4", "5", "5", "A lot", "Partly"):
        await sam.press(choice)
        await bed.tick()
        assert alerts_about(therapist, "sam") == [], f"no alert mid check-in (after {choice})"
    await sam.press("4")  # the fourth check-in also asks about support
    await bed.tick()
    assert alerts_about(therapist, "sam") == [], "the note is still to come"

    await sam.says("You kept interrupting me & I gave up")
    await bed.tick()
    await bed.advance(minutes=30)
    alerts = alerts_about(therapist, "sam")
    assert len(alerts) == 1
    text = alerts[0].text or ""
    assert "“You kept interrupting me & I gave up”" in text, "the note, shown literally"
    assert "A lot of tension" in text and "only partly talked through" in text
    assert "Felt heard and respected: 2/5, usually 5" in text

    await bed.advance(days=2)
    assert len(alerts_about(therapist, "sam")) == 1, "never a second alert for it"


async def test_a_check_in_left_mid_way_alerts_after_the_grace_period(bed: Testbed) -> None:
    """Sam reports a lot of tension, not talked through, and stops before the note: no
    alert while Sam may still be typing; once the grace period has passed without an
    answer, one alert (without a note); the note typed hours later adds no second one."""
    therapist = await enrolled_therapist(bed)
    sam = await enrolled_client(bed, therapist, "sam")
    await steady_weeks(bed, therapist, sam, 2)

    await therapist.command("session", "sam")
    await bed.advance(minutes=60)
    await answer_checkin(sam, "5", "5", "5", "5", "A lot", "No")
    grace = bed.services.strain.alert_grace_minutes
    await bed.advance(minutes=grace - 5)
    assert alerts_about(therapist, "sam") == [], "the client may still be typing"

    await bed.advance(minutes=10)
    await bed.tick()
    alerts = alerts_about(therapist, "sam")
    assert len(alerts) == 1
    assert "A lot of tension" in (alerts[0].text or "")
    assert "💬" not in (alerts[0].text or "")

    await bed.advance(hours=3)
    await sam.says("it was about the fee")
    await bed.advance(hours=bed.services.settings.expire_after_hours)
    await bed.tick()
    assert len(alerts_about(therapist, "sam")) == 1, "one alert per check-in"


async def test_a_check_in_closed_unfinished_is_judged_when_it_closes(bed: Testbed) -> None:
    """Sam answers 2 on bond and goals and leaves the check-in; a newer session's check-in
    replaces it before the grace period ends. The closed check-in still alerts, once."""
    therapist = await enrolled_therapist(bed)
    sam = await enrolled_client(bed, therapist, "sam")
    await steady_weeks(bed, therapist, sam, 2)

    await therapist.command("session", "sam")
    await bed.advance(minutes=60)
    await answer_checkin(sam, "2", "2")
    await bed.tick()
    assert alerts_about(therapist, "sam") == [], "not on partial answers"
    await therapist.command("session", "sam")  # the next session, recorded at once
    await bed.advance(minutes=60)
    alerts = alerts_about(therapist, "sam")
    assert len(alerts) == 1
    assert "Felt heard and respected: 2/5" in (alerts[0].text or "")
    await bed.advance(hours=2)
    assert len(alerts_about(therapist, "sam")) == 1


async def test_a_client_who_stays_low_is_alerted_once(bed: Testbed) -> None:
    """Sam's answers fall to 2 on bond and goals and stay there for three weeks: one alert,
    the first week, not one a week."""
    therapist = await enrolled_therapist(bed)
    sam = await enrolled_client(bed, therapist, "sam")
    await steady_weeks(bed, therapist, sam, 2)
    low = ("2", "2", "3", "3", "No")
    for week in range(3):
        # The fourth check-in also asks about support; being the first after the digest
        # suggested a conversation, it asks whether they talked about it ("No") before.
        extra = ("No", "3") if week == 1 else ()
        await weekly_checkin(bed, therapist, sam, "sam", *low, *extra, "Skip")
        await bed.tick()
        assert len(alerts_about(therapist, "sam")) == 1, f"week {week + 1}"
        await bed.advance(days=7, hours=-1)
    await bed.advance(hours=timedelta(days=3).total_seconds() / 3600)
    assert len(alerts_about(therapist, "sam")) == 1
