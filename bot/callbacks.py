"""Callback data: short, opaque strings, parsed strictly and validated server-side.

The data only says what the button means; whether the press is allowed is always
decided against the database (sender, check-in state, current item), so a forged,
replayed or stale press changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

# Matched with fullmatch (``$`` would let a trailing newline through) and ASCII-only
# (``\d`` alone also accepts digits of other scripts, which int() happily converts).
_ANSWER = re.compile(r"a:(\d{1,12}):([a-z0-9_]{1,24}):(-?\d{1,3}|skip)", re.ASCII)
_BACK = re.compile(r"b:(\d{1,12}):([a-z0-9_]{1,24})", re.ASCII)
_FULL_NOTICE = "pn"
_CONSENT = re.compile(r"c([yn]):([A-Za-z0-9_-]{32,60})", re.ASCII)
_STOP = re.compile(r"s([yn]):(\d{1,12}):(\d{1,12})", re.ASCII)
_LANGUAGE = re.compile(r"l:([a-z]{2})", re.ASCII)
_RATE = re.compile(r"r:(\d{1,12}):([1-5])", re.ASCII)

_ERASE = re.compile(r"e([yn]):(\d{1,12}):(\d{1,12})", re.ASCII)
_NOTICE = re.compile(r"n([yn]):(\d{1,4})", re.ASCII)
_END = re.compile(r"x([yn]):(\d{1,12})", re.ASCII)
_DETAIL = re.compile(r"d:(\d{1,12})", re.ASCII)
_CONVERSATION = re.compile(r"k:(\d{1,12}):([hyn])(?::(usual|outside|talked|later|none))?", re.ASCII)
# The therapist's answers to a suggested conversation (bot.core.conversation_loop.LoopAnswer)
# and their one-letter codes; "Not needed" may carry one of the fixed reasons
# (bot.core.conversation_loop.REASONS, or "none").
ConversationAnswer = Literal["held", "not_yet", "not_needed"]
_ANSWER_CODES: dict[str, ConversationAnswer] = {"h": "held", "y": "not_yet", "n": "not_needed"}
_CODE_OF: dict[ConversationAnswer, str] = {a: code for code, a in _ANSWER_CODES.items()}


@dataclass(frozen=True)
class AnswerPress:
    """An answer button: check-in, item, value (None = skip)."""

    checkin_id: int
    item_id: str
    value: int | None


@dataclass(frozen=True)
class BackPress:
    """ "Back" in a check-in: take back the answer to this item so it can be given again."""

    checkin_id: int
    item_id: str


@dataclass(frozen=True)
class FullNoticePress:
    """The welcome's button for the whole privacy notice (it changes nothing)."""


@dataclass(frozen=True)
class ConsentPress:
    """The client's answer to the privacy notice."""

    agree: bool
    token: str


@dataclass(frozen=True)
class StopPress:
    """The answer to /stop, bound to the client and the minute it was offered."""

    confirm: bool
    client_id: int
    issued_minute: int


@dataclass(frozen=True)
class LanguagePress:
    """A language chosen from /language."""

    locale: str


@dataclass(frozen=True)
class RatingPress:
    """The therapist's own rating of a session."""

    session_id: int
    value: int


@dataclass(frozen=True)
class ErasePress:
    """The answer to /delete, bound to the client and the minute it was offered."""

    confirm: bool
    client_id: int
    issued_minute: int


@dataclass(frozen=True)
class NoticePress:
    """A client's answer to a new version of the privacy notice."""

    agree: bool
    version: int


@dataclass(frozen=True)
class EndPress:
    """The therapist's answer to /end: end this client's participation (therapy is over)."""

    confirm: bool
    client_id: int


@dataclass(frozen=True)
class DetailPress:
    """A name under the digest's triage: that client's detail, for their own therapist only."""

    client_id: int


@dataclass(frozen=True)
class ConversationPress:
    """The therapist's answer to a suggested relationship conversation (and a fixed reason)."""

    suggestion_id: int
    answer: ConversationAnswer
    reason: str | None


Press = (
    AnswerPress
    | BackPress
    | ConsentPress
    | FullNoticePress
    | StopPress
    | LanguagePress
    | RatingPress
    | ErasePress
    | NoticePress
    | EndPress
    | ConversationPress
    | DetailPress
)


def answer(checkin_id: int, item_id: str, value: int | None) -> str:
    """Callback data for an answer button."""
    return f"a:{checkin_id}:{item_id}:{'skip' if value is None else value}"


def back(checkin_id: int, item_id: str) -> str:
    """Callback data for the "Back" button: the answer it takes back."""
    return f"b:{checkin_id}:{item_id}"


def full_notice() -> str:
    """Callback data for the welcome's "full privacy notice" button."""
    return _FULL_NOTICE


def consent(agree: bool, token: str) -> str:
    """Callback data for the consent buttons."""
    return f"c{'y' if agree else 'n'}:{token}"


def stop(confirm: bool, client_id: int, issued_minute: int) -> str:
    """Callback data for the /stop confirmation."""
    return f"s{'y' if confirm else 'n'}:{client_id}:{issued_minute}"


def language(locale: str) -> str:
    """Callback data for a language button."""
    return f"l:{locale}"


def rating(session_id: int, value: int) -> str:
    """Callback data for the therapist's session rating."""
    return f"r:{session_id}:{value}"


def erase(confirm: bool, client_id: int, issued_minute: int) -> str:
    """Callback data for the /delete confirmation."""
    return f"e{'y' if confirm else 'n'}:{client_id}:{issued_minute}"


def notice(agree: bool, version: int) -> str:
    """Callback data for the answer to a new privacy notice."""
    return f"n{'y' if agree else 'n'}:{version}"


def end(confirm: bool, client_id: int) -> str:
    """Callback data for the /end confirmation."""
    return f"x{'y' if confirm else 'n'}:{client_id}"


def detail(client_id: int) -> str:
    """Callback data for a client's name under the digest's triage."""
    return f"d:{client_id}"


def conversation(suggestion_id: int, answer: ConversationAnswer, reason: str | None = None) -> str:
    """Callback data for an answer to a suggested conversation: ``k:<id>:<h|y|n>[:reason]``.

    It names the suggestion only; whether the press counts (the presser is the
    suggestion's therapist, the suggestion is current, the client not erased) is decided
    against the database when it arrives (bot.digest.loop.take_answer).
    """
    data = f"k:{suggestion_id}:{_CODE_OF[answer]}"
    return f"{data}:{reason}" if reason is not None else data


# The largest row id the tables can hold (INTEGER keys: 32 bits on PostgreSQL). A forged
# button naming a larger one is malformed: passed on, PostgreSQL refuses the statement
# ("integer out of range") and the press would go unanswered.
MAX_ROW_ID = 2**31 - 1


def parse(data: str | None) -> Press | None:
    """The meaning of callback data, or None when it is malformed."""
    if not data or len(data) > 64:
        return None
    press = _parse(data)
    if press is None or any(row_id > MAX_ROW_ID for row_id in _row_ids(press)):
        return None
    return press


def _row_ids(press: Press) -> tuple[int, ...]:
    """The table row ids a press names (an issued minute or a value is not one)."""
    match press:
        case AnswerPress() | BackPress():
            return (press.checkin_id,)
        case StopPress() | ErasePress() | EndPress() | DetailPress():
            return (press.client_id,)
        case RatingPress():
            return (press.session_id,)
        case ConversationPress():
            return (press.suggestion_id,)
    return ()


def _parse(data: str) -> Press | None:
    if match := _ANSWER.fullmatch(data):
        raw = match.group(3)
        return AnswerPress(int(match.group(1)), match.group(2), None if raw == "skip" else int(raw))
    if match := _BACK.fullmatch(data):
        return BackPress(int(match.group(1)), match.group(2))
    if data == _FULL_NOTICE:
        return FullNoticePress()
    if match := _CONSENT.fullmatch(data):
        return ConsentPress(match.group(1) == "y", match.group(2))
    if match := _STOP.fullmatch(data):
        return StopPress(match.group(1) == "y", int(match.group(2)), int(match.group(3)))
    if match := _LANGUAGE.fullmatch(data):
        return LanguagePress(match.group(1))
    if match := _RATE.fullmatch(data):
        return RatingPress(int(match.group(1)), int(match.group(2)))
    if match := _ERASE.fullmatch(data):
        return ErasePress(match.group(1) == "y", int(match.group(2)), int(match.group(3)))
    if match := _NOTICE.fullmatch(data):
        return NoticePress(match.group(1) == "y", int(match.group(2)))
    if match := _END.fullmatch(data):
        return EndPress(match.group(1) == "y", int(match.group(2)))
    if match := _DETAIL.fullmatch(data):
        return DetailPress(int(match.group(1)))
    if match := _CONVERSATION.fullmatch(data):
        answer, reason = _ANSWER_CODES[match.group(2)], match.group(3)
        if reason is not None and answer != "not_needed":
            return None
        return ConversationPress(int(match.group(1)), answer, reason)
    return None


def is_a(kind: type[object]) -> Callable[[object], bool]:
    """A button route's pattern (bot.app): whether callback data parses as this kind of press."""

    def matches(data: object) -> bool:
        return isinstance(data, str) and isinstance(parse(data), kind)

    matches.__qualname__ = matches.__name__ = f"is_{kind.__name__}"
    return matches
