"""The framework's floor: a bare python-telegram-bot bot that answers a button and edits.

Run by bench/answers.py as
``python bench/floor_bot.py BASE_URL TOKEN FIRST_CHAT COUNT [httpx|aiohttp]``.
It sends each of COUNT people one message with five buttons, then answers every press
by answering the callback and editing the message (new text, same buttons), side by side
as the bot does, an answer that fails (a tap too old to answer) not stopping the edit —
what the check-in does per answer, minus everything the bot adds (database, checks,
templates).
All python-telegram-bot defaults, as a first bot would have them; with ``aiohttp`` the
HTTP layer is the bot's own (bot/transport.py, a BaseRequest on aiohttp), with pools as
large as the bot's defaults, so that the ratio against this floor shows what the bot adds
beyond the transport it chose.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's bot package

KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton(f"{n} option", callback_data=f"a:{n}")] for n in range(5, 0, -1)]
)


async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the tap and move the message on."""
    query = update.callback_query
    assert query is not None
    step = context.chat_data.get("step", 1) + 1 if context.chat_data is not None else 2
    if context.chat_data is not None:
        context.chat_data["step"] = step
    # Side by side, as the bot does; an answer Telegram no longer takes (a tap older than
    # its window) must not keep the message from moving on, or the person would be stuck.
    await asyncio.gather(
        query.answer("Saved"),
        query.edit_message_text(f"Question {step}", reply_markup=KEYBOARD),
        return_exceptions=True,
    )


Builder = ApplicationBuilder[Any, Any, Any, Any, Any, Any]


def _builder(token: str, base_url: str, transport: str) -> Builder:
    builder = Application.builder().token(token).base_url(base_url)
    if transport == "aiohttp":
        from bot.transport import AiohttpRequest

        builder = builder.request(AiohttpRequest(connection_pool_size=8)).get_updates_request(
            AiohttpRequest(connection_pool_size=2)
        )
    return builder


async def main(base_url: str, token: str, first_chat: int, count: int, transport: str) -> None:
    """Send the first messages, then poll until killed."""
    application = _builder(token, base_url, transport).build()
    application.add_handler(CallbackQueryHandler(press))
    async with application:
        for n in range(count):
            await application.bot.send_message(first_chat + n, "Question 1", reply_markup=KEYBOARD)
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=["callback_query"])
        await application.start()
        print("floor bot ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    transport = sys.argv[5] if len(sys.argv) > 5 else "httpx"
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), transport))
