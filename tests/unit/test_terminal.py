"""Telegram formatting shown in a terminal, from the message's entities."""

from __future__ import annotations

from bot.offline.standin.formatting import parse_html
from bot.offline.terminal import render_entities


def render(html: str, *, ansi: bool) -> str:
    """Parse HTML as Telegram does, then render the entities."""
    parsed = parse_html(html)
    return render_entities(parsed.text, parsed.entities, ansi=ansi)


def test_bold_and_italic_become_escape_codes_on_a_terminal() -> None:
    """<b> and <i> turn into SGR bold and italic, closed where they end."""
    assert render("a <b>bold</b> <i>word</i>", ansi=True) == (
        "a \x1b[1mbold\x1b[22m \x1b[3mword\x1b[23m"
    )


def test_plain_output_keeps_only_the_text() -> None:
    """Without a terminal the formatting is dropped and the words stay."""
    assert render("a <b>bold</b> <i>word</i>", ansi=False) == "a bold word"


def test_offsets_count_utf16_so_emoji_do_not_shift_formatting() -> None:
    """An emoji before the bold part is two UTF-16 units; the bold still lands on the word."""
    assert render("🗣 <b>Consider</b> it", ansi=True) == "🗣 \x1b[1mConsider\x1b[22m it"


def test_links_are_written_out() -> None:
    """A text link shows its address, so nothing is hidden behind a word."""
    assert render('see <a href="https://example.org/x">the guide</a>', ansi=False) == (
        "see the guide (https://example.org/x)"
    )


def test_nested_formatting_closes_in_order() -> None:
    """Bold italic opens both styles and closes them in reverse order."""
    shown = render("<b><i>both</i></b>", ansi=True)
    opened, rest = shown.split("both")
    closing = {"\x1b[1m": "\x1b[22m", "\x1b[3m": "\x1b[23m"}
    first, second = opened[:4], opened[4:]
    assert {first, second} == set(closing)
    assert rest == closing[second] + closing[first]
