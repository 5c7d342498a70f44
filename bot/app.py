"""Wiring: the python-telegram-bot Application with every handler and the dispatcher job."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import callbacks, metrics, safety
from bot.checkins.lifecycle import new_sender
from bot.due_work import run_due_work
from bot.handlers import admin, buttons, common, menus, myanswers, people, reports, rights
from bot.sending import flood
from bot.services import BotContext, Services
from bot.transport import UPDATES_REQUEST_KEY, AiohttpRequest, UpdatesRequest
from bot.updates import PerPersonUpdateProcessor, drop_duplicates, finish_update

log = logging.getLogger(__name__)

DISPATCH_JOB = "dispatch-due-work"
P = TypeVar("P", bound=callbacks.Press)


AppType = Application[Any, BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


async def dispatch_job(context: BotContext) -> None:
    """The periodic job: hand due work to the outbox and send it."""
    metrics.record_dispatch(await run_due_work(context.services, context.bot))


async def _post_init(application: AppType) -> None:
    services: Services = application.bot_data["services"]
    me = await application.bot.get_me()
    services.bot_username = me.username or ""
    # Clients' commands by default, therapists' in each therapist's chat (bot.handlers.menus).
    await menus.set_all_menus(application.bot, services)


def _pool_size(services: Services) -> int:
    """Connections to the Bot API: the outbox's sends plus two per update in flight."""
    settings = services.settings
    return settings.send_concurrency + 2 * settings.update_concurrency + 4


def build_application(
    services: Services,
    *,
    token: str,
    base_url: str,
    start_dispatcher: bool = True,
    updater: bool = True,
    application_class: type[Application[Any, Any, Any, Any, Any, Any]] = Application,
) -> AppType:
    """The Application, ready for polling or webhooks."""
    updates_request = UpdatesRequest(connection_pool_size=2)
    builder = (
        Application.builder()
        .token(token)
        .base_url(base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .context_types(ContextTypes(context=BotContext))
        .post_init(_post_init)
        .application_class(application_class)
        # One flood budget for handler replies and outbox sends alike (bot.sending.flood).
        .rate_limiter(flood.from_settings(services.settings))
        # aiohttp instead of httpx: several times the requests per second (bot.transport).
        .request(AiohttpRequest(connection_pool_size=_pool_size(services)))
        .get_updates_request(updates_request)
        # Several people's updates at once, each person's in order (bot.updates).
        .concurrent_updates(PerPersonUpdateProcessor(services.settings.update_concurrency))
    )
    if not updater:
        builder = builder.updater(None)
    application: AppType = builder.build()
    application.bot_data["services"] = services
    # The polling inbox stores each update as it arrived from here (bot.inbox).
    application.bot_data[UPDATES_REQUEST_KEY] = updates_request
    # The process's one outbox sender, reached through the services (bot.checkins.lifecycle).
    new_sender(services, application.bot)
    add_handlers(application)
    if start_dispatcher and application.job_queue is not None:
        application.job_queue.run_repeating(
            dispatch_job,
            interval=services.settings.dispatch_interval_seconds,
            first=1,
            name=DISPATCH_JOB,
            job_kwargs={"max_instances": 1, "coalesce": True},
        )
    return application


def add_handlers(application: AppType) -> None:
    """Register handlers; groups order the cross-cutting checks before the commands."""
    # Risk language first, before any database work: the crisis reply must not wait
    # for (or depend on) storage. A broken lexicon or crisis file stops start-up here.
    safety.prepare(application.bot_data["services"].texts)
    # The order of the cross-cutting groups, first to last: counted (-10), risk language
    # (-4), each update taken once (-3), private chats only (-2), the sender resolved once
    # for every later handler (-1); then the commands, buttons and text (0); finished (100).
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE
            & filters.UpdateType.MESSAGES
            & (filters.TEXT | filters.CAPTION),
            safety.screen,
        ),
        group=-4,
    )
    # Counted first, whatever happens to the update next (bot.metrics).
    application.add_handler(TypeHandler(Update, metrics.count_update), group=-10)
    application.add_handler(TypeHandler(Update, drop_duplicates), group=-3)
    # Last: an update counts as handled only once everything above has run.
    application.add_handler(TypeHandler(Update, finish_update), group=100)
    # Within a group only the first matching handler runs: membership changes must come
    # before the catch-all private-chat check, or they would never be seen.
    application.add_handler(
        ChatMemberHandler(common.membership_changed, ChatMemberHandler.MY_CHAT_MEMBER), group=-2
    )
    application.add_handler(TypeHandler(Update, common.only_private_chats), group=-2)
    # Who is writing, looked up once and put on the context (bot.handlers.common).
    application.add_handler(TypeHandler(Update, common.resolve_person), group=-1)
    # The buttons first: a tap, the busiest update, then meets no command's check on its
    # way to its route (a command never matches a button press, nor a route a message).
    add_button_routes(application)
    commands = {
        "start": people.start,
        "invite": people.invite,
        "session": people.record_session,
        "schedule": people.schedule,
        "timezone": people.timezone,
        "digesttime": people.digest_time,
        "clients": people.clients,
        "digest": reports.digest,
        "client": reports.client,
        "export": reports.export,
        "rate": reports.rate,
        "help": people.help_command,
        "privacy": people.privacy,
        "pause": people.pause,
        "resume": people.resume,
        "stop": people.stop,
        "language": people.language,
        "mydata": rights.mydata,
        "myanswers": myanswers.my_answers,
        "delete": rights.delete_command,
        "source": admin.source,
        "end": admin.end,
        "back": buttons.back,
    }
    private = filters.ChatType.PRIVATE
    for name, callback in commands.items():
        application.add_handler(
            CommandHandler(name, callback, filters=private & filters.UpdateType.MESSAGE)
        )
    application.add_handler(
        MessageHandler(
            private & filters.UpdateType.MESSAGE & filters.COMMAND, people.unknown_command
        )
    )
    application.add_handler(
        MessageHandler(private & filters.UpdateType.MESSAGE & filters.TEXT, buttons.text_message)
    )
    application.add_handler(
        MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, common.edited)
    )
    application.add_handler(
        MessageHandler(private & filters.UpdateType.MESSAGE & ~filters.TEXT, common.not_text)
    )
    application.add_error_handler(common.on_error)


def add_button_routes(application: AppType) -> None:
    """The button map: one handler per kind of callback data (bot.callbacks), by prefix.

    Each route's pattern parses the data strictly; data no route takes (malformed, forged,
    from an older version) gets the one "this button no longer works" answer.
    """

    def route(kind: type[P], act: Callable[[Update, BotContext, P], Awaitable[None]]) -> None:
        application.add_handler(
            CallbackQueryHandler(buttons.on_press(kind, act), pattern=callbacks.is_a(kind))
        )

    route(callbacks.AnswerPress, buttons.answer_pressed)  # a:<check-in>:<item>:<value>
    route(callbacks.BackPress, buttons.back_pressed)  # b:<check-in>:<item>
    route(callbacks.FullNoticePress, buttons.full_notice_pressed)  # pn
    route(callbacks.ConsentPress, buttons.consent_pressed)  # cy|cn:<token>
    route(callbacks.StopPress, buttons.stop_pressed)  # sy|sn:<client>:<minute>
    route(callbacks.LanguagePress, buttons.language_pressed)  # l:<locale>
    route(callbacks.RatingPress, reports.rating_pressed)  # r:<session>:<1-5>
    route(callbacks.ErasePress, rights.erase_pressed)  # ey|en:<client>:<minute>
    route(callbacks.NoticePress, rights.notice_pressed)  # ny|nn:<version>
    route(callbacks.EndPress, admin.end_pressed)  # xy|xn:<client>
    route(callbacks.DetailPress, reports.detail_pressed)  # d:<client>
    # k:<suggestion>:<h|y|n>[:<reason>], the therapist's answer to a suggested conversation
    route(callbacks.ConversationPress, reports.conversation_pressed)
    application.add_handler(CallbackQueryHandler(buttons.invalid_press))
