"""The framework's floor: a bare python-telegram-bot bot that answers a button and edits.

Run by bench/answers.py as ``python bench/floor_bot.py BASE_URL TOKEN FIRST_CHAT COUNT``.
It sends each of COUNT people one message with five buttons, then answers every press
by answering the callback and editing the message (new text, same buttons) — what the
check-in does per answer, minus everything the bot adds (database, checks, templates).
All python-telegram-bot defaults, as a first bot would have them.
"""

from __future__ import annotations

import asyncio
import sys

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

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
    await query.answer("Saved")
    await query.edit_message_text(f"Question {step}", reply_markup=KEYBOARD)


async def main(base_url: str, token: str, first_chat: int, count: int) -> None:
    """Send the first messages, then poll until killed."""
    application = Application.builder().token(token).base_url(base_url).build()
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
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
