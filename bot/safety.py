"""Risk language: the crisis reply first, then the therapist's alert.

Every free text a person sends in a private chat — a check-in comment, a stray
message, an edited message, a caption — is checked with :func:`bot.core.risk.assess_risk`
by a handler that runs before every other one (group -4 in ``bot.app``). On a hit:

1. **The crisis reply goes out at once**, straight from the handler, before any
   database work: crisis resources for the person's language (``prompts/<locale>/crisis.toml``)
   and a plain statement that nobody watches the chat in real time. It depends only
   on the text, the templates and Telegram, so a database or encryption failure
   cannot stop it. (Before the database is read the bot does not know who is writing,
   so anyone who writes risk language gets this reply; that reveals nothing about who
   is enrolled, and a therapist who receives it by mistake loses nothing.)
2. **Then the therapist is alerted** through the outbox: an ``Alert`` row (unique per
   client and message, so a redelivered update or a second worker alerts once), the
   alert message to the therapist with the client's words quoted, and a short note
   to the client that their therapist was told. Delivery is attempted straight away,
   not at the next dispatcher pass.

If the database or encryption fails at step 2, the alert is retried in memory with
growing pauses (:data:`RETRY_DELAYS`, about 1.5 hours in all); the text waits only in
the process's memory, never in a log. Without the database the bot cannot know who
the therapist is, so it cannot alert anyone else in the meantime; if the process
also stops before the database recovers, that alert is lost — the client has had the
crisis reply either way. This is documented for the practice in docs/privacy.md.

Later handlers ask :func:`flagged` so they do not contradict the crisis reply (the
usual "your therapist won't see this message" would be false after an alert).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Message, Update, User
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import JobQueue

from bot.checkins.lifecycle import sender_of
from bot.core.client_text import shown_text
from bot.core.crisis import country_of_timezone, for_country, load_crisis_resources
from bot.core.risk import RiskAssessment, assess_risk, default_lexicon
from bot.notices import queue_for_therapist
from bot.sending import outbox
from bot.services import BotContext, Services
from bot.texts import Texts, pick_locale
from storage import repo
from storage.models import Alert, Client, OutboxMessage, Therapist
from storage.states import PARTICIPATING, SETTLED, ClientState

log = logging.getLogger(__name__)

# Per-update mark on the handler context (CallbackContext documents custom attributes).
_FLAG: Final = "alliance_risk"
_LOCALE_KEY: Final = "locale"
# The country of a client's time zone, remembered per user (no database in the crisis path).
COUNTRY_KEY: Final = "crisis_country"
RETRY_JOB: Final = "risk-alert-retry"
# Seconds before each retry of an alert the database could not take.
RETRY_DELAYS: Final = (15, 60, 300, 900, 3600)
# The therapist sees the client's own words, but one alert must stay one readable message.
QUOTE_LIMIT: Final = 1000
SEND_ATTEMPTS: Final = 3
DELIVERY_ROUNDS: Final = 4


@dataclass(frozen=True)
class RiskMessage:
    """A text that showed risk, as long as its alert is not yet safely queued."""

    user_id: int
    chat_id: int
    message_id: int
    edited_at: int  # epoch seconds of the edit; 0 for a new message
    caption: bool
    text: str
    level: str
    received_at: datetime
    attempt: int = 0

    @property
    def alert_key(self) -> str:
        """Unique per client: one alert per message, and one per later edit of it."""
        return f"risk:{self.message_id}:{self.edited_at}"


def prepare(texts: Texts) -> None:
    """Load the lexicon and every locale's crisis data and reply now, so a bad file stops
    start-up instead of failing in the middle of someone's crisis."""
    default_lexicon()
    for locale in texts.locales:
        crisis_text(texts, locale, None)


def flagged(context: BotContext) -> RiskAssessment | None:
    """The risk found in this update's text, if any (set by :func:`screen`)."""
    value = getattr(context, _FLAG, None)
    return value if isinstance(value, RiskAssessment) else None


def screened_text(message: Message) -> str | None:
    """The free text of a message worth checking: its text or caption.

    ``/start`` carries an invitation token, random letters that can spell anything;
    the rest of a command line is the person's own words and is checked.
    """
    text = message.text if message.text is not None else message.caption
    if not text:
        return None
    if text.startswith("/start"):
        return None
    return text


def _locale(context: BotContext, user: User | None, texts: Texts) -> str:
    """The person's language without the database: remembered from earlier, or Telegram's."""
    remembered = context.user_data.get(_LOCALE_KEY) if context.user_data is not None else None
    if isinstance(remembered, str) and remembered in texts.locales:
        return remembered
    return pick_locale(user.language_code if user else None, texts.locales)


def crisis_text(texts: Texts, locale: str, country: str | None = None) -> str:
    """The crisis reply in a locale: the country's services first, then the locale's others."""
    resources = load_crisis_resources(locale)
    others = [load_crisis_resources(other) for other in texts.locales if other != locale]
    regional = for_country(resources, country, others)
    return texts.render(locale, "safety.crisis", resources=resources, regional=regional)


def _country(context: BotContext, services: Services) -> str | None:
    """Where the person is, without the database: their time zone's country once the bot
    has seen them as a client (bot.handlers.buttons remembers it), else the practice's."""
    remembered = context.user_data.get(COUNTRY_KEY) if context.user_data is not None else None
    if isinstance(remembered, str):
        return remembered
    return country_of_timezone(services.settings.default_timezone)


async def send_crisis_reply(bot: Any, chat_id: int, text: str) -> bool:
    """Send the crisis reply, riding out a short rate limit or network blip; True if sent."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            await bot.send_message(chat_id, text, disable_web_page_preview=True)
            return True
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            await asyncio.sleep(min(float(seconds), 10.0))
        except Forbidden:
            return False  # blocked the bot: nobody to reply to
        except NetworkError:
            if attempt < SEND_ATTEMPTS:
                await asyncio.sleep(attempt)
        except TelegramError as exc:
            log.error("crisis reply rejected by Telegram (%s)", type(exc).__name__)
            return False
    log.error("crisis reply could not be sent after %d attempts", SEND_ATTEMPTS)
    return False


async def screen(update: Update, context: BotContext) -> None:
    """Check a message's free text; on risk, reply with crisis resources, then alert."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    text = screened_text(message)
    if text is None:
        return
    assessment = assess_risk(text)
    if not assessment.at_risk:
        return
    setattr(context, _FLAG, assessment)
    services = context.services
    locale = _locale(context, user, services.texts)
    country = _country(context, services)
    reply = crisis_text(services.texts, locale, country)
    await send_crisis_reply(context.bot, message.chat_id, reply)
    edited = update.edited_message is not None
    edit_date = message.edit_date if edited else None
    item = RiskMessage(
        user_id=user.id,
        chat_id=message.chat_id,
        message_id=message.message_id,
        edited_at=int(edit_date.timestamp()) if edit_date else (1 if edited else 0),
        caption=message.text is None,
        text=text,
        level=assessment.level,
        received_at=services.clock.now(),
    )
    client_locale = await alert_or_retry(services, context.bot, context.job_queue, item)
    if client_locale is not None and context.user_data is not None:
        context.user_data[_LOCALE_KEY] = client_locale


async def alert_or_retry(
    services: Services, bot: Any, job_queue: JobQueue[Any] | None, item: RiskMessage
) -> str | None:
    """Queue the therapist's alert; on failure schedule a retry. Returns the client's locale."""
    try:
        queued = await queue_alert(services, item)
    except Exception as exc:  # noqa: BLE001 - any storage or encryption failure means "retry"
        _schedule_retry(job_queue, item, exc)
        return None
    if queued is None:
        return None
    try:
        await _deliver_now(services, bot, queued)
    except Exception as exc:  # noqa: BLE001 - queued durably; the sender sends it later
        log.warning("risk alert queued; immediate delivery failed (%s)", type(exc).__name__)
    return queued.locale


def _schedule_retry(job_queue: JobQueue[Any] | None, item: RiskMessage, exc: BaseException) -> None:
    if item.attempt >= len(RETRY_DELAYS) or job_queue is None:
        log.error(
            "risk alert could not be recorded (%s); giving up after %d attempts",
            type(exc).__name__,
            item.attempt + 1,
        )
        return
    delay = RETRY_DELAYS[item.attempt]
    log.error("risk alert could not be recorded (%s); retrying in %ds", type(exc).__name__, delay)
    job_queue.run_once(
        retry_alert, when=delay, data=replace(item, attempt=item.attempt + 1), name=RETRY_JOB
    )


async def retry_alert(context: BotContext) -> None:
    """A job: try again to queue an alert the database could not take earlier."""
    job = context.job
    if job is None or not isinstance(job.data, RiskMessage):
        return
    await alert_or_retry(context.services, context.bot, context.job_queue, job.data)


async def _deliver_now(services: Services, bot: Any, queued: QueuedAlert) -> None:
    """Send the alert (and the client's note) now rather than at the sender's next claim.

    Only this alert's rows are claimed, through the process's one sender, so leases, pacing
    and outcomes work as for any other row. Alerts go ahead of the therapist's other
    waiting messages (bot.sending.outbox), so the first round sends it unless an earlier alert to
    the same therapist is still going out; a few rounds cover that. Anything left goes
    with the sender's next claim (within a second).
    """
    sender = sender_of(services, bot)
    for _ in range(DELIVERY_ROUNDS):
        _claimed, sent = await sender.deliver(keys=queued.outbox_keys)
        async with services.db.session() as session:
            row = (
                await session.exec(
                    select(OutboxMessage).where(OutboxMessage.dedupe_key == queued.outbox_key)
                )
            ).first()
        if row is None or row.status in SETTLED or not sent:
            return


async def _awaits_comment(services: Services, session: AsyncSession, client: Client) -> bool:
    """Whether the client's open check-in is waiting for a typed comment (same rule as
    ``bot.checkins.conversation.take_comment``), so the alert can say where the words came from."""
    if client.status not in PARTICIPATING:
        return False
    for checkin in await repo.open_checkins_of(session, client.id or 0):
        answers = {a.item_id: a.value for a in await repo.answers_of(session, checkin.id or 0)}
        item = services.instrument.next_item(checkin.item_ids(), answers)
        if item is not None and item.kind == "text":
            return True
    return False


@dataclass(frozen=True)
class QueuedAlert:
    """An alert safely in the outbox: its row's key, the client's language, and the keys of
    every row it queued (the alert and the note to the client)."""

    outbox_key: str
    locale: str
    outbox_keys: tuple[str, ...] = ()


async def queue_alert(services: Services, item: RiskMessage) -> QueuedAlert | None:
    """Record the alert and queue it for the therapist, with a note to the client.

    None when the sender is not a client (a therapist or someone unknown: the crisis
    reply was all there is to do) or this message was alerted already.
    """
    now = services.clock.now()
    texts = services.texts
    async with services.db.session() as session:
        client = await repo.client_by_user(session, item.user_id)
        if client is None or client.status == ClientState.DECLINED or client.id is None:
            return None
        therapist = await session.get(Therapist, client.therapist_id)
        if therapist is None:
            return None
        seen = await session.exec(
            select(Alert.id)
            .where(Alert.client_id == client.id)
            .where(Alert.dedupe_key == item.alert_key)
        )
        if seen.first() is not None:
            return None
        session.add(
            Alert(client_id=client.id, kind="risk", dedupe_key=item.alert_key, created_at=now)
        )
        try:
            await session.flush()
        except IntegrityError:
            return None  # another worker took this one
        if item.edited_at:
            source = "edit"
        elif item.caption:
            source = "caption"
        elif await _awaits_comment(services, session, client):
            source = "comment"
        else:
            source = "message"
        words = shown_text(item.text)  # the one sanitiser for a client's words shown to others
        quote = words[:QUOTE_LIMIT]
        alert = texts.render(
            therapist.locale,
            "safety.alert",
            alias=client.alias,
            level=item.level,
            source=source,
            at=item.received_at.astimezone(ZoneInfo(therapist.timezone)),
            quote=quote,
            clipped=len(words) > QUOTE_LIMIT,
        )
        outbox_key = f"alert:{client.id}:{item.alert_key}"
        # No client_id: a 403 on this row means the *therapist* blocked the bot, and
        # the outbox marks every person named on a failed row as unreachable.
        await queue_for_therapist(
            session, services, therapist, alert, kind="alert", dedupe_key=outbox_key, now=now
        )
        told_key = f"risk-told:{client.id}:{item.alert_key}"
        if client.chat_id is not None:
            await outbox.enqueue(
                session,
                services.cipher,
                kind="notice",
                dedupe_key=told_key,
                message=outbox.Outgoing(
                    client.chat_id, texts.render(client.locale, "safety.therapist_told")
                ),
                now=now,
                client_id=client.id,
            )
        return QueuedAlert(outbox_key, client.locale, (outbox_key, told_key))
