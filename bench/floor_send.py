"""The framework's send floor: a bare python-telegram-bot script sends a list of messages.

Run by bench/dispatch.py as
``python bench/floor_send.py BASE_URL TOKEN MESSAGES CONCURRENCY [TRANSPORT[+json] [PROFILE]]``,
where MESSAGES is a JSON file of ``{"chat_id", "text", "buttons"}`` objects: the very
messages the bot just sent in the same invocation (same texts, keyboards and chats). It
sends them all, at most CONCURRENCY at once (the bot's SEND_CONCURRENCY), with HTML parse
mode and an InlineKeyboardMarkup per message, as a first bot would: no database, no
encryption, no outbox, no pacing. It prints one JSON line: messages sent, wall seconds and
the process's CPU seconds spent sending (start-up excluded).

Keyboards: built as InlineKeyboardMarkup objects, as a first bot would; with ``+json``
after the transport (``aiohttp+json``), sent as the Bot API's JSON through ``api_kwargs``,
the very request the bot's sender makes (bot/sending/sender.py), which skips building and
serialising an object per button: the stricter floor.

Transport: ``httpx`` is python-telegram-bot's own (HTTPXRequest, its default); ``aiohttp``
is the bot's BaseRequest on aiohttp (bot/transport.py), so that the ratio against the bot
shows what the bot adds beyond the HTTP layer it chose. With PROFILE, the sending is
sampled by py-spy into that file (bench/spy.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from spy import py_spy
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.request import BaseRequest, HTTPXRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's bot package


def _markup(buttons: list[list[list[str]]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in buttons]
    )


def keyboard_json(buttons: list[list[list[str]]]) -> str:
    """The keyboard as the Bot API's ``reply_markup`` JSON, as bot.sending.outbox sends it."""
    return json.dumps(
        {
            "inline_keyboard": [
                [{"text": text, "callback_data": data} for text, data in row] for row in buttons
            ]
        }
    )


def _request(transport: str, concurrency: int) -> BaseRequest:
    """The HTTP layer, with a pool large enough for the concurrency asked (the default
    pool of one connection would make the floor artificially slow)."""
    if transport == "aiohttp":
        from bot.transport import AiohttpRequest

        return AiohttpRequest(connection_pool_size=concurrency)
    return HTTPXRequest(connection_pool_size=concurrency)


async def main(
    base_url: str,
    token: str,
    path: str,
    concurrency: int,
    transport: str,
    profile: Path | None,
    keyboard: str = "objects",
) -> None:
    """Send every message in the file, CONCURRENCY at a time; print the figures."""
    messages = json.loads(Path(path).read_text())  # noqa: ASYNC240 - before any timing
    request = _request(transport, concurrency)
    bot = Bot(token, base_url=base_url, request=request)
    slots = asyncio.Semaphore(concurrency)

    async def send(message: dict[str, object]) -> None:
        async with slots:
            if keyboard == "json" and message["buttons"]:
                # The request the bot makes: the same reply_markup, as the Bot API's JSON.
                await bot.send_message(
                    int(message["chat_id"]),  # type: ignore[call-overload]
                    str(message["text"]),
                    parse_mode=ParseMode.HTML,
                    api_kwargs={"reply_markup": keyboard_json(message["buttons"])},  # type: ignore[arg-type]
                )
                return
            await bot.send_message(
                int(message["chat_id"]),  # type: ignore[call-overload]
                str(message["text"]),
                parse_mode=ParseMode.HTML,
                reply_markup=_markup(message["buttons"]),  # type: ignore[arg-type]
            )

    async with bot:
        with py_spy(os.getpid(), profile):
            wall = time.perf_counter()
            cpu = time.process_time()
            await asyncio.gather(*(send(message) for message in messages))
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
    print(json.dumps({"sent": len(messages), "wall_s": wall, "cpu_s": cpu}), flush=True)


if __name__ == "__main__":
    transport, _, keyboard = (sys.argv[5] if len(sys.argv) > 5 else "httpx").partition("+")
    profile = Path(sys.argv[6]) if len(sys.argv) > 6 else None
    asyncio.run(
        main(
            sys.argv[1],
            sys.argv[2],
            sys.argv[3],
            int(sys.argv[4]),
            transport,
            profile,
            keyboard or "objects",
        )
    )
