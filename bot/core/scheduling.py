"""Scheduling arithmetic: weekly sessions, quiet hours, digest slots — DST-correct, clock-free.

Every function takes ``now`` (an aware UTC datetime) instead of reading a clock.
Local wall-clock times are resolved with zoneinfo: a time that does not exist on
a spring-forward day moves to the first valid minute after the gap, and an
ambiguous time on a fall-back day takes its first occurrence (fold=0), which is
what a person means by "09:00" on that day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time, skipping forward across a DST gap."""
    naive = datetime.combine(day, at)
    candidate = naive.replace(tzinfo=tz, fold=0)
    roundtrip = candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if roundtrip != naive:
        # The wall time does not exist (spring forward): use the instant the clocks jumped to.
        candidate = naive.replace(tzinfo=tz, fold=1)
        instant = candidate.astimezone(UTC)
        later = instant.astimezone(tz).replace(tzinfo=None)
        if later < naive:  # pragma: no cover - defensive for unusual zones
            instant += naive - later
        return instant
    return candidate.astimezone(UTC)


def next_weekly_end(
    after: datetime, weekday: int, start: time, duration_minutes: int, tz: ZoneInfo
) -> datetime:
    """The end (UTC) of the first weekly occurrence that ends strictly after ``after``."""
    local_after = after.astimezone(tz)
    day = local_after.date() - timedelta(days=7)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    while True:
        end = local_to_utc(day, start, tz) + timedelta(minutes=duration_minutes)
        if end > after:
            return end
        day += timedelta(days=7)


def following_weekly_end(
    previous_end: datetime, weekday: int, start: time, duration_minutes: int, tz: ZoneInfo
) -> datetime:
    """The end of the occurrence one week after the one that ended at ``previous_end``."""
    return next_weekly_end(previous_end, weekday, start, duration_minutes, tz)


def in_quiet_hours(moment: datetime, tz: ZoneInfo, quiet_start: time, quiet_end: time) -> bool:
    """Whether a moment falls in the recipient's quiet hours (which may span midnight)."""
    local = moment.astimezone(tz).time()
    if quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:
        return quiet_start <= local < quiet_end
    return local >= quiet_start or local < quiet_end


def next_send_time(moment: datetime, tz: ZoneInfo, quiet_start: time, quiet_end: time) -> datetime:
    """``moment`` itself when outside quiet hours, else the end of the quiet hours (UTC)."""
    if not in_quiet_hours(moment, tz, quiet_start, quiet_end):
        return moment
    local = moment.astimezone(tz)
    day = local.date()
    if local.time() >= quiet_end and quiet_start > quiet_end:
        day += timedelta(days=1)
    return local_to_utc(day, quiet_end, tz)


def latest_digest_slot(now: datetime, weekday: int, at: time, tz: ZoneInfo) -> datetime:
    """The most recent weekly digest slot (UTC) at or before ``now``."""
    local_now = now.astimezone(tz)
    day = local_now.date() - timedelta(days=(local_now.weekday() - weekday) % 7)
    slot = local_to_utc(day, at, tz)
    if slot > now:
        slot = local_to_utc(day - timedelta(days=7), at, tz)
    return slot


def parse_local_datetime(text: str, tz: ZoneInfo) -> datetime:
    """'2026-03-29 14:30' in a time zone → aware UTC; ValueError if malformed."""
    naive = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    return local_to_utc(naive.date(), naive.time(), tz)
