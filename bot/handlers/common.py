"""Cross-cutting handlers: who is writing (resolved once per update), the one role guard,
group chats, media, edits, errors."""

from __future__ import annotations

import contextlib
import logging
from typing import Literal

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop, filters

from bot import callbacks, safety
from bot.practice import sessions as practice
from bot.services import BotContext, Person, Services
from bot.texts import pick_locale
from storage import repo
from storage.models import Therapist
from storage.states import PARTICIPATING, ClientState

log = logging.getLogger(__name__)


__all__ = ["Person", "person_of", "refuse_press", "require", "resolve_person"]

Role = Literal["therapist", "client", "participant"]


async def identify(services: Services, update: Update) -> Person:
    """Look the sender up by Telegram user id (two queries at most).

    Handlers ask ``person_of`` instead, which looks up once per update; this is for a
    handler whose own action just changed who the sender is (joining, agreeing).
    """
    user = update.effective_user
    fallback = pick_locale(user.language_code if user else None, services.texts.locales)
    if user is None:
        return Person(None, None, fallback)
    async with services.db.session() as session:
        therapist = await repo.therapist_by_user(session, user.id)
        client = None if therapist else await repo.client_by_user(session, user.id)
    if therapist is not None:
        return Person(therapist, None, therapist.locale)
    if client is not None and client.status not in (ClientState.DECLINED,):
        return Person(None, client, client.locale)
    return Person(None, None, fallback)


async def person_of(update: Update, context: BotContext) -> Person:
    """Who sent this update: resolved once (by ``resolve_person``, early) and then reused."""
    if context.person is None:
        context.person = await identify(context.services, update)
    return context.person


async def resolve_person(update: Update, context: BotContext) -> None:
    """Early handler (group -1 in bot.app): put the sender on the context for every later group.

    A check-in answer or Back press is left out: that path, the bot's busiest, looks the
    presser up inside its own transaction (bot.checkins.conversation), and resolves here
    lazily only if it needs a language to answer in.
    """
    if update.effective_user is None or (
        update.effective_message is None and update.callback_query is None
    ):
        return  # a block or unblock (bot.handlers.common.membership_changed): nobody to answer
    query = update.callback_query
    if query is not None and isinstance(
        callbacks.parse(query.data), callbacks.AnswerPress | callbacks.BackPress
    ):
        return
    await person_of(update, context)


async def refused_while_inactive(update: Update, context: BotContext, therapist: Therapist) -> bool:
    """True (after a short explanation) when the admin has deactivated this therapist."""
    if therapist.deactivated_at is None:
        return False
    await reply(update, context, therapist.locale, "admin.therapist_inactive")
    return True


async def require(
    update: Update, context: BotContext, role: Role, *, therapist_refusal: str | None = None
) -> Person | None:
    """The sender if they hold ``role``; otherwise None, after the short refusal they get.

    "therapist": an active therapist (a client hears "not for clients", a deactivated
    therapist why not). "client": a client, also one who has left (their rights stay);
    a therapist hears "not for therapists" (or ``therapist_refusal``). "participant": a
    client still taking part. Strangers always get the one generic answer.
    """
    person = await person_of(update, context)
    if role == "therapist":
        if person.therapist is None:
            key = "client.not_for_clients" if person.client else "common.unknown"
            await reply(update, context, person.locale, key)
            return None
        if await refused_while_inactive(update, context, person.therapist):
            return None
        return person
    if person.client is None:
        key = "common.unknown"
        if person.therapist is not None:
            key = therapist_refusal or "therapist.not_for_therapists"
        await reply(update, context, person.locale, key)
        return None
    if role == "participant" and person.client.status not in PARTICIPATING:
        await reply(update, context, person.client.locale, "client.stop_already")
        return None
    return person


async def reply(
    update: Update, context: BotContext, locale: str, key: str, **values: object
) -> None:
    """Answer the sender with a rendered template (HTML)."""
    message = update.effective_message
    if message is None:
        return
    await message.reply_text(context.services.texts.render(locale, key, **values))


def shows_button(message: object, data: str | None) -> bool:
    """Whether the pressed message really shows a button with this callback data: a
    confirmation is acted on, and its message edited, only from the message that offered it."""
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    return any(
        button.callback_data == data
        for row in message.reply_markup.inline_keyboard
        for button in row
    )


async def acknowledge(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a tap (with a short notice); a tap Telegram no longer takes answers for is fine.

    Telegram accepts an answer for about 15 seconds. When the bot was slower than that (a
    restart, a backlog) the answer fails with "query is too old", yet the press has been
    acted on and the message must still move on, so the failure stops nothing. Call it
    after acting, so that nothing the answer does can keep the action from happening.
    """
    try:
        await query.answer(text)
    except BadRequest as exc:
        log.info("the tap could not be answered: %s", type(exc).__name__)


async def refuse_press(query: CallbackQuery, context: BotContext, locale: str) -> None:
    """The one answer to a press that changes nothing (forged, stale, not theirs)."""
    await acknowledge(query, context.services.texts.plain(locale, "common.button_invalid"))


async def only_private_chats(update: Update, context: BotContext) -> None:
    """Outside private chats, answer a command once with "private chats only", and do nothing else.

    Other group messages get no answer at all: a bot replying to every message in a
    group would be noise for everyone in it.
    """
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        return
    user = update.effective_user
    locale = pick_locale(user.language_code if user else None, context.services.texts.locales)
    with contextlib.suppress(Forbidden, BadRequest):
        if update.callback_query is not None:
            await update.callback_query.answer(
                context.services.texts.plain(locale, "common.private_only")
            )
        elif (
            chat.type != ChatType.CHANNEL
            and update.message is not None
            and filters.COMMAND.check_update(update)
        ):
            await update.message.reply_text(
                context.services.texts.render(locale, "common.private_only")
            )
    raise ApplicationHandlerStop


async def membership_changed(update: Update, context: BotContext) -> None:
    """The bot's own membership changed: added to a group, or blocked/unblocked by a person."""
    member = update.my_chat_member
    if member is None:
        return
    status = member.new_chat_member.status
    if member.chat.type == ChatType.PRIVATE:
        # Telegram reports a block as "kicked" and an unblock as "member".
        reachable = status not in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT)
        await practice.set_reachable(context.services, member.from_user.id, reachable)
        return
    if member.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return  # channels: posting to subscribers would be worse than silence
    was_in = member.old_chat_member.status in (
        ChatMemberStatus.MEMBER,
        ChatMemberStatus.ADMINISTRATOR,
    )
    if status in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR) and not was_in:
        locale = pick_locale(member.from_user.language_code, context.services.texts.locales)
        with contextlib.suppress(Forbidden, BadRequest):
            await context.bot.send_message(
                member.chat.id, context.services.texts.render(locale, "common.private_only")
            )


async def not_text(update: Update, context: BotContext) -> None:
    """Stickers, photos, voice notes…: the bot reads only text and buttons."""
    if safety.flagged(context):
        return  # the caption showed risk and the crisis reply has answered
    person = await person_of(update, context)
    await reply(
        update, context, person.locale, "common.not_text" if person.known else "common.unknown"
    )


async def edited(update: Update, context: BotContext) -> None:
    """Edits are not picked up; say so kindly (a new message is)."""
    if safety.flagged(context):
        return  # the edit showed risk and the crisis reply has answered
    person = await person_of(update, context)
    message = update.edited_message
    if message is None or not person.known:
        return
    await context.bot.send_message(
        message.chat_id, context.services.texts.render(person.locale, "common.edits_ignored")
    )


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure without content, tell the person once to send it again, stop the update.

    python-telegram-bot calls the error handler once per handler group that fails, and
    during a storage fault the duplicate guard, the command and the finishing mark all
    fail: without the stop the person got up to three replies. Raising
    ApplicationHandlerStop here ends the update after its first failure — what comes
    later would only fail the same way — so the person is told once.
    """
    error = context.error
    log.error(
        "handler failed: %s",
        type(error).__name__,
        exc_info=(type(error), error, error.__traceback__) if error else None,
    )
    if not isinstance(update, Update):
        return  # a job's failure: nobody to tell, nothing to stop
    await _tell_the_sender(update, context)
    raise ApplicationHandlerStop


async def _tell_the_sender(update: Update, context: BotContext) -> None:
    """Say in a private chat that what was sent may not have been saved."""
    chat = update.effective_chat
    if update.effective_message is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    locale = pick_locale(
        update.effective_user.language_code if update.effective_user else None,
        context.services.texts.locales,
    )
    try:
        await update.effective_message.reply_text(
            context.services.texts.render(locale, "common.error")
        )
    except Exception:  # noqa: BLE001 - the error path must never raise
        log.warning("could not tell the sender about the failure")
