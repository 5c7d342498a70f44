"""Cross-cutting handlers: duplicate updates, group chats, media, edits, errors, roles."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import update as update_statement
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop, filters

from bot import callbacks, practice, safety
from bot.inbox import BOT_DATA_KEY, UpdateInbox
from bot.services import BotContext, Services
from bot.texts import pick_locale
from storage import repo
from storage.models import Client, ProcessedUpdate, Therapist

log = logging.getLogger(__name__)

# Telegram re-sends an update for at most a day; a week of ids is plenty.
PROCESSED_UPDATE_RETENTION = timedelta(days=7)
# An update taken this long ago and never finished belongs to a worker that stopped
# mid-update (handlers take seconds). A copy arriving sooner is still ignored.
UPDATE_CLAIM = timedelta(seconds=120)


@dataclass
class Person:
    """Who sent an update: a therapist, a client, or nobody we know."""

    therapist: Therapist | None
    client: Client | None
    locale: str

    @property
    def known(self) -> bool:
        """Whether the sender is enrolled in any role."""
        return self.therapist is not None or self.client is not None


async def identify(services: Services, update: Update) -> Person:
    """Look the sender up by Telegram user id."""
    user = update.effective_user
    fallback = pick_locale(user.language_code if user else None, services.texts.locales)
    if user is None:
        return Person(None, None, fallback)
    async with services.db.session() as session:
        therapist = await repo.therapist_by_user(session, user.id)
        client = None if therapist else await repo.client_by_user(session, user.id)
    if therapist is not None:
        return Person(therapist, None, therapist.locale)
    if client is not None and client.status not in ("declined",):
        return Person(None, client, client.locale)
    return Person(None, None, fallback)


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


def answers_itself(update: Update) -> bool:
    """Whether the update is a check-in answer, which needs no duplicate guard.

    An answer is checked against what is stored: the same tap handled twice finds its
    question answered and only brings the message up to date. Leaving the guard out
    saves two database round trips on the bot's busiest path.
    """
    query = update.callback_query
    return query is not None and isinstance(callbacks.parse(query.data), callbacks.AnswerPress)


async def drop_duplicates(update: Update, context: BotContext) -> None:
    """Take the update for this worker, or give a redelivered one no second effect.

    The update id is written when a worker takes it and marked finished once every
    handler has run (:func:`finish_update`, the last group). A second copy is ignored
    while the first is finished or still being handled (on this worker or another);
    a copy of an update taken more than ``UPDATE_CLAIM`` ago and never finished —
    its worker died mid-update — is taken over and handled again. The handlers check
    the stored state, so what was done before the crash is not done twice.
    """
    if answers_itself(update):
        return
    services = context.services
    now = services.clock.now()
    try:
        async with services.db.session() as session:
            session.add(ProcessedUpdate(update_id=update.update_id, processed_at=now))
        return
    except IntegrityError:
        pass
    # An update the polling inbox kept through a crash was taken by the process that
    # stopped: take it over at once rather than after UPDATE_CLAIM (bot.inbox).
    claim_cutoff = now if _left_by_a_stopped_poller(update, context) else now - UPDATE_CLAIM
    async with services.db.session() as session:
        taken_over = await session.exec(
            update_statement(ProcessedUpdate)
            .where(col(ProcessedUpdate.update_id) == update.update_id)
            .where(col(ProcessedUpdate.finished_at).is_(None))
            .where(col(ProcessedUpdate.processed_at) <= claim_cutoff)
            .values(processed_at=now)
        )
    if taken_over.rowcount == 1:
        log.warning("update %s left unfinished by a stopped worker; taken over", update.update_id)
        return
    log.info("update %s already handled or being handled; ignored", update.update_id)
    raise ApplicationHandlerStop


def _left_by_a_stopped_poller(update: Update, context: BotContext) -> bool:
    """Whether the polling inbox replays this update after its process stopped."""
    inbox = context.bot_data.get(BOT_DATA_KEY)
    return isinstance(inbox, UpdateInbox) and inbox.replayed(update.update_id)


async def finish_update(update: Update, context: BotContext) -> None:
    """Mark the update finished (runs after every other handler)."""
    if answers_itself(update):
        return
    services = context.services
    async with services.db.session() as session:
        await session.exec(
            update_statement(ProcessedUpdate)
            .where(col(ProcessedUpdate.update_id) == update.update_id)
            .values(finished_at=services.clock.now())
        )


async def prune_processed_updates(services: Services) -> None:
    """Forget update ids older than Telegram could ever resend."""
    cutoff = services.clock.now() - PROCESSED_UPDATE_RETENTION
    async with services.db.session() as session:
        await session.exec(
            delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < cutoff)
        )


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
    person = await identify(context.services, update)
    await reply(
        update, context, person.locale, "common.not_text" if person.known else "common.unknown"
    )


async def edited(update: Update, context: BotContext) -> None:
    """Edits are not picked up; say so kindly (a new message is)."""
    if safety.flagged(context):
        return  # the edit showed risk and the crisis reply has answered
    person = await identify(context.services, update)
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
