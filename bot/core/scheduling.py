"""Scheduling arithmetic: weekly sessions, quiet hours, digest slots — DST-correct, clock-free.

Every function takes ``now`` (an aware UTC datetime) instead of reading a clock.
Local wall-clock times are resolved with zoneinfo: a time that does not exist on
a spring-forward day moves to the first valid minute after the gap, and an
ambiguous time on a fall-back day takes its first occurrence (fold=0), which is
what a person means by "09:00" on that day.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

# ASCII digits only (re.ASCII): "２０２６" or "٠٩:٣٠" are not read as a time, and so never
# echoed back or stored as one. One- or two-digit hours, as people write them ("9:00").
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})", re.ASCII)
_LOCAL_DATETIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})", re.ASCII)
# Present in the tz database but not places: "localtime" is the server's own setting,
# "Factory" a placeholder that shows "-00", "posixrules" a template for POSIX strings.
_NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


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
    """'2026-03-29 14:30' (or '9:30') in a time zone → aware UTC; ValueError if malformed
    or outside what a calendar can hold in UTC (year 1 or 9999 in a far-off zone)."""
    match = _LOCAL_DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError("use YYYY-MM-DD HH:MM")
    year, month, day, hour, minute = (int(part) for part in match.groups())
    try:
        return local_to_utc(date(year, month, day), time(hour, minute), tz)
    except OverflowError as exc:
        raise ValueError("that date cannot be placed in time") from exc


def parse_clock(text: str) -> time:
    """'9:00' or '09:00' (24-hour clock, ASCII digits) → time; ValueError on anything else."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise ValueError("use HH:MM, 24-hour clock")
    return time(int(match.group(1)), int(match.group(2)))  # ValueError past 23:59


def format_clock(moment: time) -> str:
    """A time of day as it is stored and shown: 'HH:MM'."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


@cache
def _places() -> dict[str, str]:
    """Every time zone that names a place, by its case-folded name."""
    return {name.casefold(): name for name in available_timezones() - _NOT_PLACES}


def find_timezone(name: str) -> str | None:
    """The IANA name of a time zone typed in any case ('europe/berlin' → 'Europe/Berlin'),
    or None: an area alone ('Europe'), the server's 'localtime' and anything else are not."""
    return _places().get(name.strip().casefold())


def suggest_timezones(name: str, limit: int = 3) -> list[str]:
    """Time zones whose city part is what was typed ('Berlin' → ['Europe/Berlin'],
    'new york' → ['America/New_York']), for a name that is not a time zone itself."""
    wanted = "_".join(name.strip().split()).casefold()
    if not wanted:
        return []
    found = sorted(
        real for key, real in _places().items() if key.rsplit("/", 1)[-1] == wanted and "/" in key
    )
    return found[:limit]
