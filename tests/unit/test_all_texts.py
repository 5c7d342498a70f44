"""Every text of every locale, rendered as Telegram would show it.

Each ``area.block`` of each locale is rendered twice — with every optional part
present (flags on, lists filled) and with every optional part absent — from
representative values, then read by the stand-in's own parser of Telegram's HTML.
A text fails when Telegram would reject it, when markup shows up as characters
(``<b>`` or ``&lt;b&gt;`` on screen: the double-escaping that once put the privacy
notice's tags in front of a client), or when it is longer than Telegram allows for
where it goes (message, caption, button, command description, tap answer).

A new template variable needs a representative value below; the failure says so.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.meta
import pytest
from markupsafe import Markup

from bot.core.crisis import for_country, load_crisis_resources
from bot.offline.standin.formatting import EntityParseError, parse_html, utf16_len
from bot.texts import Texts

TEXTS = Texts()
BERLIN = ZoneInfo("Europe/Berlin")
WHEN = datetime(2026, 11, 24, 17, 50, tzinfo=UTC).astimezone(BERLIN)

# Telegram's limits (Bot API): a message's text, a media caption, a command's
# description, the text of an answer to a tap, and (in practice) a button's label.
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
COMMAND_DESCRIPTION_LIMIT = 256
TAP_ANSWER_LIMIT = 200
BUTTON_LIMIT = 64

# Texts shown as the short answer to a tap (answerCallbackQuery), not as a message.
TAP_ANSWERS = {
    "checkin.saved",
    "checkin.already",
    "checkin.closed",
    "checkin.moved",
    "checkin.back_done",
    "checkin.back_stale",
    "common.button_invalid",
    "loop.saved_notice",
    "loop.stale",
}
CAPTIONS = re.compile(r"(caption|chart_caption)$")

# Tags that are markup, and entities that are escaping: neither may reach the screen.
SHOWN_TAG = re.compile(r"</?(b|i|u|s|a|em|strong|code|pre|blockquote|tg-spoiler|span)\b[^>]*>")
SHOWN_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")

# Person-given text (aliases, notes) with characters that must be escaped on the way in.
ALIAS = "sam & lou"
NOTE = 'it was "fine" & <ok>'

FULL: dict[str, Any] = {
    # The conversation loop (prompts/*/loop.j2).
    "after": "5",
    "answer": "not_needed",
    "answered_on": "24 Nov 2026",
    "before": "3",
    "client_said": "partly",
    "closed_on": "1 Dec 2026",
    "held": 2,
    "held_on": "24 Nov 2026",
    "improved": 1,
    "month": "November 2026",
    "not_needed": 1,
    "not_yet": True,
    "outcome": "repaired",
    "reason": "usual for them",
    "suggested": "17 Nov 2026",
    "until": "22 Dec 2026",
    # The digest's triage and detail (prompts/*/digest.j2, conversation.j2).
    "alert": True,
    "details": True,
    "loop": "still_open",
    "loop_text": Markup("<b>sam &amp; lou</b> — talked on 24 Nov 2026."),
    "more": True,
    "names": [ALIAS, "kim"],
    "note": True,
    "risk": True,
    "risk_on": "24 Nov 2026",
    "what": ["felt heard 5→2"],
    "alerts": 1,
    "alias": ALIAS,
    "answered": 3,
    "at": WHEN,
    "away": "paused on 24 Nov",
    "baseline": "4.2",
    "can_go_back": True,
    "clients": 2,
    "clipped": True,
    "comment": NOTE,
    "comments": [NOTE, "second note"],
    "conversation": True,
    "count": 3,
    "counts": {
        "risk": 1,
        "conversation": 1,
        "watch": 1,
        "repaired": 1,
        "steady": 2,
        "no_checkins": 1,
        "away": 1,
    },
    "current": "Europe/Berlin",
    "changed": 2,
    "checkins": 5,
    "date": "24 Nov 2026",
    "day": WHEN,
    "days": 7,
    "domain": "bond",
    "due": WHEN,
    "due_now": True,
    "eased": ["Openness back to 4/5"],
    "eased_on": "24 Nov",
    "end": WHEN,
    "ended": WHEN,
    "enrolled": "3 Nov 2026",
    "former": "sam & lou~2026-11-02",
    "findings": ["Openness: 2/5, usually 4.2", "Overall down from 4.5 to 3.1/5"],
    "has_comment": True,
    "high": 5,
    "higher": True,
    "hint": "talk about pace",
    "hours": 72,
    "invited": True,
    "kind": "scale",
    "label": "Felt heard",
    "joined": "2026-11-03",
    "latest_on": "24 Nov",
    # Lines already rendered as HTML (texts.markup), as bot/handlers/myanswers.py passes them.
    "lines": [
        Markup("• <b>Tuesday 24 Nov</b>: heard 5"),
        Markup("• <b>Tuesday 17 Nov</b>: heard 4"),
    ],
    "looks": 3,
    "low": 3,
    "level": "high",
    "link": "https://t.me/alliance_bot?start=abcDEF123_-",
    "minutes": 50,
    "months": 12,
    "name": "Dr. Ada Example",
    "next_end": WHEN,
    "no_data": True,
    "notes": 2,
    "number": 5,
    "older": 4,
    "on": True,
    "opener": "Can we come back to last week?",
    "openers": ["Can we come back to last week?", "I wondered how last time was for you."],
    "out_of": 5,
    "overall": "3.1",
    "parts": [("heard", 5), ("what matters", 4)],
    "paused": True,
    "position": 2,
    "question": "We worked on what matters most to me.",
    "quote": NOTE,
    "rating": 4,
    "reminder": True,
    "repaired": True,
    "resources": None,  # per locale, below
    "line": None,  # per variant, below
    "regional": None,  # per locale and variant, below
    "rows": 12,
    "sessions": 6,
    "same_day": True,
    "scores": [("Heard", 4), ("Goals", 3)],
    "session_day": WHEN,
    "severe": True,
    "severity": 2,
    "since": "17 Nov",
    "source": "comment",
    "start": WHEN,
    "state": "pending",
    "suggestions": ["Europe/Berlin", "America/New_York"],
    "status": "active",
    "talked": "partly",
    "talked_on": "24 Nov",
    "talked_through": True,
    "tension": "a_lot",
    "therapist": "Dr. Ada Example",
    "therapist_name": "Dr. Ada Example",
    "time": "08:00",
    "total": 6,
    "tz": BERLIN,
    "unanswered": 2,
    "unresolved": True,
    "url": "https://example.org/alliance-checkin",
    "usual": ["Openness 3/5, usually 3–5"],
    "value": WHEN,
    "weekday": 1,
    "window": 5,
}

EMPTY: dict[str, Any] = {
    **FULL,
    "alert": False,
    "details": False,
    "loop": "",
    "loop_text": "",
    "more": False,
    "names": [],
    "note": False,
    "risk": False,
    "risk_on": "",
    "what": [],
    "away": "",
    "due_now": False,
    "former": "",
    "higher": False,
    "suggestions": [],
    "usual": [],
    "can_go_back": False,
    "clipped": False,
    "comments": [],
    "conversation": False,
    "counts": {
        "risk": 0,
        "conversation": 0,
        "watch": 0,
        "repaired": 0,
        "steady": 0,
        "no_checkins": 0,
        "away": 0,
    },
    "alerts": 0,
    "changed": 0,
    "eased": [],
    "lines": [],
    "looks": 1,
    "notes": 0,
    "parts": [],
    "findings": [],
    "has_comment": False,
    "hint": "",
    "invited": False,
    "kind": "text",
    "latest_on": "",
    "level": "low",
    "no_data": False,
    "on": False,
    "openers": [],
    "overall": "",
    "paused": False,
    "rating": None,
    "reminder": False,
    "repaired": False,
    "same_day": False,
    "scores": [],
    "severe": False,
    "severity": 0,
    "since": "",
    "source": "message",
    "state": "unanswered",
    "talked": "no",
    "tension": "none",
    "therapist": None,
    "therapist_name": None,
    "total": 0,
    "unanswered": 0,
    "unresolved": False,
}


def _client_line(full: bool) -> SimpleNamespace:
    """One row of /clients, with or without a schedule and a latest check-in."""
    client = SimpleNamespace(alias=ALIAS, status="active", unreachable_at=WHEN if full else None)
    schedule = SimpleNamespace(weekday=1, start_time="17:00") if full else None
    latest = SimpleNamespace(due_at=WHEN, status="completed") if full else None
    return SimpleNamespace(
        client=client,
        schedule=schedule,
        latest=latest,
        name=ALIAS if full else "sam~2026-11-02",
        attention=2 if full else None,
        risk=full,
    )


# Texts whose variables mean something else there than the shared name says.
OVERRIDES: dict[str, dict[str, Any]] = {
    "digest.reason_withdrawal": {"status": "unanswered"},
}


def _variables(locale: str, area: str) -> set[str]:
    """Names a template file reads from its context."""
    source = (TEXTS.root / locale / f"{area}.j2").read_text(encoding="utf-8")
    return set(jinja2.meta.find_undeclared_variables(TEXTS.env.parse(source))) - {"text"}


def _context(locale: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """Representative values for every variable the text's file uses."""
    area = key.partition(".")[0]
    missing = sorted(_variables(locale, area) - set(values))
    assert not missing, f"add representative values for {missing} (used in {locale}/{area}.j2)"
    context = dict(values)
    context["resources"] = load_crisis_resources(locale)
    # The crisis reply with a country first and the rest folded, and with nothing first.
    others = [load_crisis_resources(other) for other in TEXTS.locales if other != locale]
    country = "ES" if values is FULL else None
    context["regional"] = for_country(context["resources"], country, others)
    context["line"] = _client_line(values is FULL)
    context.update(OVERRIDES.get(key, {}))
    return context


def _limit(key: str) -> int:
    """How long this text may be where it is shown (in UTF-16 units, as Telegram counts)."""
    area, _, block = key.partition(".")
    if key in TAP_ANSWERS:
        return TAP_ANSWER_LIMIT
    if area == "commands":
        return COMMAND_DESCRIPTION_LIMIT
    if area == "buttons" or block.endswith("_button"):
        return BUTTON_LIMIT
    if CAPTIONS.search(block):
        return CAPTION_LIMIT
    return MESSAGE_LIMIT


def _cases() -> list[tuple[str, str]]:
    """(locale, key) for every text of every locale."""
    return [(locale, key) for locale in TEXTS.locales for key in sorted(TEXTS.keys(locale))]


def shown_on_screen(html_text: str) -> str:
    """What Telegram shows for an HTML text, or AssertionError when it would refuse it."""
    try:
        return parse_html(html_text).text
    except EntityParseError as exc:
        raise AssertionError(f"Telegram would refuse this HTML: {exc}\n{html_text}") from exc


def check_text(locale: str, key: str, values: dict[str, Any]) -> None:
    """Render one text and check it as the person would see it."""
    rendered = TEXTS.render(locale, key, **_context(locale, key, values))
    on_screen = shown_on_screen(rendered)
    where = f"{locale}/{key}"
    assert not SHOWN_TAG.search(on_screen), f"{where} shows markup as text: {on_screen!r}"
    assert not SHOWN_ENTITY.search(on_screen), f"{where} shows escaping as text: {on_screen!r}"
    if "{{ alias }}" in _block_source(locale, key):
        assert ALIAS in on_screen, f"{where} does not show the alias as typed: {on_screen!r}"
    limit = _limit(key)
    assert utf16_len(on_screen) <= limit, (
        f"{where} is {utf16_len(on_screen)} long; Telegram allows {limit} here"
    )


def _source(locale: str, key: str) -> str:
    return (TEXTS.root / locale / f"{key.partition('.')[0]}.j2").read_text(encoding="utf-8")


def _block_source(locale: str, key: str) -> str:
    """The source of one block (to tell whether it prints the alias at all)."""
    block = key.partition(".")[2]
    match = re.search(
        r"{%-?\s*block\s+" + re.escape(block) + r"\s*-?%}(.*?){%-?\s*endblock",
        _source(locale, key),
        re.S,
    )
    return match.group(1) if match else ""


@pytest.mark.parametrize(("locale", "key"), _cases())
def test_every_text_renders_as_telegram_shows_it(locale: str, key: str) -> None:
    """With every optional part present, and with every optional part absent."""
    check_text(locale, key, FULL)
    check_text(locale, key, EMPTY)


def test_every_locale_has_the_same_texts() -> None:
    """A text added in one language is added in all of them."""
    english = TEXTS.keys("en")
    for locale in TEXTS.locales:
        assert TEXTS.keys(locale) == english, f"{locale} differs from en"


def test_the_checker_catches_what_it_is_for() -> None:
    """The checks fail on double-escaped markup, broken HTML and an over-long text."""
    with pytest.raises(AssertionError):
        assert not SHOWN_TAG.search(shown_on_screen("&lt;b&gt;Privacy&lt;/b&gt;"))
    with pytest.raises(AssertionError):
        shown_on_screen("<b>unclosed")
    with pytest.raises(AssertionError):
        shown_on_screen("<p>not Telegram's</p>")
    assert utf16_len(shown_on_screen("x" * (MESSAGE_LIMIT + 1))) > MESSAGE_LIMIT


@pytest.mark.parametrize("locale", TEXTS.locales)
def test_the_privacy_notice_shows_its_emphasis_as_formatting(locale: str) -> None:
    """The notice included in the welcome and /privacy arrives as bold text, not as tags."""
    for key in ("client.welcome", "client.privacy"):
        rendered = TEXTS.render(locale, key, therapist="Dr. Ada Example")
        parsed = parse_html(rendered)
        assert "<b>" not in parsed.text and "&lt;" not in rendered
        assert any(entity["type"] == "bold" for entity in parsed.entities)
