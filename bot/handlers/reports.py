"""The therapist's views: /digest, /client, /export, /rate, and the session-rating buttons."""

from __future__ import annotations

import logging

from telegram import InputFile, Update
from telegram.error import BadRequest

from bot import callbacks
from bot.digest.weekly import weekly_digest
from bot.handlers.admin import refused_while_inactive
from bot.handlers.common import acknowledge, identify, reply
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
    person = await identify(context.services, update)
    if person.therapist is None:
        key = "client.not_for_clients" if person.client else "common.unknown"
        await reply(update, context, person.locale, key)
        return None
    if await refused_while_inactive(update, context, person.therapist):
        return None
    return person.therapist


async def digest(update: Update, context: BotContext) -> None:
    """/digest: the digest now, covering the last seven days, with trend charts."""
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
    for text in output.texts:
        await message.reply_text(text)
    for caption, png in output.charts:
        await message.reply_photo(InputFile(png, filename="trend.png"), caption=caption)


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
