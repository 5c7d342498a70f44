"""Telegram messages shown in a terminal: text with its entities, and the buttons under it.

Telegram sends a message as plain text plus *entities* (bold from offset 5 for 3
UTF-16 code units, a link, …); rendering from those rather than from the HTML the
bot sent shows exactly what a phone would show. With ``ansi`` the formatting
becomes terminal escape codes; without it the text stays plain, and links are
always written out so nothing is hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Opening and closing escape codes per entity type (SGR; closing codes undo only their own).
_STYLES: dict[str, tuple[str, str]] = {
    "bold": ("\x1b[1m", "\x1b[22m"),
    "italic": ("\x1b[3m", "\x1b[23m"),
    "underline": ("\x1b[4m", "\x1b[24m"),
    "strikethrough": ("\x1b[9m", "\x1b[29m"),
    "code": ("\x1b[36m", "\x1b[39m"),
    "pre": ("\x1b[36m", "\x1b[39m"),
    "spoiler": ("\x1b[2m", "\x1b[22m"),
    "text_link": ("\x1b[4m", "\x1b[24m"),
}
DIM = ("\x1b[2m", "\x1b[22m")
QUOTE_MARK = "│ "


def _utf16_starts(text: str) -> dict[int, int]:
    """Map each UTF-16 offset that starts a character to that character's index."""
    starts: dict[int, int] = {}
    offset = 0
    for index, char in enumerate(text):
        starts[offset] = index
        offset += 2 if ord(char) > 0xFFFF else 1
    starts[offset] = len(text)
    return starts


def render_entities(text: str, entities: Iterable[Mapping[str, Any]], *, ansi: bool) -> str:
    """The message text with its formatting applied for a terminal."""
    starts = _utf16_starts(text)
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    quotes: list[tuple[int, int]] = []
    for entity in sorted(entities, key=lambda e: (int(e["offset"]), -int(e["length"]))):
        kind = str(entity.get("type", ""))
        begin = starts.get(int(entity["offset"]))
        end = starts.get(int(entity["offset"]) + int(entity["length"]))
        if begin is None or end is None:
            continue
        if kind in ("blockquote", "expandable_blockquote"):
            quotes.append((begin, end))
            continue
        style = _STYLES.get(kind)
        if style and ansi:
            opens.setdefault(begin, []).append(style[0])
            closes.setdefault(end, []).insert(0, style[1])
        if kind == "text_link" and entity.get("url"):
            closes.setdefault(end, []).append(f" ({entity['url']})")
    out: list[str] = []
    for index in range(len(text) + 1):
        out.extend(closes.get(index, []))
        if any(begin == index for begin, _ in quotes):
            out.append(QUOTE_MARK)
        out.extend(opens.get(index, []))
        if index == len(text):
            break
        char = text[index]
        out.append(char)
        if char == "\n" and any(begin <= index < end - 1 for begin, end in quotes):
            out.append(QUOTE_MARK)
    return "".join(out)


def render_buttons(rows: Sequence[Sequence[Any]] | None) -> list[str]:
    """Inline buttons as rows of [ label ] (objects with a ``text`` attribute)."""
    return ["  ".join(f"[ {button.text} ]" for button in row) for row in rows or [] if row]


def dim(text: str, *, ansi: bool) -> str:
    """Text in a quieter colour, for headers around the messages."""
    return f"{DIM[0]}{text}{DIM[1]}" if ansi else text


def bold(text: str, *, ansi: bool) -> str:
    """Bold text (plain without ANSI)."""
    return f"{_STYLES['bold'][0]}{text}{_STYLES['bold'][1]}" if ansi else text
