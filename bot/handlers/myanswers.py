"""/myanswers: the client sees their own answers over time, in plain words and a chart.

What the client gets back is their own answers as they gave them, newest first, with
a small chart of the core questions. Nothing of the therapist's view comes with it:
no strain shading, no "worth watching", no therapist ratings — the client's words are
framed as theirs, and ups and downs as ordinary. The audit log records looks at a
client's data by others; a client reading their own answers is not one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from markupsafe import Markup
from telegram import InputFile, Update

from bot.core.chart import render_trend_chart
from bot.core.instrument import Instrument
from bot.core.scoring import CheckinRecord, score_checkin
from bot.core.strain import ClientHistory
from bot.digest.weekly import core_domains, load_histories
from bot.handlers.common import require
from bot.services import BotContext, Services
from bot.texts import Texts
from storage.models import Client

# Enough to see a direction; the chart shows at most this many too.
SHOWN_CHECKINS = 8


@dataclass
class OwnAnswers:
    """What /myanswers shows: an HTML text and, with two answered check-ins or more, a chart."""

    text: str
    chart: bytes | None
    caption: str


def checkin_line(
    texts: Texts, locale: str, instrument: Instrument, record: CheckinRecord, tz: ZoneInfo
) -> Markup:
    """One check-in in plain words (HTML, included as it is): the day, then each answer."""
    score = score_checkin(instrument, record)
    parts = [
        (texts.plain(locale, "myanswers.domain", domain=domain), round(value))
        for domain, value in score.domains.items()
    ]
    return texts.markup(
        locale,
        "myanswers.checkin",
        day=record.session_end.astimezone(tz),
        parts=parts,
        tension=score.tension,
        talked=score.talked_through,
    )


def own_answers(
    services: Services, client: Client, history: ClientHistory | None, tz: ZoneInfo
) -> OwnAnswers:
    """The client's own answers as text, and a chart when there is a line to draw."""
    texts, locale, instrument = services.texts, client.locale, services.instrument
    answered = [
        c
        for c in (history.checkins if history else [])
        if c.responded and c.instrument_id == instrument.id
    ]
    recent = list(reversed(answered))[:SHOWN_CHECKINS]
    lines = [checkin_line(texts, locale, instrument, record, tz) for record in recent]
    text = texts.render(locale, "myanswers.summary", lines=lines, count=len(answered))
    caption = texts.render(locale, "myanswers.chart_caption")
    return OwnAnswers(text, None, caption)


def chart_labels(texts: Texts, locale: str, instrument: Instrument) -> dict[str, str]:
    """The words on the client's chart, in the client's words."""
    labels = {
        "title": texts.plain(locale, "myanswers.chart_title"),
        "unanswered": texts.plain(locale, "myanswers.chart_unanswered"),
        "locale": locale,
    }
    for domain in core_domains(instrument):
        labels[domain] = texts.plain(locale, "myanswers.domain", domain=domain)
    return labels


async def load_own_answers(services: Services, client: Client) -> OwnAnswers:
    """Read the client's check-ins and put them in words (their own look: not audited)."""
    async with services.db.session() as session:
        histories = await load_histories(
            session,
            services.cipher,
            client.therapist_id,
            comments_since=None,
            client_ids=[client.id or 0],
        )
    history = histories[0] if histories else None
    tz = ZoneInfo(client.timezone)
    result = own_answers(services, client, history, tz)
    answered = [c for c in (history.checkins if history else []) if c.responded]
    if history is not None and len(answered) >= 2:
        labels = chart_labels(services.texts, client.locale, services.instrument)
        own = ClientHistory(
            client_id=history.client_id,
            alias=history.alias,
            locale=history.locale,
            enrolled_at=history.enrolled_at,
            status=history.status,
            status_since=history.status_since,
            checkins=answered,
        )
        result.chart = await asyncio.to_thread(
            render_trend_chart, own, services.instrument, None, labels, tz
        )
    return result


async def my_answers(update: Update, context: BotContext) -> None:
    """/myanswers: the client's own answers over time; others are told it is for clients."""
    services = context.services
    person = await require(update, context, "client", therapist_refusal="myanswers.for_clients")
    if person is None or person.client is None:
        return
    shown = await load_own_answers(services, person.client)
    message = update.effective_message
    if message is None:
        return
    await message.reply_text(shown.text)
    if shown.chart is not None:
        await message.reply_photo(
            InputFile(shown.chart, filename="my-answers.png"), caption=shown.caption
        )
