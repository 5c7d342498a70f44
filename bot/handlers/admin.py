"""Commands added for the practice's administration: /source (everyone) and /end (therapists)."""

from __future__ import annotations

from telegram import InputFile, Update

from bot import callbacks
from bot.handlers.common import acknowledge, person_of, refuse_press, reply, require, shows_button
from bot.practice import therapy_end
from bot.sending.outbox import keyboard
from bot.services import BotContext
from bot.source import source_archive
from bot.texts import Texts
from storage import repo
from storage.models import Client

# Longer than any alias can be (32): never echoed back.
_ALIAS_ECHO_LIMIT = 32


async def source(update: Update, context: BotContext) -> None:
    """/source, for anyone: where the running code is (AGPL section 13), or the code itself."""
    services = context.services
    person = await person_of(update, context)
    message = update.effective_message
    if message is None:
        return
    url = services.settings.source_url
    await reply(update, context, person.locale, "admin.source", url=url)
    if url is None:
        filename = services.texts.plain(person.locale, "admin.source_filename")
        await message.reply_document(
            InputFile(source_archive(), filename=filename),
            caption=services.texts.render(person.locale, "admin.source_caption"),
        )


def with_source_line(texts: Texts, locale: str, key: str) -> str:
    """A help or privacy text with the line that points to /source after it."""
    return f"{texts.render(locale, key)}\n\n{texts.render(locale, 'admin.source_line')}"


async def end(update: Update, context: BotContext) -> None:
    """/end alias: ask the therapist to confirm the end of a client's participation."""
    person = await require(update, context, "therapist")
    message = update.effective_message
    if person is None or person.therapist is None or message is None:
        return
    therapist = person.therapist
    alias = " ".join(context.args or []).strip()
    if not alias:
        await reply(update, context, therapist.locale, "admin.end_usage")
        return
    async with context.services.db.session() as session:
        client = await repo.client_by_alias(session, therapist.id or 0, alias)
    if client is None:
        shown = alias if len(alias) <= _ALIAS_ECHO_LIMIT else alias[:_ALIAS_ECHO_LIMIT] + "…"
        await reply(update, context, therapist.locale, "therapist.unknown_alias", alias=shown)
        return
    if client.status not in therapy_end.TAKING_PART:
        await reply(
            update, context, therapist.locale, "admin.end_not_taking_part", alias=client.alias
        )
        return
    texts = context.services.texts
    await message.reply_text(
        texts.render(
            therapist.locale,
            "admin.end_confirm",
            alias=client.alias,
            months=context.services.settings.retention_months,
        ),
        reply_markup=keyboard(
            [
                [
                    (
                        texts.plain(therapist.locale, "admin.end_yes"),
                        callbacks.end(True, client.id or 0),
                    ),
                    (
                        texts.plain(therapist.locale, "admin.end_no"),
                        callbacks.end(False, client.id or 0),
                    ),
                ]
            ]
        ),
    )


async def end_pressed(update: Update, context: BotContext, press: callbacks.EndPress) -> None:
    """The answer to /end: only on that message, by the therapist whose client it is."""
    query = update.callback_query
    assert query is not None
    services = context.services
    person = await person_of(update, context)
    therapist = person.therapist
    async with services.db.session() as session:
        client = await session.get(Client, press.client_id)
    if (
        therapist is None
        or client is None
        or client.therapist_id != therapist.id
        or not shows_button(query.message, query.data)
    ):
        await refuse_press(query, context, person.locale)
        return
    locale = therapist.locale
    if therapist.deactivated_at is not None:
        key = "admin.therapist_inactive"
    elif not press.confirm:
        key = "admin.end_cancelled"
    else:
        outcome = await therapy_end.end_participation(services, therapist.id or 0, client.id or 0)
        key = "admin.end_done" if outcome == "done" else "admin.end_not_taking_part"
    text = services.texts.render(
        locale, key, alias=client.alias, months=services.settings.retention_months
    )
    await acknowledge(query)  # after acting: a late tap still ends the therapy
    await query.edit_message_text(text, reply_markup=None)
