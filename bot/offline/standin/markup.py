"""Reply markup validation for the stand-in, with the Bot API's error descriptions."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from bot.offline.standin.models import Button

__all__ = ["MarkupError", "inline_buttons", "parse_reply_markup", "reply_keyboard_texts"]

MAX_CALLBACK_DATA_BYTES = 64

# Exactly one of these makes an inline button do something; a button with none is refused.
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_REPLY_KEYBOARD_BOOLS = ("resize_keyboard", "one_time_keyboard", "selective", "is_persistent")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


class MarkupError(ValueError):
    """Reply markup Telegram would refuse; ``str()`` is the full error description."""


def _bad(description: str) -> MarkupError:
    return MarkupError(f"Bad Request: {description}")


def _url_problem(url: str) -> str | None:
    """Why Telegram would refuse ``url`` as a button link, or None if it is acceptable."""
    match = _SCHEME_RE.match(url)
    if match:
        scheme = match.group(1).lower()
        if scheme == "tg":
            return None if len(url) > len("tg://") else "Wrong URL"
        if scheme not in ("http", "https"):
            return "Unsupported URL protocol"
        candidate = url
    else:
        candidate = "http://" + url
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return "Wrong HTTP URL"
    if not host:
        return "URL host is empty"
    if "." not in host:
        return "Wrong HTTP URL"
    return None


def _check_bool_fields(markup: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name in markup and not isinstance(markup[name], bool):
            raise _bad(f'field "{name}" must be of type Boolean')


def _inline_button(button: Any) -> dict[str, Any]:
    prefix = "can't parse inline keyboard button: "
    if not isinstance(button, dict):
        raise _bad(prefix + "InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise _bad(prefix + 'Can\'t find field "text"')
    if not isinstance(button["text"], str):
        raise _bad(prefix + 'Field "text" must be of type String')
    if not button["text"].strip():
        raise _bad("BUTTON_TEXT_INVALID")
    # An empty callback_data counts as absent in the Bot API.
    actions = [
        name for name in _INLINE_ACTIONS if name in button and button[name] not in (None, "")
    ]
    if not actions:
        raise _bad(prefix + "Text buttons are unallowed in the inline keyboard")
    if "callback_data" in actions:
        data = button["callback_data"]
        if not isinstance(data, str):
            raise _bad(prefix + 'Field "callback_data" must be of type String')
        if len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
            raise _bad("BUTTON_DATA_INVALID")
    if "url" in actions:
        url = button["url"]
        if not isinstance(url, str):
            raise _bad(prefix + 'Field "url" must be of type String')
        problem = _url_problem(url)
        if problem:
            raise _bad(f"inline keyboard button URL '{url}' is invalid: {problem}")
    if "web_app" in actions:
        web_app = button["web_app"]
        url = web_app.get("url", "") if isinstance(web_app, dict) else ""
        if not isinstance(url, str) or not url.lower().startswith("https://"):
            raise _bad(
                f"inline keyboard button Web App URL '{url}' is invalid: "
                "Only HTTPS links are allowed"
            )
    if "pay" in actions or "callback_game" in actions:
        # Only valid on invoices and games, which the stand-in does not send.
        raise _bad("BUTTON_TYPE_INVALID")
    return dict(button)


def _inline_keyboard(markup: dict[str, Any]) -> dict[str, Any] | None:
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list):
        raise _bad('field "inline_keyboard" must be of type Array')
    checked: list[list[dict[str, Any]]] = []
    for row in rows:
        if not isinstance(row, list):
            raise _bad('field "inline_keyboard" must be an Array of Arrays')
        buttons = [_inline_button(button) for button in row]
        if buttons:
            checked.append(buttons)
    if not checked:
        # An empty keyboard is how a bot removes the buttons from a message.
        return None
    return {"inline_keyboard": checked}


def _reply_keyboard(markup: dict[str, Any]) -> dict[str, Any]:
    rows = markup["keyboard"]
    if not isinstance(rows, list):
        raise _bad('field "keyboard" must be of type Array')
    _check_bool_fields(markup, _REPLY_KEYBOARD_BOOLS)
    checked: list[list[dict[str, Any]]] = []
    for row in rows:
        if not isinstance(row, list):
            raise _bad('field "keyboard" must be an Array of Arrays')
        buttons: list[dict[str, Any]] = []
        for button in row:
            if isinstance(button, str):
                button = {"text": button}
            if not isinstance(button, dict):
                raise _bad(
                    "can't parse keyboard button: KeyboardButton must be a String or an Object"
                )
            if not isinstance(button.get("text"), str):
                raise _bad("can't parse keyboard button: Can't find field \"text\"")
            web_app = button.get("web_app")
            if isinstance(web_app, dict):
                url = web_app.get("url", "")
                if not isinstance(url, str) or not url.lower().startswith("https://"):
                    raise _bad(
                        f"keyboard button Web App URL '{url}' is invalid: "
                        "Only HTTPS links are allowed"
                    )
            buttons.append(dict(button))
        if buttons:
            checked.append(buttons)
    if not checked:
        raise _bad("keyboard must be non-empty")
    return {**markup, "keyboard": checked}


def parse_reply_markup(value: Any, *, inline_only: bool) -> dict[str, Any] | None:
    """Validate a ``reply_markup`` parameter; return it normalised (None = no keyboard)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        return _inline_keyboard(value)
    if inline_only:
        raise _bad("inline keyboard expected")
    if "keyboard" in value:
        return _reply_keyboard(value)
    if "remove_keyboard" in value:
        _check_bool_fields(value, ("remove_keyboard", "selective"))
        return dict(value)
    if "force_reply" in value:
        _check_bool_fields(value, ("force_reply", "selective"))
        return dict(value)
    raise _bad("can't parse reply keyboard markup JSON object")


def inline_buttons(markup: dict[str, Any] | None) -> list[list[Button]] | None:
    """Rows of (text, callback_data or url) for an inline keyboard, as a user sees it."""
    if not markup or "inline_keyboard" not in markup:
        return None
    rows: list[list[Button]] = []
    for row in markup["inline_keyboard"]:
        rows.append([Button(str(b["text"]), b.get("callback_data") or b.get("url")) for b in row])
    return rows


def reply_keyboard_texts(markup: dict[str, Any] | None) -> list[list[str]] | None:
    """Rows of button texts for a reply keyboard (the one shown instead of the text input)."""
    if not markup or "keyboard" not in markup:
        return None
    return [[str(button["text"]) for button in row] for row in markup["keyboard"]]
