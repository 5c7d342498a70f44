"""Reading Bot API request parameters the way Telegram does.

Telegram accepts parameters in the query string, as ``application/x-www-form-urlencoded``,
as ``multipart/form-data`` (needed for uploads) and as an ``application/json`` body.
python-telegram-bot sends form fields whose non-string values are JSON-encoded strings
(``reply_markup={"inline_keyboard": ...}``, ``chat_id=123``); JSON bodies may carry either
native values or such strings. Everything is normalised here into one dict of typed values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.offline.standin.models import UploadedFile

__all__ = ["ApiError", "Params", "read_request_params"]

# Parameters whose value is a JSON-serialised object or array in the Bot API.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "menu_button",
        "media",
        "link_preview_options",
        "reply_parameters",
    }
)
_INT_FIELDS = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "max_connections",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "user_id",
        "from_chat_id",
    }
)
_FLOAT_FIELDS = frozenset({"timeout", "latitude", "longitude"})
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "has_spoiler",
        "disable_content_type_detection",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)


class ApiError(Exception):
    """A Bot API error answer: HTTP status = ``error_code``, Telegram's ``description``."""

    def __init__(
        self, error_code: int, description: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    @staticmethod
    def bad_request(description: str) -> ApiError:
        """400 with the usual "Bad Request: " prefix."""
        return ApiError(400, f"Bad Request: {description}")


def _decode_value(name: str, value: Any) -> Any:
    """Turn a transport value into the typed value Telegram would see (best effort)."""
    if not isinstance(value, str):
        return value
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # left as a string so the method reports its own parse error
    if name == "chat_id" or name in _INT_FIELDS:
        stripped = value.strip()
        if stripped.lstrip("-").isdigit() and stripped.isascii():
            return int(stripped)
        return value
    if name in _FLOAT_FIELDS:
        try:
            return float(value)
        except ValueError:
            return value
    if name in _BOOL_FIELDS:
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
        return value
    return value


class Params:
    """Decoded parameters of one request plus the files uploaded with it."""

    def __init__(self, values: Mapping[str, Any], files: Mapping[str, UploadedFile]) -> None:
        self.values: dict[str, Any] = {k: _decode_value(k, v) for k, v in values.items()}
        self.files: dict[str, UploadedFile] = dict(files)

    def recorded(self) -> dict[str, Any]:
        """Parameters as stored in ``ApiCall.params``: decoded values plus uploaded files."""
        return {**self.values, **self.files}

    def has(self, name: str) -> bool:
        """Whether the parameter was given (with a non-null value)."""
        return self.values.get(name) is not None

    def get_str(self, name: str) -> str | None:
        """A string parameter; numbers are accepted and converted, like Telegram does."""
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str):
            return value
        raise ApiError.bad_request(f'field "{name}" must be of type String')

    def get_int(self, name: str) -> int | None:
        """An integer parameter."""
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError.bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, float) and not value.is_integer():
            raise ApiError.bad_request(f'field "{name}" must be of type Integer')
        return int(value)

    def get_float(self, name: str) -> float | None:
        """A number parameter."""
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError.bad_request(f'field "{name}" must be of type Number')
        return float(value)

    def get_bool(self, name: str) -> bool:
        """A boolean parameter (absent = False)."""
        value = self.values.get(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        raise ApiError.bad_request(f'field "{name}" must be of type Boolean')

    def get_json(self, name: str) -> Any:
        """A JSON-valued parameter, already decoded (a str means it was not valid JSON)."""
        return self.values.get(name)

    def chat_id(self) -> int | str:
        """``chat_id`` as int, or the raw string (``@username``); raises if missing."""
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise ApiError.bad_request("chat_id is empty")
        if isinstance(value, bool):
            raise ApiError.bad_request("chat not found")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return str(value)


async def read_request_params(request: web.Request) -> Params:
    """Collect parameters from the query string and the body of a Bot API request."""
    values: dict[str, Any] = dict(request.query.items())
    files: dict[str, UploadedFile] = {}
    if request.method == "POST" and request.body_exists:
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = json.loads(await request.text())
            except ValueError as exc:
                raise ApiError.bad_request("can't parse JSON object") from exc
            if not isinstance(body, dict):
                raise ApiError.bad_request("JSON object expected")
            values.update(body)
        elif content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(
                        field_name=key,
                        filename=value.filename,
                        content_type=value.content_type,
                        data=value.file.read(),
                    )
                elif isinstance(value, bytes | bytearray):
                    values[key] = bytes(value).decode("utf-8", "replace")
                else:
                    values[key] = value
    return Params(values, files)
