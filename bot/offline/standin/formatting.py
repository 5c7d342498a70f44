"""Telegram text formatting for the stand-in: HTML parse mode, entities and UTF-16 offsets.

The HTML parser follows tdlib's ``parse_html`` (what the real Bot API runs), including its
error wording, so a bot that gets HTML wrong here would get it wrong against Telegram too.
One deliberate difference: with ``strict_entities`` (the default) a ``&`` that does not
start ``&lt;``, ``&gt;``, ``&amp;``, ``&quot;`` or a numeric reference ending in ``;`` is an
error. Telegram itself shows such text literally, but it almost always means user text was
not passed through ``html.escape`` and would be mangled (``&lt`` becomes ``<``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SUPPORTED_TAGS",
    "EntityParseError",
    "FormattedText",
    "bot_command_entities",
    "parse_html",
    "plain_text",
    "utf16_len",
    "validate_entities",
]

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)

_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
}

# Entity types the Bot API accepts in an explicit ``entities`` parameter.
ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
    }
)

# tdlib trims these from both ends of every message text and caption.
_TRIM_CHARS = " \t\n\r\v\f"
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityParseError(ValueError):
    """Formatted text Telegram would refuse; the message uses Telegram's wording."""


@dataclass(frozen=True)
class FormattedText:
    """Plain text plus Bot API entity dicts (offsets in UTF-16 code units)."""

    text: str
    entities: tuple[dict[str, Any], ...]


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    out_index: int


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(raw: str, index: int) -> int:
    # tdlib reports positions as UTF-8 byte offsets into the original string.
    return len(raw[:index].encode("utf-8"))


def _is_space(char: str) -> bool:
    return char in " \t\r\n\v\f"


def _decode_entity(raw: str, pos: int, *, strict: bool) -> tuple[str, int] | None:
    """Decode an HTML character reference at ``raw[pos] == '&'`` like tdlib does."""
    n = len(raw)
    end = pos + 1
    if end < n and raw[end] == "#":
        end += 1
        value = 0
        digits = 0
        hexadecimal = end < n and raw[end] == "x"
        if hexadecimal:
            end += 1
        allowed = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        while end < n and raw[end] in allowed:
            value = value * (16 if hexadecimal else 10) + int(raw[end], 16)
            digits += 1
            end += 1
            if value >= 0x10FFFF:
                return None
        if digits == 0 or value == 0 or end - pos >= 10:
            return None
        if 0xD800 <= value <= 0xDFFF:
            return None
        decoded = chr(value)
    else:
        while end < n and raw[end].isascii() and raw[end].isalpha():
            end += 1
        name = raw[pos + 1 : end]
        if name not in _NAMED_ENTITIES:
            return None
        decoded = _NAMED_ENTITIES[name]
    if end < n and raw[end] == ";":
        return decoded, end + 1
    if strict:
        # Telegram accepts "&lt" without ';' but that is exactly how unescaped text breaks.
        return None
    return decoded, end


def _parse_attributes(raw: str, i: int, tag: str, begin: int, strict: bool) -> tuple[str, int]:
    """Parse attributes of a start tag from ``i``; return (argument, index of the '>')."""
    n = len(raw)
    argument = ""
    while i < n and raw[i] != ">":
        while i < n and _is_space(raw[i]):
            i += 1
        if i < n and raw[i] == ">":
            break
        name_begin = i
        while i < n and not _is_space(raw[i]) and raw[i] not in "=>":
            i += 1
        attribute = raw[name_begin:i].lower()
        if not attribute:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(raw, begin)}'
            )
        while i < n and _is_space(raw[i]):
            i += 1
        if i >= n or raw[i] != "=":
            if tag == "blockquote" and attribute == "expandable":
                argument = "expandable"
                continue
            if i >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(raw, begin)}"
                )
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                f"at byte offset {_byte_offset(raw, begin)}"
            )
        i += 1
        while i < n and _is_space(raw[i]):
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(raw, begin)}")
        value_chars: list[str] = []
        if raw[i] not in "'\"":
            token_begin = i
            while i < n and raw[i].isascii() and (raw[i].isalnum() or raw[i] in ".-"):
                i += 1
            value = raw[token_begin:i].lower()
            if i >= n or (not _is_space(raw[i]) and raw[i] != ">"):
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(raw, token_begin)}"
                )
        else:
            quote = raw[i]
            i += 1
            while i < n and raw[i] != quote:
                if raw[i] == "&":
                    decoded = _decode_entity(raw, i, strict=strict)
                    if decoded is not None:
                        value_chars.append(decoded[0])
                        i = decoded[1]
                        continue
                    if strict:
                        raise EntityParseError(_bare_ampersand(raw, i))
                value_chars.append(raw[i])
                i += 1
            if i >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(raw, begin)}"
                )
            i += 1
            value = "".join(value_chars)
        if tag == "a" and attribute == "href":
            argument = value
        elif tag == "code" and attribute == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif tag == "span" and attribute == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif tag == "tg-emoji" and attribute == "emoji-id":
            argument = value
        elif tag == "blockquote" and attribute == "expandable":
            argument = "expandable"
    if i >= n:
        raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(raw, begin)}")
    return argument, i


def _bare_ampersand(raw: str, index: int) -> str:
    return (
        f"Unescaped '&' at byte offset {_byte_offset(raw, index)}: only &lt; &gt; &amp; &quot; "
        "and numeric entities ending in ';' are allowed (stand-in strict mode; real Telegram "
        "would show the text literally, so escape it with html.escape)"
    )


def _close_entity(
    tag: _OpenTag, length: int, entity_text: str, entities: list[dict[str, Any]]
) -> None:
    offset = tag.utf16_offset
    if tag.name in _SIMPLE_TAG_TYPES:
        entities.append({"type": _SIMPLE_TAG_TYPES[tag.name], "offset": offset, "length": length})
    elif tag.name == "code":
        entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
        if tag.argument:
            # Remembered so an enclosing <pre> can take the language, as tdlib does.
            entity["_language"] = tag.argument
        entities.append(entity)
    elif tag.name == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and last["offset"] == offset
            and last["length"] == length
        ):
            entities.pop()
            pre: dict[str, Any] = {"type": "pre", "offset": offset, "length": length}
            if last.get("_language"):
                pre["language"] = last["_language"]
            entities.append(pre)
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag.name == "a":
        url = tag.argument or entity_text
        if url:
            entities.append({"type": "text_link", "offset": offset, "length": length, "url": url})
    elif tag.name == "blockquote":
        kind = "expandable_blockquote" if tag.argument else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})
    elif tag.name == "tg-emoji":
        if not tag.argument.isdigit() or int(tag.argument) >= 2**63:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": tag.argument,
            }
        )


def parse_html(raw: str, *, strict_entities: bool = True) -> FormattedText:
    """Parse Telegram-flavoured HTML into plain text and entities, or raise EntityParseError."""
    n = len(raw)
    out: list[str] = []
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    utf16_offset = 0
    i = 0
    while i < n:
        char = raw[i]
        if char == "&":
            decoded = _decode_entity(raw, i, strict=strict_entities)
            if decoded is not None:
                out.append(decoded[0])
                utf16_offset += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict_entities:
                raise EntityParseError(_bare_ampersand(raw, i))
        if char != "<":
            out.append(char)
            utf16_offset += 2 if ord(char) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i >= n or raw[i] != "/":
            while i < n and not _is_space(raw[i]) and raw[i] != ">":
                i += 1
            if i >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(raw, begin)}"
                )
            tag_name = raw[begin + 1 : i].lower()
            if tag_name not in SUPPORTED_TAGS:
                raise EntityParseError(
                    f'Unsupported start tag "{tag_name}" at byte offset {_byte_offset(raw, begin)}'
                )
            argument, i = _parse_attributes(raw, i, tag_name, begin, strict_entities)
            if tag_name == "span" and argument != "spoiler":
                where = _byte_offset(raw, begin)
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {where}'
                )
            stack.append(_OpenTag(tag_name, argument, utf16_offset, len(out)))
            i += 1  # the '>'
            continue
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(raw, begin)}")
        while i < n and not _is_space(raw[i]) and raw[i] != ">":
            i += 1
        end_name = raw[begin + 2 : i].lower()
        while i < n and _is_space(raw[i]):
            i += 1
        if i >= n or raw[i] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(raw, begin)}")
        i += 1
        open_tag = stack.pop()
        if end_name and end_name != open_tag.name:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {_byte_offset(raw, begin)}, "
                f'expected "</{open_tag.name}>", found "</{end_name}>"'
            )
        length = utf16_offset - open_tag.utf16_offset
        if length > 0:
            _close_entity(open_tag, length, "".join(out[open_tag.out_index :]), entities)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    for entity in entities:
        entity.pop("_language", None)
    return _trim("".join(out), entities)


def plain_text(text: str) -> FormattedText:
    """Text sent without a parse mode: only trimmed, like Telegram does."""
    return _trim(text, [])


def _trim(text: str, entities: list[dict[str, Any]]) -> FormattedText:
    """Strip surrounding whitespace like tdlib and shift or clip entities accordingly."""
    stripped = text.strip(_TRIM_CHARS)
    if stripped == text:
        return FormattedText(text, tuple(sorted(entities, key=_entity_order)))
    left = utf16_len(text[: len(text) - len(text.lstrip(_TRIM_CHARS))])
    total = utf16_len(stripped)
    kept: list[dict[str, Any]] = []
    for entity in entities:
        start = max(0, entity["offset"] - left)
        end = min(total, entity["offset"] + entity["length"] - left)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return FormattedText(stripped, tuple(sorted(kept, key=_entity_order)))


def _entity_order(entity: dict[str, Any]) -> tuple[int, int]:
    return int(entity["offset"]), -int(entity["length"])


def validate_entities(text: str, entities: Any) -> FormattedText:
    """Check an explicit ``entities`` parameter the way the Bot API does, then trim."""
    if not isinstance(entities, list):
        raise EntityParseError("can't parse entities JSON object")
    total = utf16_len(text)
    checked: list[dict[str, Any]] = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise EntityParseError("can't parse MessageEntity: MessageEntity must be an Object")
        kind = entity.get("type")
        offset = entity.get("offset")
        length = entity.get("length")
        if not isinstance(kind, str):
            raise EntityParseError("can't parse MessageEntity: Can't find field \"type\"")
        if kind not in ENTITY_TYPES:
            raise EntityParseError("can't parse MessageEntity: Unsupported type specified")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise EntityParseError(
                'can\'t parse MessageEntity: Field "offset" must be a valid Number'
            )
        if offset < 0:
            raise EntityParseError(f"receive an entity with incorrect offset {offset}")
        if offset > total:
            raise EntityParseError(
                f"entity begins after the end of the text at UTF-16 offset {offset}"
            )
        if offset + length > total:
            raise EntityParseError(
                f"entity beginning at UTF-16 offset {offset} ends after the end of the text at "
                f"UTF-16 offset {offset + length}"
            )
        if kind == "text_link" and "url" not in entity:
            raise EntityParseError("can't parse MessageEntity: Can't find field \"url\"")
        if kind == "text_mention" and "user" not in entity:
            raise EntityParseError("can't parse MessageEntity: Can't find field \"user\"")
        if kind == "custom_emoji" and "custom_emoji_id" not in entity:
            raise EntityParseError(
                "can't parse MessageEntity: Can't find field \"custom_emoji_id\""
            )
        if length > 0:
            checked.append(dict(entity))
    return _trim(text, checked)


# A bot command as Telegram clients recognise it: "/word" optionally followed by "@botname",
# at the start of the text or after whitespace.
_COMMAND_RE = re.compile(
    r"(?:(?<=\s)|^)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@/])"
)


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entities Telegram attaches to a user's message text."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group()),
        }
        for m in _COMMAND_RE.finditer(text)
    ]
