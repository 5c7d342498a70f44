"""The therapist's views: /digest, /client, /export, /rate, and the session-rating buttons."""

from __future__ import annotations

import logging

from telegram import InputFile, Update
from telegram.error import BadRequest

from bot import callbacks
from bot.digest import loop as loop_records
from bot.digest.weekly import client_detail, weekly_digest
from bot.handlers.common import acknowledge, person_of, refuse_press, reply, require, shows_button
from bot.practice import ratings, reports
from bot.sending.outbox import keyboard
from bot.services import BotContext
from storage import audit
from storage.models import Therapist

log = logging.getLogger(__name__)

# Longer than any name a client can be shown under (an alias of 32, or a former client's
# "alias~YYYY-MM-DD-n"): never echoed back, it may be pages of text.
_ALIAS_ECHO_LIMIT = 48


async def _therapist(update: Update, context: BotContext) -> Therapist | None:
    """The therapist sending this command, or a short refusal for anyone else."""
    person = await require(update, context, "therapist")
    return None if person is None else person.therapist


async def digest(update: Update, context: BotContext) -> None:
    """/digest: the digest now, covering the last seven days: the triage, with a button
    per client to talk with that brings their detail and chart."""
    therapist = await _therapist(update, context)
    message = update.effective_message
    if therapist is None or message is None:
        return
    services = context.services
    now = services.clock.now()
    output = await weekly_digest(services, therapist, now)
    async with services.db.session() as session:
        await audit.record(
            session,
            at=now,
            actor_kind="therapist",
            actor_id=therapist.id,
            action="read_digest",
            detail=audit.counts(clients=output.clients),
        )
    last = len(output.texts) - 1
    for n, text in enumerate(output.texts):
        # The names (details) and the answers to suggested conversations go under the last part.
        markup = keyboard(output.buttons) if n == last else None
        await message.reply_text(text, reply_markup=markup)


async def detail_pressed(update: Update, context: BotContext, press: callbacks.DetailPress) -> None:
    """A name under the triage: that client's detail and chart, for their own therapist only.

    Anyone else, or a client no longer in the list (erased, declined), gets a short
    answer and nothing is shown. Reading a detail is audited like /client.
    """
    query = update.callback_query
    if query is None:
        return
    services = context.services
    person = await person_of(update, context)
    therapist = person.therapist
    if therapist is None or therapist.deactivated_at is not None:
        await refuse_press(query, context, person.locale)
        return
    now = services.clock.now()
    found = await client_detail(services, therapist, press.client_id, now)
    if found is None:
        await acknowledge(query, services.texts.plain(therapist.locale, "digest.detail_gone"))
        return
    await acknowledge(query)
    async with services.db.session() as session:
        await audit.record(
            session,
            at=now,
            actor_kind="therapist",
            actor_id=therapist.id,
            action="read_client",
            client_id=press.client_id,
            detail=audit.counts(details=1),
        )
    chat = query.message.chat.id if query.message is not None else query.from_user.id
    last = len(found.texts) - 1
    for n, text in enumerate(found.texts):
        markup = keyboard(found.buttons) if n == last and found.buttons else None
        await context.bot.send_message(chat, text, reply_markup=markup)
    if found.chart is not None:
        caption, png = found.chart
        await context.bot.send_photo(chat, InputFile(png, filename="trend.png"), caption=caption)


async def client(update: Update, context: BotContext) -> None:
    """/client <alias>: one client's check-ins, newest first, with a trend chart."""
    therapist = await _therapist(update, context)
    message = update.effective_message
    if therapist is None or message is None:
        return
    args = context.args or []
    locale = therapist.locale
    if len(args) != 1 or len(args[0]) > _ALIAS_ECHO_LIMIT:
        await reply(update, context, locale, "client_view.usage")
        return
    services = context.services
    view = await reports.client_view(services, therapist, args[0], services.clock.now())
    if view is None:
        await reply(update, context, locale, "therapist.unknown_alias", alias=args[0])
        return
    for text in view.texts:
        await message.reply_text(text)
    if view.chart is not None:
        await message.reply_photo(InputFile(view.chart, filename="trend.png"), caption=view.caption)


async def export(update: Update, context: BotContext) -> None:
    """/export: the therapist's own clients' check-ins as a CSV document."""
    therapist = await _therapist(update, context)
    message = update.effective_message
    if therapist is None or message is None:
        return
    services = context.services
    now = services.clock.now()
    result = await reports.export_csv(services, therapist, now)
    texts, locale = services.texts, therapist.locale
    if result.rows == 0:
        await reply(update, context, locale, "export.none")
        return
    filename = texts.plain(locale, "export.filename", date=now.strftime("%Y-%m-%d"))
    await message.reply_document(
        InputFile(result.data, filename=filename),
        caption=texts.render(
            locale,
            "export.caption",
            clients=result.clients,
            rows=result.rows,
            tz=therapist.timezone,
        ),
    )
    if result.conversations is not None:
        await message.reply_document(
            InputFile(
                result.conversations,
                filename=texts.plain(
                    locale, "export.conversations_filename", date=now.strftime("%Y-%m-%d")
                ),
            ),
            caption=texts.render(locale, "export.conversations_caption", tz=therapist.timezone),
        )


async def rate(update: Update, context: BotContext) -> None:
    """/rate on|off: whether the therapist is asked for a one-tap rating after each session."""
    therapist = await _therapist(update, context)
    if therapist is None:
        return
    args = [a.lower() for a in context.args or []]
    if args not in (["on"], ["off"]):
        await reply(update, context, therapist.locale, "rating.status", on=therapist.rates_sessions)
        return
    await ratings.set_preference(context.services, therapist.id or 0, args[0] == "on")
    await reply(update, context, therapist.locale, f"rating.{args[0]}")


async def offer_rating(
    update: Update, context: BotContext, therapist_id: int, client_id: int
) -> None:
    """After /session: the one-tap rating question, for a therapist who asked for it."""
    question = await ratings.latest_prompt(context.services, therapist_id, client_id)
    message = update.effective_message
    if question is None or message is None:
        return
    await message.reply_text(question.text, reply_markup=keyboard(question.buttons))


async def rating_pressed(update: Update, context: BotContext, press: callbacks.RatingPress) -> None:
    """A rating button: store it for the therapist's own client's session, or refuse."""
    query = update.callback_query
    if query is None:
        return
    result = await ratings.press_rating(context.services, query.from_user.id, press)
    await acknowledge(query, result.notice)
    if result.text is None:
        return
    try:
        await query.edit_message_text(result.text)
    except BadRequest as exc:
        if "not modified" not in str(exc):
            log.warning("could not edit the rating message: %s", type(exc).__name__)


async def conversation_pressed(
    update: Update, context: BotContext, press: callbacks.ConversationPress
) -> None:
    """An answer to a suggested conversation: stored for the therapist's own suggestion, or
    refused with a short answer and nothing changed (forged, stale, another's, erased)."""
    query = update.callback_query
    if query is None:
        return
    result = await loop_records.take_answer(
        context.services, query.from_user.id, press.suggestion_id, press.answer, press.reason
    )
    await acknowledge(query, result.notice)
    if result.text is None:
        return
    markup = keyboard(result.buttons) if result.buttons else None
    if result.edit and shows_button(query.message, query.data):
        # A reason chosen: the question with the reasons becomes the answer.
        try:
            await query.edit_message_text(result.text, reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in str(exc):
                log.warning("could not edit the answer message: %s", type(exc).__name__)
        return
    # The digest's own message stays as it is; the answer comes as a short reply.
    chat = query.message.chat.id if query.message is not None else query.from_user.id
    await context.bot.send_message(chat, result.text, reply_markup=markup)


async def offer_conversation(
    update: Update, context: BotContext, therapist: Therapist, client_id: int
) -> None:
    """After /session: what happened with the suggested conversation, for such a client."""
    services = context.services
    offer = await loop_records.session_offer(services, therapist, client_id, services.clock.now())
    message = update.effective_message
    if offer is None or message is None:
        return
    await message.reply_text(offer.text, reply_markup=keyboard(offer.buttons))
