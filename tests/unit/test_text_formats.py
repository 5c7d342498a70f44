"""Dates, times, weekdays and numbers in each locale's own conventions (Babel, CLDR data).

The expected strings are written out by hand from the conventions of each language, so a
change of Babel's data or of the formats chosen shows up here first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.texts import Formats, Texts

BERLIN = ZoneInfo("Europe/Berlin")
# 17:50 UTC is 18:50 in Berlin in November: the time shown is the value's own zone's.
MOMENT = datetime(2026, 11, 24, 17, 50, tzinfo=UTC).astimezone(BERLIN)


@pytest.mark.parametrize(
    ("locale", "day", "moment", "short", "month"),
    [
        ("en", "Nov 24, 2026", "Tue, Nov 24, 2026, 18:50", "Nov 24", "November 2026"),
        ("es", "24 nov 2026", "mar, 24 nov 2026, 18:50", "24 nov", "noviembre de 2026"),
        ("de", "24.11.2026", "Di., 24. Nov. 2026, 18:50", "24. Nov.", "November 2026"),
    ],
)
def test_dates_follow_the_locale(
    locale: str, day: str, moment: str, short: str, month: str
) -> None:
    formats = Formats(locale)
    assert formats.date(MOMENT) == day
    assert formats.datetime(MOMENT) == moment
    assert formats.short_date(MOMENT) == short
    assert formats.month_year(MOMENT) == month


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "Tuesday, November 24"),
        ("es", "martes, 24 de noviembre"),
        ("de", "Dienstag, 24. November"),
    ],
)
def test_a_session_day_has_its_full_weekday(locale: str, expected: str) -> None:
    assert Formats(locale).day(MOMENT) == expected


def test_weekdays_start_on_monday_as_python_counts() -> None:
    assert [Formats("en").weekday(n) for n in (0, 6)] == ["Monday", "Sunday"]
    assert [Formats("es").weekday(n) for n in (0, 6)] == ["lunes", "domingo"]
    assert [Formats("de").weekday(n) for n in (0, 6)] == ["Montag", "Sonntag"]


@pytest.mark.parametrize(
    ("locale", "value", "expected"),
    [
        ("en", 4.25, "4.2"),
        ("en", 4.0, "4"),
        ("es", 3.56, "3,6"),
        ("de", 3.56, "3,6"),
        ("de", None, ""),
    ],
)
def test_scores_have_at_most_one_decimal_in_the_locales_notation(
    locale: str, value: float | None, expected: str
) -> None:
    assert Formats(locale).number(value) == expected


def test_the_old_calendar_keys_answer_from_babel() -> None:
    """Templates still in the per-locale form call text("calendar.…"): Babel answers."""
    texts = Texts()
    assert texts.plain("de", "calendar.date", value=date(2026, 3, 2)) == "02.03.2026"
    assert texts.plain("es", "calendar.weekday_2") == "miércoles"
    assert texts.plain("en", "calendar.datetime", value=MOMENT) == "Tue, Nov 24, 2026, 18:50"
    with pytest.raises(KeyError):
        texts.plain("en", "calendar.fortnight", value=MOMENT)


def test_the_renderer_formats_for_the_persons_locale() -> None:
    """Callers in Python get the same formats through the renderer, by locale."""
    texts = Texts()
    assert texts.date("de", date(2026, 3, 2)) == "02.03.2026"
    assert texts.short_date("es", MOMENT) == "24 nov"
    assert texts.datetime("en", MOMENT) == "Tue, Nov 24, 2026, 18:50"
    assert texts.number("es", 4.25) == "4,2"
