"""Aliases and weekdays as therapists type them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.practice.enrolment import normalise_alias, valid_alias
from bot.practice.sessions import parse_weekday
from storage.models import alias_key


@pytest.mark.parametrize(
    "alias",
    [
        "alex",
        "Alex_2",
        "m.k",
        "client-7",
        "José",
        "Jose\u0301",
        "אלכס",
        "مريم",
        "李雷",
        "ａｌｅｘ",
        "x" * 32,
        " alex\n",
    ],
)
def test_pseudonyms_in_any_script_are_accepted(alias: str) -> None:
    """Letters and digits of any script, dots, dashes and underscores, up to 32 characters
    (surrounding whitespace is trimmed)."""
    assert valid_alias(alias)


@pytest.mark.parametrize(
    "alias",
    [
        "",
        " ",
        "x" * 33,
        "two words",
        "al\u200bex",  # zero-width space
        "al\u200dex",  # zero-width joiner
        "\u202ealex",  # right-to-left override
        "alex🙂",
        "<b>alex</b>",
        "alex&amp;",
        "a/b",
        "@alex",
    ],
)
def test_invisible_markup_or_spaced_aliases_are_refused(alias: str) -> None:
    """Nothing that could hide, reorder or format text gets in."""
    assert not valid_alias(alias)


def test_a_composed_and_a_decomposed_name_are_one_alias() -> None:
    """ "José" typed with a combining accent is stored as the composed form."""
    assert normalise_alias("Jose\u0301") == "José"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Alex", "alex"),
        ("ÄRGER", "ärger"),
        ("Straße", "STRASSE"),
        ("ａｌｅｘ", "ALEX"),
        ("José", "JOSE\u0301"),
    ],
)
def test_aliases_compare_ignoring_case_in_every_script(first: str, second: str) -> None:
    """The same alias in another case (or Unicode form) is the same client."""
    assert alias_key(first) == alias_key(second)


def test_different_aliases_stay_different() -> None:
    """Case folding does not merge genuinely different names."""
    assert alias_key("alex") != alias_key("alexa")
    assert alias_key("Jose") != alias_key("José")


@given(st.text(max_size=40))
def test_a_valid_alias_is_at_most_32_characters_after_normalising(text: str) -> None:
    """Whatever is accepted fits the column."""
    if valid_alias(text):
        assert 1 <= len(normalise_alias(text)) <= 32


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("monday", 0),
        ("Mon", 0),
        ("TUESDAY", 1),
        ("wed", 2),
        ("7", 6),
        ("1", 0),
        ("jueves", 3),
        ("miércoles", 2),
        ("miercoles", 2),
        ("sábado", 5),
        ("domingo", 6),
    ],
)
def test_weekdays_in_english_spanish_or_as_numbers(text: str, index: int) -> None:
    """Monday is 0; 1–7 count from Monday."""
    assert parse_weekday(text) == index


@pytest.mark.parametrize("text", ["", "0", "8", "someday", "mo", "-1", "1.5"])
def test_other_weekday_text_is_refused(text: str) -> None:
    """Anything else is not a weekday."""
    assert parse_weekday(text) is None
