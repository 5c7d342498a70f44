"""Pure parsing behind the therapist's commands, and the one sanitiser for a client's words."""

from __future__ import annotations

import contextlib
import unicodedata
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.client_text import DIRECTION_CONTROLS, shown_text
from bot.core.scheduling import (
    find_timezone,
    format_clock,
    parse_clock,
    parse_local_datetime,
    suggest_timezones,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_clock_times_read_one_or_two_digit_hours_in_ascii_only() -> None:
    assert parse_clock("9:00") == parse_clock("09:00") == time(9, 0)
    assert format_clock(parse_clock(" 7:05 ")) == "07:05"
    for bad in ("24:00", "9:60", "9", "9:0", "٠٩:٣٠", "０９:００", "9:3０", "²:00", "09：00", ""):
        with pytest.raises(ValueError):
            parse_clock(bad)


def test_local_datetimes_at_the_ends_of_the_calendar_are_value_errors() -> None:
    assert parse_local_datetime("2026-06-01 9:30", BERLIN) == datetime(
        2026, 6, 1, 7, 30, tzinfo=UTC
    )
    for bad in ("0001-01-01 00:00", "2026-02-30 10:00", "２０２６-06-01 10:00", "2026-06-01"):
        with pytest.raises(ValueError):
            parse_local_datetime(bad, BERLIN)
    with pytest.raises(ValueError):
        parse_local_datetime("9999-12-31 23:59", ZoneInfo("America/New_York"))


def test_time_zones_are_places_in_any_case() -> None:
    assert find_timezone("europe/berlin") == "Europe/Berlin"
    assert find_timezone("UTC") == "UTC"
    for bad in ("Europe", "America", "localtime", "Factory", "posixrules", "x" * 300, "/etc/x"):
        assert find_timezone(bad) is None, bad
    assert suggest_timezones("Berlin") == ["Europe/Berlin"]
    assert suggest_timezones("new york") == ["America/New_York"]
    assert suggest_timezones("Europe") == [] and suggest_timezones("") == []


@given(st.text())
def test_parsers_raise_only_value_errors(text: str) -> None:
    for parse in (parse_clock, lambda t: parse_local_datetime(t, BERLIN)):
        with contextlib.suppress(ValueError):
            parse(text)
    find_timezone(text)
    suggest_timezones(text)


def test_shown_text_removes_direction_controls_and_keeps_lines() -> None:
    assert shown_text("fine \u202eolleh\u202c") == "fine olleh"
    assert shown_text("a\r\nb\u2028c\x00d") == "a\nb\nc d"
    assert shown_text("  two\n\nlines  ", one_line=True) == "two lines"
    assert shown_text("שלום 👩\u200d👧 <b>") == "שלום 👩\u200d👧 <b>"


@given(st.text(), st.booleans())
def test_shown_text_never_keeps_a_direction_control(text: str, one_line: bool) -> None:
    shown = shown_text(text, one_line=one_line)
    assert not DIRECTION_CONTROLS & set(shown)
    controls = {ch for ch in shown if unicodedata.category(ch) == "Cc"}
    assert controls <= (set() if one_line else {"\n"})
