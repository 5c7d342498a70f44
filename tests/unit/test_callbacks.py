"""Callback data: each button's data round-trips, fits in 64 bytes, and junk parses to None."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import callbacks
from bot.callbacks import (
    AnswerPress,
    ConsentPress,
    DetailPress,
    LanguagePress,
    RatingPress,
    StopPress,
)
from bot.practice.tokens import new_token

ITEM_IDS = st.from_regex(r"[a-z0-9_]{1,24}", fullmatch=True)


@given(
    checkin_id=st.integers(min_value=1, max_value=callbacks.MAX_ROW_ID),
    item_id=ITEM_IDS,
    value=st.one_of(st.none(), st.integers(min_value=-99, max_value=999)),
)
def test_an_answer_button_round_trips(checkin_id: int, item_id: str, value: int | None) -> None:
    """What the check-in puts on a button is exactly what a press brings back."""
    data = callbacks.answer(checkin_id, item_id, value)
    assert len(data.encode()) <= 64
    assert callbacks.parse(data) == AnswerPress(checkin_id, item_id, value)


@pytest.mark.parametrize("agree", [True, False])
def test_consent_buttons_carry_the_token_and_fit(agree: bool) -> None:
    """The consent buttons hold the invitation token; the data stays within 64 bytes."""
    token = new_token()
    data = callbacks.consent(agree, token)
    assert len(data.encode()) <= 64
    assert callbacks.parse(data) == ConsentPress(agree, token)


def test_the_small_buttons_round_trip() -> None:
    """Stop confirmation, language choice and the session rating."""
    assert callbacks.parse(callbacks.stop(True, 12, 29_000_000)) == StopPress(True, 12, 29_000_000)
    assert callbacks.parse(callbacks.stop(False, 12, 29_000_000)) == StopPress(
        False, 12, 29_000_000
    )
    assert len(callbacks.stop(True, 10**12 - 1, 10**12 - 1)) <= 64  # the regex's limit
    assert callbacks.parse(callbacks.language("es")) == LanguagePress("es")
    assert callbacks.parse(callbacks.rating(12, 4)) == RatingPress(12, 4)
    assert callbacks.parse(callbacks.detail(37)) == DetailPress(37)
    assert len(callbacks.detail(10**12 - 1)) <= 64


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "a",
        "a:1:bond",
        "a:1:bond:5:extra",
        "a:x:bond:5",
        "a:1:BOND:5",
        "a:1:bond:5\n",
        "a:1234567890123:bond:5",
        "a:1:bond:1000",
        "a:1:bond:skipped",
        "a:1:b ond:5",
        "cy:short",
        "cy:" + "A" * 61,
        "cx:" + "A" * 43,
        "cy:" + "A" * 42 + "!",
        "sy!",
        "s",
        "sy",  # the unbound form of earlier versions
        "sy:1",
        "sy:1:2:3",
        "l:english",
        "l:E1",
        "r:1:6",
        "r:1:0",
        "d:",
        "d:x",
        "d:-1",
        "d:1234567890123",
        "d:1:2",
        "x" * 65,
        "a:1:bond:5" + " " * 60,
        "\u202ea:1:bond:5",
        "a:１:bond:5",
    ],
)
def test_malformed_data_means_nothing(data: str | None) -> None:
    """Forged, truncated or padded data is not a press at all."""
    assert callbacks.parse(data) is None


@given(st.text(max_size=100))
def test_parsing_never_raises(data: str) -> None:
    """Whatever arrives, parse answers with a press or None and never fails."""
    result = callbacks.parse(data)
    assert result is None or isinstance(
        result, AnswerPress | ConsentPress | StopPress | LanguagePress | RatingPress
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda n: callbacks.answer(n, "bond", 4),
        lambda n: callbacks.back(n, "bond"),
        lambda n: callbacks.stop(True, n, 29_000_000),
        lambda n: callbacks.rating(n, 4),
        lambda n: callbacks.erase(False, n, 29_000_000),
        lambda n: callbacks.end(True, n),
        lambda n: callbacks.detail(n),
        lambda n: callbacks.conversation(n, "held"),
    ],
)
def test_a_row_id_no_table_can_hold_is_malformed(make: Callable[[int], str]) -> None:
    """The largest INTEGER key parses; one more is forged data (PostgreSQL would refuse
    the look-up, and the press would go unanswered)."""
    assert callbacks.parse(make(callbacks.MAX_ROW_ID)) is not None
    assert callbacks.parse(make(callbacks.MAX_ROW_ID + 1)) is None
    assert callbacks.parse(make(10**12 - 1)) is None
