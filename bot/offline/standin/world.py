"""The simulated Telegram behind the stand-in: chats, messages, files, updates.

Everything here is synchronous and transport-free. Bot API methods take decoded
``Params`` and return the JSON ``result`` or raise ``ApiError`` with Telegram's wording;
the ``user_*`` methods act for simulated people and queue the updates Telegram would send.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.offline.standin.formatting import (
    EntityParseError,
    FormattedText,
    bot_command_entities,
    parse_html,
    plain_text,
    validate_entities,
)
from bot.offline.standin.markup import (
    MarkupError,
    inline_buttons,
    parse_reply_markup,
    reply_keyboard_texts,
)
from bot.offline.standin.models import (
    CallbackAnswer,
    ChatMessage,
    FakeChat,
    FakeUser,
    UploadedFile,
    private_chat,
)
from bot.offline.standin.params import ApiError, Params

__all__ = ["ChatState", "SendGate", "StoredFile", "StoredMessage", "World"]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
EDIT_WINDOW_SECONDS = 48 * 3600

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")

# Called before a send is committed; raises ApiError (429) if flood control refuses it.
SendGate = Callable[["ChatState", str, int], None]


@dataclass
class StoredFile:
    """A file Telegram knows: uploaded by the bot, sent by a user, or given by URL."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None = field(default=None, repr=False)
    filename: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = None

    @property
    def size(self) -> int | None:
        """Size in bytes when the content is known."""
        return len(self.data) if self.data is not None else None

    def photo_sizes(self) -> list[dict[str, Any]]:
        """Bot API ``PhotoSize`` list for this photo."""
        size: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width or 800,
            "height": self.height or 600,
        }
        if self.size is not None:
            size["file_size"] = self.size
        return [size]

    def document_dict(self) -> dict[str, Any]:
        """Bot API ``Document`` for this file."""
        doc: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.filename:
            doc["file_name"] = self.filename
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        if self.size is not None:
            doc["file_size"] = self.size
        return doc


@dataclass
class StoredMessage:
    """A message in a chat, kept current as the bot edits or deletes it."""

    chat: FakeChat
    message_id: int
    from_bot: bool
    sender: dict[str, Any] | None
    date: int
    kind: str
    text: str | None = None
    entities: tuple[dict[str, Any], ...] = ()
    raw_text: str | None = None
    parse_mode: str | None = None
    caption: str | None = None
    caption_entities: tuple[dict[str, Any], ...] = ()
    raw_caption: str | None = None
    caption_parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    raw_reply_markup: dict[str, Any] | None = None
    file: StoredFile | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    reply_to_message: dict[str, Any] | None = None
    media_group_id: str | None = None
    edit_count: int = 0
    edit_date: int | None = None
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The message as a Bot API ``Message`` object, as it looks now."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": self.chat.to_dict(),
        }
        if self.chat.type == "channel":
            data["sender_chat"] = self.chat.to_dict()
        elif self.sender is not None:
            data["from"] = copy.deepcopy(self.sender)
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = copy.deepcopy(list(self.entities))
        if self.file is not None:
            if self.kind == "photo":
                data["photo"] = self.file.photo_sizes()
            elif self.kind == "document":
                data["document"] = self.file.document_dict()
        if self.caption:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = copy.deepcopy(list(self.caption_entities))
        data.update(copy.deepcopy(self.extra))
        if self.media_group_id is not None:
            data["media_group_id"] = self.media_group_id
        if self.reply_to_message is not None:
            data["reply_to_message"] = copy.deepcopy(self.reply_to_message)
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.reply_markup is not None:
            data["reply_markup"] = copy.deepcopy(self.reply_markup)
        return data

    def snapshot(self) -> ChatMessage:
        """An immutable copy for tests."""
        is_photo = self.kind == "photo" and self.file is not None
        is_document = self.kind == "document" and self.file is not None
        return ChatMessage(
            chat_id=self.chat.id,
            message_id=self.message_id,
            from_bot=self.from_bot,
            sender_id=self.sender.get("id") if self.sender else None,
            date=self.date,
            kind=self.kind,
            text=self.text,
            html=self.raw_text if self.parse_mode == "html" else None,
            raw_text=self.raw_text,
            entities=copy.deepcopy(self.entities),
            caption=self.caption,
            caption_html=self.raw_caption if self.caption_parse_mode == "html" else None,
            reply_markup=inline_buttons(self.reply_markup),
            reply_keyboard=reply_keyboard_texts(self.raw_reply_markup),
            raw_reply_markup=copy.deepcopy(self.raw_reply_markup),
            photo=self.file.data if is_photo and self.file else None,
            document=self.file.data if is_document and self.file else None,
            filename=self.file.filename if self.file else None,
            mime_type=self.file.mime_type if self.file else None,
            file_id=self.file.file_id if self.file else None,
            edit_count=self.edit_count,
            edit_date=self.edit_date,
            deleted=self.deleted,
            reply_to_message_id=(
                self.reply_to_message["message_id"] if self.reply_to_message else None
            ),
            raw=self.to_dict(),
        )


@dataclass
class ChatState:
    """One chat: its identity, message id sequence, messages and user-side status."""

    info: FakeChat
    next_message_id: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    blocked: bool = False
    deactivated: bool = False

    def take_message_id(self) -> int:
        """Next id in the chat's sequence, shared by the bot's and the users' messages."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class _PendingQuery:
    chat_id: int | None
    created: float


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG/JPEG/GIF/BMP/WebP image, (0, 0) if unknown, None if not one."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"GIF8") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(int(width)), abs(int(height))
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 0, 0
    if data.startswith(b"\xff\xd8"):
        return _jpeg_dimensions(data)
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        (segment_length,) = struct.unpack(">H", data[index + 2 : index + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        index += 2 + segment_length
    return 0, 0


class World:
    """State and semantics of the simulated Telegram."""

    def __init__(
        self,
        *,
        bot_id: int,
        bot_username: str,
        bot_first_name: str,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.clock = clock
        self.wall_clock = wall_clock
        self.strict_html_entities = True
        # Seconds (on ``clock``) a callback query stays answerable, like Telegram's timeout.
        self.callback_query_timeout = 15.0
        self.chats: dict[int, ChatState] = {}
        self.users: dict[int, FakeUser] = {}
        self.files: dict[str, StoredFile] = {}
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.updates: list[dict[str, Any]] = []
        self.next_update_id = 1
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.gate: SendGate | None = None
        self.on_update: Callable[[], None] = lambda: None
        self._queries: dict[str, _PendingQuery] = {}
        self._file_counter = itertools.count(1)
        self._query_counter = itertools.count(4_000_000_000_000_000_001)
        self._media_group_counter = itertools.count(1)

    # ----------------------------------------------------------------- identity

    def bot_user(self) -> dict[str, Any]:
        """The bot as a ``User`` object (as it appears in ``from`` fields)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def now(self) -> int:
        """Unix time for ``date`` fields."""
        return int(self.wall_clock())

    # ----------------------------------------------------------------- updates

    def enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates/webhook, assigning an increasing update_id."""
        update = copy.deepcopy(update)
        given = update.get("update_id")
        if isinstance(given, int) and not isinstance(given, bool):
            self.next_update_id = max(self.next_update_id, given + 1)
        else:
            update["update_id"] = self.next_update_id
            self.next_update_id += 1
        self.updates.append(update)
        self.on_update()
        return copy.deepcopy(update)

    def confirm_before(self, update_id: int) -> int:
        """Forget updates with an id below ``update_id``; return how many were dropped."""
        before = len(self.updates)
        self.updates = [u for u in self.updates if _update_id(u) >= update_id]
        return before - len(self.updates)

    def keep_last(self, count: int) -> None:
        """Negative getUpdates offset: keep only the last ``count`` updates."""
        self.updates = self.updates[-count:] if count > 0 else []

    # ----------------------------------------------------------------- lookups

    def chat_state(self, chat_id: int) -> ChatState:
        """The chat with that id (for tests); raises KeyError if the bot never saw it."""
        return self.chats[chat_id]

    def _resolve_chat(self, params: Params) -> ChatState:
        chat_id = params.chat_id()
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                wanted = chat_id[1:].lower()
                for candidate in self.chats.values():
                    username = (candidate.info.username or "").lower()
                    if candidate.info.type != "private" and username == wanted:
                        return candidate
            raise ApiError.bad_request("chat not found")
        state = self.chats.get(chat_id)
        if state is None:
            raise ApiError.bad_request("chat not found")
        return state

    def _before_send(self, chat: ChatState, method: str, cost: int) -> None:
        if chat.deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if self.gate is not None:
            self.gate(chat, method, cost)

    def _format(
        self, raw: str, parse_mode: str | None, entities: Any
    ) -> tuple[FormattedText, str | None]:
        """Apply parse_mode/entities; return the formatted text and the normalised mode."""
        if entities is not None:
            try:
                return validate_entities(raw, entities), None
            except EntityParseError as exc:
                raise ApiError.bad_request(str(exc)) from exc
        mode = (parse_mode or "").strip().lower()
        if not mode:
            return plain_text(raw), None
        if mode == "html":
            try:
                return parse_html(raw, strict_entities=self.strict_html_entities), "html"
            except EntityParseError as exc:
                raise ApiError.bad_request(f"can't parse entities: {exc}") from exc
        if mode in ("markdown", "markdownv2"):
            raise ApiError.bad_request(
                f"parse_mode {parse_mode} is not supported by the Bot API stand-in; "
                "use HTML or plain text"
            )
        raise ApiError.bad_request("unsupported parse_mode")

    def _text(self, params: Params) -> tuple[FormattedText, str, str | None]:
        raw = params.get_str("text")
        if not raw:
            raise ApiError.bad_request("message text is empty")
        formatted, mode = self._format(
            raw, params.get_str("parse_mode"), params.get_json("entities")
        )
        if not formatted.text:
            raise ApiError.bad_request("text must be non-empty")
        if len(formatted.text) > MAX_TEXT_LENGTH:
            raise ApiError.bad_request("message is too long")
        return formatted, raw, mode

    def _caption(self, params: Params) -> tuple[FormattedText | None, str | None, str | None]:
        raw = params.get_str("caption")
        if not raw:
            return None, None, None
        formatted, mode = self._format(
            raw, params.get_str("parse_mode"), params.get_json("caption_entities")
        )
        if len(formatted.text) > MAX_CAPTION_LENGTH:
            raise ApiError.bad_request("message caption is too long")
        return (formatted if formatted.text else None), raw, mode

    @staticmethod
    def _markup(params: Params, *, inline_only: bool) -> dict[str, Any] | None:
        try:
            return parse_reply_markup(params.get_json("reply_markup"), inline_only=inline_only)
        except MarkupError as exc:
            raise ApiError(400, str(exc)) from exc

    @staticmethod
    def _message_id(params: Params) -> int:
        message_id = params.get_int("message_id")
        if message_id is None:
            raise ApiError.bad_request("message identifier is not specified")
        return message_id

    def _reply_target(self, chat: ChatState, params: Params) -> dict[str, Any] | None:
        reply = params.get_json("reply_parameters")
        allow_missing = params.get_bool("allow_sending_without_reply")
        target_id: Any = params.get_int("reply_to_message_id")
        if reply is not None:
            if not isinstance(reply, dict):
                raise ApiError.bad_request("can't parse reply parameters JSON object")
            if "message_id" not in reply:
                raise ApiError.bad_request('can\'t find field "message_id"')
            target_id = reply["message_id"]
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        if target_id is None:
            return None
        target = chat.messages.get(target_id) if isinstance(target_id, int) else None
        if target is None or target.deleted:
            if allow_missing:
                return None
            raise ApiError.bad_request("message to be replied not found")
        replied = target.to_dict()
        replied.pop("reply_to_message", None)
        return replied

    def _editable(self, chat: ChatState, message_id: int) -> StoredMessage:
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise ApiError.bad_request("message to edit not found")
        if not message.from_bot:
            raise ApiError.bad_request("message can't be edited")
        if self.now() - message.date > EDIT_WINDOW_SECONDS:
            raise ApiError.bad_request("message can't be edited")
        return message

    def _new_bot_message(self, chat: ChatState, kind: str, **fields: Any) -> StoredMessage:
        message = StoredMessage(
            chat=chat.info,
            message_id=chat.take_message_id(),
            from_bot=True,
            sender=self.bot_user() if chat.info.type != "channel" else None,
            date=self.now(),
            kind=kind,
            **fields,
        )
        chat.messages[message.message_id] = message
        return message

    def _new_file(self, kind: str, **fields: Any) -> StoredFile:
        number = next(self._file_counter)
        stored = StoredFile(
            file_id=f"STANDIN-{kind.upper()}-{number:06d}",
            file_unique_id=f"U{number:06d}",
            kind=kind,
            **fields,
        )
        self.files[stored.file_id] = stored
        return stored

    # ----------------------------------------------------------------- bot methods

    def get_me(self, params: Params) -> dict[str, Any]:
        """getMe."""
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def send_message(self, params: Params) -> dict[str, Any]:
        """sendMessage."""
        params.chat_id()
        formatted, raw, mode = self._text(params)
        markup = self._markup(params, inline_only=False)
        chat = self._resolve_chat(params)
        reply_to = self._reply_target(chat, params)
        self._before_send(chat, "sendMessage", 1)
        message = self._new_bot_message(
            chat,
            "text",
            text=formatted.text,
            entities=formatted.entities,
            raw_text=raw,
            parse_mode=mode,
            reply_markup=markup if markup and "inline_keyboard" in markup else None,
            raw_reply_markup=markup,
            reply_to_message=reply_to,
        )
        return message.to_dict()

    def edit_message_text(self, params: Params) -> dict[str, Any]:
        """editMessageText (chat messages only; inline messages are not simulated)."""
        if params.has("inline_message_id"):
            raise ApiError.bad_request("MESSAGE_ID_INVALID")
        params.chat_id()
        message_id = self._message_id(params)
        formatted, raw, mode = self._text(params)
        markup = self._markup(params, inline_only=True)
        chat = self._resolve_chat(params)
        message = self._editable(chat, message_id)
        if message.kind != "text":
            raise ApiError.bad_request("there is no text in the message to edit")
        if (
            formatted.text == message.text
            and list(formatted.entities) == list(message.entities)
            and markup == message.reply_markup
        ):
            raise ApiError.bad_request(NOT_MODIFIED)
        self._before_send(chat, "editMessageText", 1)
        message.text = formatted.text
        message.entities = formatted.entities
        message.raw_text = raw
        message.parse_mode = mode
        # Without reply_markup an edit removes the inline keyboard, exactly like Telegram.
        message.reply_markup = markup
        message.raw_reply_markup = markup
        message.edit_count += 1
        message.edit_date = self.now()
        return message.to_dict()

    def edit_message_caption(self, params: Params) -> dict[str, Any]:
        """editMessageCaption."""
        if params.has("inline_message_id"):
            raise ApiError.bad_request("MESSAGE_ID_INVALID")
        params.chat_id()
        message_id = self._message_id(params)
        formatted, raw, mode = self._caption(params)
        markup = self._markup(params, inline_only=True)
        chat = self._resolve_chat(params)
        message = self._editable(chat, message_id)
        if message.file is None:
            raise ApiError.bad_request("there is no caption in the message to edit")
        new_caption = formatted.text if formatted else None
        new_entities = formatted.entities if formatted else ()
        if (
            new_caption == message.caption
            and list(new_entities) == list(message.caption_entities)
            and markup == message.reply_markup
        ):
            raise ApiError.bad_request(NOT_MODIFIED)
        self._before_send(chat, "editMessageCaption", 1)
        message.caption = new_caption
        message.caption_entities = new_entities
        message.raw_caption = raw
        message.caption_parse_mode = mode
        message.reply_markup = markup
        message.raw_reply_markup = markup
        message.edit_count += 1
        message.edit_date = self.now()
        return message.to_dict()

    def edit_message_reply_markup(self, params: Params) -> dict[str, Any]:
        """editMessageReplyMarkup."""
        if params.has("inline_message_id"):
            raise ApiError.bad_request("MESSAGE_ID_INVALID")
        params.chat_id()
        message_id = self._message_id(params)
        markup = self._markup(params, inline_only=True)
        chat = self._resolve_chat(params)
        message = self._editable(chat, message_id)
        if markup == message.reply_markup:
            raise ApiError.bad_request(NOT_MODIFIED)
        self._before_send(chat, "editMessageReplyMarkup", 1)
        message.reply_markup = markup
        message.raw_reply_markup = markup
        message.edit_count += 1
        return message.to_dict()

    def delete_message(self, params: Params) -> bool:
        """deleteMessage."""
        params.chat_id()
        message_id = self._message_id(params)
        chat = self._resolve_chat(params)
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise ApiError.bad_request("message to delete not found")
        too_old = self.now() - message.date > EDIT_WINDOW_SECONDS
        if too_old or (chat.info.type != "private" and not message.from_bot):
            # Deleting others' messages in groups needs admin rights the stand-in never grants.
            raise ApiError.bad_request("message can't be deleted for everyone")
        message.deleted = True
        return True

    def answer_callback_query(self, params: Params) -> bool:
        """answerCallbackQuery."""
        query_id = params.get_str("callback_query_id") or ""
        pending = self._queries.get(query_id)
        if pending is None or self.clock() - pending.created > self.callback_query_timeout:
            raise ApiError.bad_request(QUERY_TOO_OLD)
        text = params.get_str("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError.bad_request("MESSAGE_TOO_LONG")
        del self._queries[query_id]
        self.callback_answers[query_id] = CallbackAnswer(
            query_id=query_id,
            text=text,
            show_alert=params.get_bool("show_alert"),
            url=params.get_str("url"),
            cache_time=params.get_int("cache_time"),
        )
        return True

    def send_chat_action(self, params: Params) -> bool:
        """sendChatAction."""
        params.chat_id()
        action = params.get_str("action")
        if action not in CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        chat = self._resolve_chat(params)
        if chat.deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return True

    def _input_file(self, params: Params, name: str, kind: str) -> StoredFile:
        upload = params.files.get(name)
        value = params.values.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = params.files.get(value[len("attach://") :])
            if upload is None:
                raise ApiError.bad_request(f"there is no {kind} in the request")
        if upload is not None:
            return self._store_upload(upload, kind)
        if isinstance(value, str) and value:
            known = self.files.get(value)
            if known is not None:
                if kind == "photo" and known.kind != "photo":
                    raise ApiError.bad_request(
                        f"can't use file of type {known.kind.capitalize()} as Photo"
                    )
                return known
            if value.startswith(("http://", "https://")):
                # Telegram would download it; the stand-in records the URL instead.
                return self._new_file(kind, url=value)
            raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
        raise ApiError.bad_request(f"there is no {kind} in the request")

    def _store_upload(self, upload: UploadedFile, kind: str) -> StoredFile:
        data = upload.data
        if not data:
            raise ApiError.bad_request("file must be non-empty")
        if len(data) > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        if kind != "photo":
            return self._new_file(
                kind, data=data, filename=upload.filename, mime_type=upload.content_type
            )
        if len(data) > MAX_PHOTO_BYTES:
            raise ApiError.bad_request("file is too big")
        dimensions = image_dimensions(data)
        if dimensions is None:
            raise ApiError.bad_request("IMAGE_PROCESS_FAILED")
        width, height = dimensions
        if (
            width
            and height
            and (width + height > 10000 or max(width, height) > 20 * min(width, height))
        ):
            raise ApiError.bad_request("PHOTO_INVALID_DIMENSIONS")
        return self._new_file(
            "photo",
            data=data,
            filename=upload.filename,
            mime_type=upload.content_type,
            width=width or None,
            height=height or None,
        )

    def _send_media(self, params: Params, kind: str, method: str) -> dict[str, Any]:
        params.chat_id()
        stored = self._input_file(params, kind, kind)
        caption, raw_caption, mode = self._caption(params)
        markup = self._markup(params, inline_only=False)
        chat = self._resolve_chat(params)
        reply_to = self._reply_target(chat, params)
        self._before_send(chat, method, 1)
        message = self._new_bot_message(
            chat,
            kind,
            file=stored,
            caption=caption.text if caption else None,
            caption_entities=caption.entities if caption else (),
            raw_caption=raw_caption,
            caption_parse_mode=mode,
            reply_markup=markup if markup and "inline_keyboard" in markup else None,
            raw_reply_markup=markup,
            reply_to_message=reply_to,
        )
        return message.to_dict()

    def send_photo(self, params: Params) -> dict[str, Any]:
        """sendPhoto."""
        return self._send_media(params, "photo", "sendPhoto")

    def send_document(self, params: Params) -> dict[str, Any]:
        """sendDocument."""
        return self._send_media(params, "document", "sendDocument")

    def send_media_group(self, params: Params) -> list[dict[str, Any]]:
        """sendMediaGroup (photo and document albums)."""
        params.chat_id()
        media = params.get_json("media")
        if not isinstance(media, list):
            raise ApiError.bad_request("can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            raise ApiError.bad_request("wrong number of media items specified (must be 2-10)")
        kinds = set()
        prepared: list[tuple[str, StoredFile, FormattedText | None, str | None, str | None]] = []
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in ("photo", "document"):
                raise ApiError.bad_request(
                    "unsupported media type in the stand-in (photo/document only)"
                )
            kind = str(item["type"])
            kinds.add(kind)
            item_params = Params(
                {
                    kind: item.get("media"),
                    "caption": item.get("caption"),
                    "parse_mode": item.get("parse_mode"),
                    "caption_entities": item.get("caption_entities"),
                },
                params.files,
            )
            stored = self._input_file(item_params, kind, kind)
            caption, raw_caption, mode = self._caption(item_params)
            prepared.append((kind, stored, caption, raw_caption, mode))
        if len(kinds) > 1:
            raise ApiError.bad_request("document can't be mixed with other media types")
        chat = self._resolve_chat(params)
        reply_to = self._reply_target(chat, params)
        self._before_send(chat, "sendMediaGroup", len(prepared))
        group_id = str(next(self._media_group_counter))
        results = []
        for kind, stored, caption, raw_caption, mode in prepared:
            message = self._new_bot_message(
                chat,
                kind,
                file=stored,
                caption=caption.text if caption else None,
                caption_entities=caption.entities if caption else (),
                raw_caption=raw_caption,
                caption_parse_mode=mode,
                media_group_id=group_id,
                reply_to_message=reply_to,
            )
            results.append(message.to_dict())
        return results

    def _command_key(self, params: Params) -> tuple[str, str]:
        scope = params.get_json("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPES:
            raise ApiError.bad_request("can't parse BotCommandScope: Unsupported type specified")
        language = params.get_str("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiError.bad_request("invalid language code specified")
        return _canonical_json(scope), language

    def set_my_commands(self, params: Params) -> bool:
        """setMyCommands."""
        commands = params.get_json("commands")
        if not isinstance(commands, list):
            raise ApiError.bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError.bad_request("too many commands specified")
        checked = []
        for command in commands:
            if not isinstance(command, dict):
                raise ApiError.bad_request("can't parse BotCommand: BotCommand must be an Object")
            name = command.get("command")
            description = command.get("description")
            if not isinstance(name, str) or not _COMMAND_RE.match(name):
                raise ApiError.bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            checked.append({"command": name, "description": description})
        self.commands[self._command_key(params)] = checked
        return True

    def get_my_commands(self, params: Params) -> list[dict[str, Any]]:
        """getMyCommands."""
        return copy.deepcopy(self.commands.get(self._command_key(params), []))

    def delete_my_commands(self, params: Params) -> bool:
        """deleteMyCommands."""
        self.commands.pop(self._command_key(params), None)
        return True

    def set_chat_menu_button(self, params: Params) -> bool:
        """setChatMenuButton."""
        chat_id: int | None = None
        if params.has("chat_id"):
            chat = self._resolve_chat(params)
            if chat.info.type != "private":
                raise ApiError.bad_request("chat not found")
            chat_id = chat.info.id
        button = params.get_json("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise ApiError.bad_request("can't parse menu button JSON object")
        if button["type"] == "web_app":
            web_app = button.get("web_app")
            url = web_app.get("url") if isinstance(web_app, dict) else None
            if not isinstance(button.get("text"), str) or not isinstance(url, str):
                raise ApiError.bad_request("can't parse menu button JSON object")
            if not url.lower().startswith("https://"):
                raise ApiError.bad_request(
                    f"menu button Web App URL '{url}' is invalid: Only HTTPS links are allowed"
                )
        self.menu_buttons[chat_id] = copy.deepcopy(button)
        return True

    def get_chat_menu_button(self, params: Params) -> dict[str, Any]:
        """getChatMenuButton."""
        chat_id = self._resolve_chat(params).info.id if params.has("chat_id") else None
        button = self.menu_buttons.get(chat_id) or self.menu_buttons.get(None)
        return copy.deepcopy(button) if button else {"type": "default"}

    def get_chat(self, params: Params) -> dict[str, Any]:
        """getChat (a minimal ChatFullInfo)."""
        chat = self._resolve_chat(params)
        return {**chat.info.to_dict(), "accent_color_id": 0, "max_reaction_count": 11}

    def get_file(self, params: Params) -> dict[str, Any]:
        """getFile: only files whose content the stand-in holds can be downloaded."""
        file_id = params.get_str("file_id") or ""
        stored = self.files.get(file_id)
        if stored is None or stored.data is None:
            raise ApiError.bad_request("invalid file_id")
        result: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": self.file_path(stored),
        }
        if stored.size is not None:
            result["file_size"] = stored.size
        return result

    @staticmethod
    def file_path(stored: StoredFile) -> str:
        """Download path of a file under ``/file/bot<token>/``."""
        return f"{stored.kind}s/{stored.file_unique_id}"

    def file_by_path(self, path: str) -> StoredFile | None:
        """The file served at a getFile path, if any."""
        for stored in self.files.values():
            if self.file_path(stored) == path and stored.data is not None:
                return stored
        return None

    # ----------------------------------------------------------------- people

    def register_user(self, user: FakeUser, chat: FakeChat | None = None) -> ChatState:
        """Make the chat known to the bot (the user has talked to it before)."""
        self.users[user.id] = user
        info = chat or private_chat(user)
        state = self.chats.get(info.id)
        if state is None:
            state = ChatState(info)
            self.chats[info.id] = state
        elif chat is None:
            state.info = info  # a private chat follows the user's current name
        return state

    def add_chat(self, chat: FakeChat) -> ChatState:
        """Make a group/supergroup/channel known (as if the bot had been added to it)."""
        state = self.chats.get(chat.id)
        if state is None:
            state = ChatState(chat)
            self.chats[chat.id] = state
        return state

    def _user_chat(self, user: FakeUser, chat: FakeChat | None) -> ChatState:
        state = self.register_user(user, chat)
        if state.info.type == "private":
            if state.deactivated:
                raise ValueError(f"user {user.id} is deactivated and cannot write")
            if state.blocked:
                # Writing to a blocked bot means unblocking it first (the "Restart" button).
                self.set_blocked(state.info.id, False, notify=True)
        return state

    def user_message(
        self,
        user: FakeUser,
        chat: FakeChat | None,
        kind: str,
        *,
        text: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        caption: str | None = None,
        file: StoredFile | None = None,
        extra: dict[str, Any] | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Store a message from a simulated person and queue its update."""
        state = self._user_chat(user, chat)
        reply_to = None
        if reply_to_message_id is not None:
            target = state.messages.get(reply_to_message_id)
            if target is None or target.deleted:
                raise ValueError(f"no message {reply_to_message_id} in chat {state.info.id}")
            reply_to = target.to_dict()
            reply_to.pop("reply_to_message", None)
        message = StoredMessage(
            chat=state.info,
            message_id=state.take_message_id(),
            from_bot=False,
            sender=user.to_dict() if state.info.type != "channel" else None,
            date=self.now(),
            kind=kind,
            text=text,
            entities=tuple(entities or ()),
            raw_text=text,
            caption=caption,
            raw_caption=caption,
            file=file,
            extra=extra or {},
            reply_to_message=reply_to,
        )
        state.messages[message.message_id] = message
        key = "channel_post" if state.info.type == "channel" else "message"
        return self.enqueue({key: message.to_dict()})

    def user_text(
        self, user: FakeUser, text: str, chat: FakeChat | None, reply_to_message_id: int | None
    ) -> dict[str, Any]:
        """A text message; bot commands in it get ``bot_command`` entities."""
        return self.user_message(
            user,
            chat,
            "text",
            text=text,
            entities=bot_command_entities(text),
            reply_to_message_id=reply_to_message_id,
        )

    def user_file(self, kind: str, data: bytes | None, **fields: Any) -> StoredFile:
        """Register a file a user sends (so the bot can re-send or download it)."""
        return self._new_file(kind, data=data, **fields)

    def user_edit(
        self, user: FakeUser, message_id: int, new_text: str, chat: FakeChat | None
    ) -> dict[str, Any]:
        """The user edits their own text message: an ``edited_message`` update."""
        state = self._user_chat(user, chat)
        message = state.messages.get(message_id)
        if message is None or message.deleted:
            raise ValueError(f"no message {message_id} in chat {state.info.id}")
        if message.from_bot or (message.sender or {}).get("id") != user.id:
            raise ValueError(f"message {message_id} was not sent by user {user.id}")
        if message.kind != "text":
            raise ValueError(f"message {message_id} is not a text message")
        message.text = new_text
        message.raw_text = new_text
        message.entities = tuple(bot_command_entities(new_text))
        message.edit_count += 1
        message.edit_date = self.now()
        key = "edited_channel_post" if state.info.type == "channel" else "edited_message"
        return self.enqueue({key: message.to_dict()})

    def user_press(
        self,
        user: FakeUser,
        message_id: int,
        callback_data: str,
        chat: FakeChat | None,
        *,
        strict: bool,
    ) -> tuple[str, dict[str, Any]]:
        """The user taps an inline button: a ``callback_query`` update; returns (id, update)."""
        state = self._user_chat(user, chat)
        message = state.messages.get(message_id)
        if message is None or message.deleted:
            raise ValueError(f"no message {message_id} in chat {state.info.id}")
        if not message.from_bot:
            raise ValueError(f"message {message_id} is not from the bot")
        if strict:
            datas = [b.data for row in inline_buttons(message.reply_markup) or [] for b in row]
            if callback_data not in datas:
                texts = [b.text for row in inline_buttons(message.reply_markup) or [] for b in row]
                raise ValueError(
                    f"message {message_id} has no button with that callback_data; "
                    f"its buttons are {texts}"
                )
        query_id = str(next(self._query_counter))
        query = {
            "id": query_id,
            "from": user.to_dict(),
            "message": message.to_dict(),
            # Stable per chat, like Telegram's opaque chat_instance.
            "chat_instance": str(abs(state.info.id) * 1_000_003 + self.bot_id),
            "data": callback_data,
        }
        self._queries[query_id] = _PendingQuery(chat_id=state.info.id, created=self.clock())
        return query_id, self.enqueue({"callback_query": query})

    def find_button(self, chat_id: int, message_id: int, text_startswith: str) -> str:
        """callback_data of the button whose text is (or uniquely starts with) the given text."""
        state = self.chats.get(chat_id)
        message = state.messages.get(message_id) if state else None
        if message is None or message.deleted:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        buttons = [b for row in inline_buttons(message.reply_markup) or [] for b in row]
        callback_buttons = [b for b in buttons if b.data is not None]
        exact = [b for b in callback_buttons if b.text == text_startswith]
        matches = exact or [b for b in callback_buttons if b.text.startswith(text_startswith)]
        if len(matches) != 1:
            problem = "no button" if not matches else "several buttons"
            raise ValueError(
                f"{problem} starting with {text_startswith!r} in message {message_id}; "
                f"its buttons are {[b.text for b in buttons]}"
            )
        return str(matches[0].data)

    def set_blocked(self, chat_id: int, blocked: bool, *, notify: bool) -> None:
        """Block or unblock the bot; Telegram tells the bot with a ``my_chat_member`` update."""
        state = self.chats.get(chat_id)
        if state is None or state.info.type != "private":
            raise ValueError(f"no private chat {chat_id}; the user must exist first")
        if state.blocked == blocked:
            return
        state.blocked = blocked
        user = self.users.get(chat_id)
        if notify and user is not None:
            bot = {**self.bot_user()}
            member = {"status": "member", "user": bot}
            kicked = {"status": "kicked", "user": bot, "until_date": 0}
            self.enqueue(
                {
                    "my_chat_member": {
                        "chat": state.info.to_dict(),
                        "from": user.to_dict(),
                        "date": self.now(),
                        "old_chat_member": member if blocked else kicked,
                        "new_chat_member": kicked if blocked else member,
                    }
                }
            )

    def messages(self, chat_id: int) -> list[ChatMessage]:
        """Snapshots of every message in the chat, oldest first."""
        state = self.chats.get(chat_id)
        if state is None:
            return []
        return [state.messages[k].snapshot() for k in sorted(state.messages)]


def _update_id(update: dict[str, Any]) -> int:
    value = update.get("update_id")
    return value if isinstance(value, int) else 0


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
