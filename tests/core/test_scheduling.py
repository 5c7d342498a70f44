"""Scheduling arithmetic: weekly sessions, quiet hours and digest slots across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.scheduling import (
    in_quiet_hours,
    latest_digest_slot,
    local_to_utc,
    next_send_time,
    next_weekly_end,
    parse_local_datetime,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
QUIET = (time(21, 0), time(8, 0))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "before_change", "after_change"),
    [
        # Berlin springs forward on 2026-03-29 and falls back on 2026-10-25.
        (BERLIN, date(2026, 3, 23), date(2026, 3, 30)),
        (BERLIN, date(2026, 10, 19), date(2026, 10, 26)),
        # New York springs forward on 2026-03-08 and falls back on 2026-11-01.
        (NEW_YORK, date(2026, 3, 2), date(2026, 3, 9)),
        (NEW_YORK, date(2026, 10, 26), date(2026, 11, 2)),
    ],
)
def test_weekly_session_keeps_its_local_time_across_a_dst_change(
    tz: ZoneInfo, before_change: date, after_change: date
) -> None:
    """A Monday 10:00–10:50 session ends at 10:50 local time on both sides of the change."""
    first = next_weekly_end(
        datetime.combine(before_change, time(0, 0), tz).astimezone(UTC), 0, time(10), 50, tz
    )
    second = next_weekly_end(first, 0, time(10), 50, tz)
    local_end = time(10, 50)
    assert first.astimezone(tz).replace(tzinfo=None) == datetime.combine(before_change, local_end)
    assert second.astimezone(tz).replace(tzinfo=None) == datetime.combine(after_change, local_end)
    # The UTC gap is a week plus or minus the hour the clocks moved.
    assert abs((second - first) - timedelta(days=7)) == timedelta(hours=1)


def test_a_session_inside_the_spring_gap_moves_to_the_first_valid_minute() -> None:
    """02:30 does not exist in Berlin on 2026-03-29; it becomes 03:30 CEST (01:30 UTC)."""
    assert local_to_utc(date(2026, 3, 29), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 30)


def test_an_ambiguous_time_in_the_autumn_takes_its_first_occurrence() -> None:
    """02:30 happens twice in Berlin on 2026-10-25; the first (CEST) is meant."""
    assert local_to_utc(date(2026, 10, 25), time(2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)


def test_next_weekly_end_is_strictly_after_the_given_moment() -> None:
    """At exactly the end of this week's session, the next one is a week later."""
    end = next_weekly_end(utc(2026, 6, 1, 0, 0), 0, time(10), 50, BERLIN)
    assert next_weekly_end(end, 0, time(10), 50, BERLIN) == end + timedelta(days=7)


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (datetime(2026, 6, 1, 20, 59), False),
        (datetime(2026, 6, 1, 21, 0), True),
        (datetime(2026, 6, 1, 23, 30), True),
        (datetime(2026, 6, 2, 3, 0), True),
        (datetime(2026, 6, 2, 7, 59), True),
        (datetime(2026, 6, 2, 8, 0), False),
    ],
)
def test_quiet_hours_span_midnight(local: datetime, quiet: bool) -> None:
    """Nothing goes to a client from 21:00 to 08:00 in their own time zone."""
    moment = local.replace(tzinfo=BERLIN).astimezone(UTC)
    assert in_quiet_hours(moment, BERLIN, *QUIET) is quiet


def test_work_due_in_quiet_hours_waits_until_morning() -> None:
    """A check-in due at 22:10 Berlin time goes out at 08:00 the next morning."""
    due = datetime(2026, 6, 1, 22, 10, tzinfo=BERLIN).astimezone(UTC)
    assert next_send_time(due, BERLIN, *QUIET) == datetime(2026, 6, 2, 8, 0, tzinfo=BERLIN)
    early = datetime(2026, 6, 2, 6, 0, tzinfo=BERLIN).astimezone(UTC)
    assert next_send_time(early, BERLIN, *QUIET) == datetime(2026, 6, 2, 8, 0, tzinfo=BERLIN)


def test_morning_after_the_autumn_change_is_eight_local() -> None:
    """Quiet hours across the October change still end at 08:00 local (07:00 UTC)."""
    due = datetime(2026, 10, 24, 23, 0, tzinfo=BERLIN).astimezone(UTC)
    assert next_send_time(due, BERLIN, *QUIET) == utc(2026, 10, 25, 7, 0)


def test_latest_digest_slot_is_the_last_monday_eight_local() -> None:
    """On a Wednesday, the latest Monday 08:00 slot is two days back; on Monday 07:59, last week."""
    wednesday = datetime(2026, 6, 3, 12, 0, tzinfo=BERLIN).astimezone(UTC)
    assert latest_digest_slot(wednesday, 0, time(8), BERLIN) == datetime(
        2026, 6, 1, 8, 0, tzinfo=BERLIN
    )
    monday_early = datetime(2026, 6, 8, 7, 59, tzinfo=BERLIN).astimezone(UTC)
    assert latest_digest_slot(monday_early, 0, time(8), BERLIN) == datetime(
        2026, 6, 1, 8, 0, tzinfo=BERLIN
    )


def test_parse_local_datetime_reads_the_therapists_wall_clock() -> None:
    """'2026-03-02 14:50' in New York is 19:50 UTC (EST)."""
    assert parse_local_datetime("2026-03-02 14:50", NEW_YORK) == utc(2026, 3, 2, 19, 50)
    with pytest.raises(ValueError):
        parse_local_datetime("yesterday at three", NEW_YORK)
