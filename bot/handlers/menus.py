"""The "/" command menu each person sees: clients' by default, therapists' in their own chats.

Telegram shows the commands set for the most specific scope that has any: a chat's own
list (``BotCommandScopeChat``) before the default one, and within a scope the list for
the user's app language before the list without one. So the default scope carries the
client commands (in every locale), and each therapist's chat carries the therapist
commands in the therapist's chosen language — set when they register or change language,
and set again for every therapist at start-up (a list set by an older version, or lost,
is put right without anyone doing anything).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import select
from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from bot.services import Services
from bot.texts import DEFAULT_LOCALE, Texts
from storage.models import Therapist

log = logging.getLogger(__name__)

THERAPIST_COMMANDS = (
    "invite",
    "session",
    "schedule",
    "digest",
    "clients",
    "client",
    "end",
    "export",
    "rate",
    "timezone",
    "digesttime",
    "language",
    "help",
    "source",
)
CLIENT_COMMANDS = (
    "back",
    "myanswers",
    "pause",
    "resume",
    "stop",
    "privacy",
    "mydata",
    "delete",
    "language",
    "help",
    "source",
)


def commands(texts: Texts, locale: str, names: tuple[str, ...]) -> list[BotCommand]:
    """Commands with their descriptions in one locale."""
    return [BotCommand(name, texts.plain(locale, f"commands.{name}")) for name in names]


async def set_client_menu(bot: Any, texts: Texts) -> None:
    """The default menu, in every locale: the client commands only."""
    for locale in texts.locales:
        await bot.set_my_commands(
            commands(texts, locale, CLIENT_COMMANDS),
            scope=BotCommandScopeDefault(),
            language_code=None if locale == DEFAULT_LOCALE else locale,
        )


async def set_therapist_menu(bot: Any, texts: Texts, chat_id: int, locale: str) -> bool:
    """A therapist's own chat shows the therapist commands; False if Telegram refused."""
    try:
        await bot.set_my_commands(
            commands(texts, locale, THERAPIST_COMMANDS), scope=BotCommandScopeChat(chat_id)
        )
    except TelegramError as exc:
        # A therapist who blocked the bot or whose chat is gone: the menu can wait.
        log.warning("could not set a therapist's command menu (%s)", type(exc).__name__)
        return False
    return True


async def set_all_menus(bot: Any, services: Services) -> int:
    """At start-up: the default menu, then each therapist's; returns therapists served."""
    await set_client_menu(bot, services.texts)
    async with services.db.session() as session:
        therapists = (await session.exec(select(Therapist))).all()
        chats = [(t.chat_id, t.locale) for t in therapists if t.unreachable_at is None]
    done = 0
    for chat_id, locale in chats:
        done += await set_therapist_menu(bot, services.texts, chat_id, locale)
    return done
