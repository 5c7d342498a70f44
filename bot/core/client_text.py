"""A client's own words as they may be shown to someone else: one sanitiser for every place.

A note or message is shown to the therapist in the digest, in /client and in the risk
alert. Unicode direction overrides and isolates (U+202A–U+202E, U+2066–U+2069) would
visually reorder the rest of the bot's message around the quote (an alias, a date, a
score could appear to say something else), and control characters have no business in a
chat message; both are removed. Everything else — emoji, right-to-left scripts with their
ordinary marks, markup characters (escaped by the templates) — is kept as written.
"""

from __future__ import annotations

import unicodedata

DIRECTION_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Every other way of breaking a line becomes "\n".
_BREAKS = str.maketrans({"\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"})


def shown_text(text: str, *, one_line: bool = False) -> str:
    """The text with direction controls and control characters made spaces and runs of
    spaces made one; line breaks kept (or, with ``one_line``, made spaces as well)."""
    lines = text.replace("\r\n", "\n").translate(_BREAKS).split("\n")
    cleaned = [
        " ".join(
            "".join(
                " " if ch in DIRECTION_CONTROLS or unicodedata.category(ch) == "Cc" else ch
                for ch in line
            ).split()
        )
        for line in lines
    ]
    if one_line:
        return " ".join(line for line in cleaned if line)
    return "\n".join(cleaned).strip("\n")
