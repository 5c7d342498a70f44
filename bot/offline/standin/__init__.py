"""Local stand-in for Telegram's Bot API, for end-to-end tests, benchmarks and demos.

Usage in a test (same event loop as the bot)::

    async with BotAPIStandIn() as tg:
        app = Application.builder().token(tg.token).base_url(tg.base_url).build()
        ...
        tg.send_command(FakeUser(42, "Ada"), "/start")
        reply = await tg.wait_for(lambda: tg.last_bot_message(42))
"""

from bot.offline.standin.models import (
    ApiCall,
    Button,
    CallbackAnswer,
    ChatMessage,
    FakeChat,
    FakeUser,
    UploadedFile,
    WebhookDelivery,
    channel_chat,
    group_chat,
    private_chat,
    supergroup_chat,
)
from bot.offline.standin.server import STANDIN_TOKEN, BotAPIStandIn

__all__ = [
    "ApiCall",
    "BotAPIStandIn",
    "STANDIN_TOKEN",
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
