"""The client's rights in the chat: /mydata (a copy of everything stored), /delete (erasure,
after a confirmation bound to the client and the minute it was offered), and the answer to a
renewed privacy notice. What they do lives in bot.privacy.rights.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Final

from telegram import InputFile, Update

from bot import callbacks
from bot.handlers.common import (
    acknowledge,
    person_of,
    refuse_press,
    require,
    shows_button,
)
from bot.practice.enrolment import PRIVACY_NOTICE_VERSION
from bot.practice.sessions import leave_programme
from bot.privacy.consent import consent_outdated
from bot.privacy.rights import (
    erase_client,
    export_client,
    minute_of,
    other_records,
)
from bot.sending.outbox import keyboard
from bot.services import BotContext, Services
from storage import audit
from storage.models import (
    Client,
)

# The /delete confirmation is meant to be pressed now, not found weeks later.
ERASE_CONFIRM_WINDOW: Final = timedelta(minutes=30)


async def mydata(update: Update, context: BotContext) -> None:
    """/mydata: a JSON file with everything stored about the client."""
    person = await require(update, context, "client")
    if person is None or person.client is None:
        return
    services = context.services
    client = person.client
    document = await export_client(services, client.id or 0)
    message = update.effective_message
    if document is None or message is None:
        return
    # The person's records with other therapists (or under an alias they left) are theirs too.
    exported = [(client.id or 0, document)]
    for other in await other_records(services, client):
        found = await export_client(services, other)
        if found is not None:
            exported.append((other, found))
    if len(exported) > 1:
        document["earlier_records"] = [found for _id, found in exported[1:]]
    data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    async with services.db.session() as session:
        for record_id, record in exported:
            await audit.record(
                session,
                at=services.clock.now(),
                actor_kind="client",
                actor_id=client.id,
                action="client_export",
                client_id=record_id,
                detail=audit.counts(checkins=len(record["checkins"])),
            )
    await message.reply_document(
        InputFile(data, filename="my-data.json"),
        caption=services.texts.render(client.locale, "rights.mydata_caption"),
    )
    # Beside the file, what is in it in a few plain lines: few people open a JSON file.
    await message.reply_text(mydata_summary(services, client.locale, document))


def mydata_summary(services: Services, locale: str, document: dict[str, Any]) -> str:
    """A short readable account of an export: what is stored, in counts and dates."""
    checkins = document["checkins"]
    answered = [c for c in checkins if c["answers"]]
    notes = sum(1 for c in checkins for a in c["answers"] if a.get("text"))
    changed = sum(len(c["changed_answers"]) for c in checkins)
    return services.texts.render(
        locale,
        "rights.mydata_summary",
        therapist=document["therapist"]["name"],
        joined=(document["client"]["joined_at"] or "")[:10],
        sessions=len(document["sessions"]),
        checkins=len(checkins),
        answered=len(answered),
        notes=notes,
        changed=changed,
        alerts=len(document["risk_alerts"]),
        looks=len(document["access_log"]),
    )


async def delete_command(update: Update, context: BotContext) -> None:
    """/delete: ask for confirmation before erasing everything."""
    person = await require(update, context, "client")
    if person is None or person.client is None:
        return
    texts = context.services.texts
    client = person.client
    stamp = minute_of(context.services.clock.now())
    message = update.effective_message
    assert message is not None
    await message.reply_text(
        texts.render(client.locale, "rights.delete_confirm"),
        reply_markup=keyboard(
            [
                [
                    (
                        texts.plain(client.locale, "rights.button_erase"),
                        callbacks.erase(True, client.id or 0, stamp),
                    )
                ],
                [
                    (
                        texts.plain(client.locale, "rights.button_keep"),
                        callbacks.erase(False, client.id or 0, stamp),
                    )
                ],
            ]
        ),
    )


async def erase_pressed(update: Update, context: BotContext, press: callbacks.ErasePress) -> None:
    """The /delete confirmation. Destructive: only from the confirmation message itself, by
    the client it names."""
    query = update.callback_query
    assert query is not None
    person = await person_of(update, context)
    client = person.client
    if (
        client is None
        or client.id != press.client_id
        or not shows_button(query.message, query.data)
    ):
        await refuse_press(query, context, person.locale)
        return
    await _answer_erase(update, context, client, press)


async def notice_pressed(update: Update, context: BotContext, press: callbacks.NoticePress) -> None:
    """The answer to a renewed privacy notice."""
    query = update.callback_query
    assert query is not None
    person = await person_of(update, context)
    if person.client is None:
        await refuse_press(query, context, person.locale)
        return
    await _answer_notice(update, context, person.client, press)


async def _edit(update: Update, text: str) -> None:
    """Replace the pressed confirmation with the outcome, if it is that message."""
    query = update.callback_query
    assert query is not None
    if shows_button(query.message, query.data):
        await query.edit_message_text(text, reply_markup=None)


async def _answer_erase(
    update: Update, context: BotContext, client: Client, press: callbacks.ErasePress
) -> None:
    query = update.callback_query
    assert query is not None
    services = context.services
    texts = services.texts
    now = services.clock.now()
    issued = press.issued_minute
    stale = (
        issued > minute_of(now) + 1
        or minute_of(now) - issued > ERASE_CONFIRM_WINDOW.total_seconds() // 60
        # A row id can be reused after an erasure: a button from before this enrolment is stale.
        or issued < minute_of(client.created_at)
    )
    if not press.confirm:
        await acknowledge(query)
        await _edit(update, texts.render(client.locale, "rights.delete_cancelled"))
        return
    if stale:
        await acknowledge(query, texts.plain(client.locale, "rights.delete_stale"))
        await _edit(update, texts.render(client.locale, "rights.delete_stale"))
        return
    locale = client.locale
    others = await other_records(services, client)
    for record in [client.id or 0, *others]:
        await erase_client(
            services,
            record,
            actor_kind="client",
            action="erase",
            note="rights.therapist_client_erased",
        )
    await acknowledge(query)
    await _edit(update, texts.render(locale, "rights.deleted"))


async def _answer_notice(
    update: Update, context: BotContext, client: Client, press: callbacks.NoticePress
) -> None:
    query = update.callback_query
    assert query is not None
    services = context.services
    texts = services.texts
    if press.version != PRIVACY_NOTICE_VERSION or not consent_outdated(client):
        # An old notice, or already answered: nothing to change.
        await acknowledge(query, texts.plain(client.locale, "rights.consent_nothing_to_do"))
        return
    now = services.clock.now()
    async with services.db.session() as session:
        fresh = await session.get(Client, client.id)
        if fresh is None:
            await refuse_press(query, context, client.locale)
            return
        if press.agree:
            fresh.consent_at = now
            fresh.consent_version = PRIVACY_NOTICE_VERSION
            outcome = "rights.consent_renewed"
        else:
            outcome = "rights.consent_refused"
    if not press.agree:
        await leave_programme(services, client.id or 0)
    await acknowledge(query)
    await _edit(update, texts.render(client.locale, outcome))
