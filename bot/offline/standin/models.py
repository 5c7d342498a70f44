"""Public value types of the Bot API stand-in: simulated people, chats and observations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

__all__ = [
    "ApiCall",
    "Button",
    "CallbackAnswer",
    "ChatMessage",
    "FakeChat",
    "FakeUser",
    "UploadedFile",
    "WebhookDelivery",
    "channel_chat",
    "group_chat",
    "private_chat",
    "supergroup_chat",
]

ChatType = Literal["private", "group", "supergroup", "channel"]


@dataclass(frozen=True)
class FakeUser:
    """A simulated Telegram user who talks to the bot."""

    id: int
    first_name: str = "Test"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"

    def to_dict(self) -> dict[str, Any]:
        """The user as a Bot API ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        if self.language_code is not None:
            data["language_code"] = self.language_code
        return data


@dataclass(frozen=True)
class FakeChat:
    """A chat the bot can be in; use the ``*_chat`` helpers to build one."""

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def is_group(self) -> bool:
        """True for groups and supergroups (Telegram's 20 messages/minute limit applies)."""
        return self.type in ("group", "supergroup")

    def to_dict(self) -> dict[str, Any]:
        """The chat as a Bot API ``Chat`` object."""
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for name in ("title", "username", "first_name", "last_name"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


def private_chat(user: FakeUser) -> FakeChat:
    """The private chat between ``user`` and the bot (its id is the user's id)."""
    return FakeChat(
        id=user.id,
        type="private",
        username=user.username,
        first_name=user.first_name,
        last_name=user.last_name,
    )


def group_chat(id: int, title: str = "Test group") -> FakeChat:
    """A basic group; Telegram gives groups negative ids."""
    if id >= 0:
        raise ValueError("group chat ids are negative in Telegram")
    return FakeChat(id=id, type="group", title=title)


def supergroup_chat(
    id: int, title: str = "Test supergroup", username: str | None = None
) -> FakeChat:
    """A supergroup; real ids look like -100xxxxxxxxxx."""
    if id >= 0:
        raise ValueError("supergroup chat ids are negative in Telegram")
    return FakeChat(id=id, type="supergroup", title=title, username=username)


def channel_chat(id: int, title: str = "Test channel", username: str | None = None) -> FakeChat:
    """A channel; posts in it arrive as ``channel_post`` updates without a sender."""
    if id >= 0:
        raise ValueError("channel chat ids are negative in Telegram")
    return FakeChat(id=id, type="channel", title=title, username=username)


class Button(NamedTuple):
    """An inline button as the user sees it: visible text and its callback_data or URL."""

    text: str
    data: str | None


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded in a multipart request."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary (no content) for logs and the control API."""
        return {
            "field": self.field_name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
        }


@dataclass(frozen=True)
class ChatMessage:
    """Snapshot of one message in a chat, as the user would see it at snapshot time."""

    chat_id: int
    message_id: int
    from_bot: bool
    sender_id: int | None
    date: int
    kind: str
    text: str | None
    html: str | None
    raw_text: str | None
    entities: tuple[dict[str, Any], ...]
    caption: str | None
    caption_html: str | None
    reply_markup: list[list[Button]] | None
    reply_keyboard: list[list[str]] | None
    raw_reply_markup: dict[str, Any] | None
    photo: bytes | None = field(repr=False)
    document: bytes | None = field(repr=False)
    filename: str | None
    mime_type: str | None
    file_id: str | None
    edit_count: int
    edit_date: int | None
    deleted: bool
    reply_to_message_id: int | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def buttons(self) -> list[Button]:
        """All inline buttons, row by row."""
        return [button for row in self.reply_markup or [] for button in row]

    @property
    def button_texts(self) -> list[str]:
        """Visible texts of all inline buttons, row by row."""
        return [button.text for button in self.buttons]


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request the bot made, with the stand-in's answer."""

    index: int
    method: str
    params: Mapping[str, Any] = field(repr=False)
    ok: bool
    error_code: int | None
    description: str | None
    at: float
    result: Any = field(default=None, repr=False)
    retry_after: int | None = None
    http_method: str = "POST"

    @property
    def chat_id(self) -> int | None:
        """The numeric ``chat_id`` parameter, if there was one."""
        value = self.params.get("chat_id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def summary(self) -> str:
        """One line without any message text (safe to show in assertion messages)."""
        where = f" chat={self.chat_id}" if self.chat_id is not None else ""
        outcome = "ok" if self.ok else f"{self.error_code} {self.description}"
        return f"#{self.index} {self.method}{where} -> {outcome}"


@dataclass(frozen=True)
class CallbackAnswer:
    """How the bot answered a callback query."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the bot's webhook."""

    update_id: int
    status: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        """Whether the webhook answered 2xx (the update then counts as delivered)."""
        return self.status is not None and 200 <= self.status < 300
