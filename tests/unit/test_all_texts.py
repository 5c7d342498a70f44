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
from typing import Any

import pytest
from text_samples import ALIAS, EMPTY, FULL, context, variables

from bot.offline.standin.formatting import EntityParseError, parse_html, utf16_len
from bot.texts import Texts

TEXTS = Texts()

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


def _context(locale: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """Representative values for every variable the text's area uses."""
    area = key.partition(".")[0]
    missing = sorted(
        variables(TEXTS, locale, area) - set(values) - {"resources", "regional", "line"}
    )
    assert not missing, f"add representative values for {missing} (used in {area}, {locale})"
    return context(TEXTS, locale, key, values)


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
    area = key.partition(".")[0]
    single = TEXTS.root / "templates" / f"{area}.j2"
    path = single if single.exists() else TEXTS.root / locale / f"{area}.j2"
    return path.read_text(encoding="utf-8")


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
