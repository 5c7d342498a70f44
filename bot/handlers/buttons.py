"""Button presses and typed text: check-in answers, consent, /stop confirmation, language.

Each kind of button has its own handler; bot.app routes each kind to it (the button map).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from telegram import (
    Update,
)
from telegram.error import BadRequest

from bot import callbacks, metrics, safety
from bot.checkins.conversation import (
    Screen,
    awaiting_buttons,
    back_command,
    press_answer,
    press_back,
    take_comment,
)
from bot.core.crisis import country_of_timezone
from bot.digest import alerts
from bot.handlers import menus
from bot.handlers.common import (
    acknowledge,
    identify,
    person_of,
    refuse_press,
    reply,
    require,
    shows_button,
)
from bot.practice import enrolment
from bot.practice import sessions as practice
from bot.privacy import rights
from bot.sending.outbox import keyboard_json
from bot.services import BotContext

log = logging.getLogger(__name__)


def _markup(screen: Screen) -> dict[str, Any]:
    """The screen's buttons for an edit, as the Bot API's JSON (what an InlineKeyboardMarkup
    of InlineKeyboardButtons sends, without building and serialising those for every tap);
    no buttons: none are passed, and the edit removes the old ones."""
    if not screen.buttons:
        return {}
    return {"api_kwargs": {"reply_markup": keyboard_json(screen.buttons)}}


async def _show(update: Update, screen: Screen) -> None:
    """Edit the pressed message in place to show a new screen."""
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_text(screen.text, **_markup(screen))
    except BadRequest as exc:
        # "message is not modified" after a double tap is harmless; anything else is logged.
        if "not modified" not in str(exc):
            log.warning("could not edit the check-in message: %s", type(exc).__name__)


async def _edit_checkin(context: BotContext, chat_id: int, message_id: int, screen: Screen) -> None:
    """Bring the check-in message (not the one just received) to this screen."""
    try:
        await context.bot.edit_message_text(
            screen.text, chat_id=chat_id, message_id=message_id, **_markup(screen)
        )
    except BadRequest as exc:
        log.warning("could not edit the check-in message: %s", type(exc).__name__)


P = TypeVar("P", bound=callbacks.Press)


def on_press(
    kind: type[P], act: Callable[[Update, BotContext, P], Awaitable[None]]
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """The handler for one kind of button (bot.app routes each kind to its own): the press,
    parsed strictly (bot.callbacks), goes to ``act``. Whether it is allowed is for ``act``
    to decide against the database."""

    async def handle(update: Update, context: BotContext) -> None:
        query = update.callback_query
        press = callbacks.parse(query.data if query else None)
        if isinstance(press, kind):
            await act(update, context, press)
        else:  # empty data passes every pattern (python-telegram-bot's rule)
            await invalid_press(update, context)

    handle.__qualname__ = handle.__name__ = f"on_{kind.__name__}"
    return handle


async def invalid_press(update: Update, context: BotContext) -> None:
    """A press no route took (malformed or forged data): a short notice, nothing changes."""
    query = update.callback_query
    if query is None:
        return
    person = await person_of(update, context)
    await refuse_press(query, context, person.locale)


async def full_notice_pressed(
    update: Update, context: BotContext, _press: callbacks.FullNoticePress
) -> None:
    """The welcome's "full privacy notice": the welcome stays, with its consent buttons; the
    notice comes below it."""
    query = update.callback_query
    assert query is not None
    person = await person_of(update, context)
    await acknowledge(query, "")
    await reply(update, context, person.locale, "client.notice")


async def consent_pressed(
    update: Update, context: BotContext, press: callbacks.ConsentPress
) -> None:
    """Agree or decline on the welcome: joining (or not) through the invitation."""
    query = update.callback_query
    assert query is not None
    services, texts = context.services, context.services.texts
    user = query.from_user
    person = await person_of(update, context)
    chat_id = query.message.chat.id if query.message else user.id
    outcome = await enrolment.answer_consent(
        services, user.id, chat_id, user.language_code, press.token, press.agree
    )
    if outcome == "invalid":
        # The generic answer replaces the consent buttons, but only on the message that
        # carries them: forged data pressed on a check-in must not wipe the check-in.
        if shows_button(query.message, query.data):
            await acknowledge(query)
            await _show(update, Screen(texts.render(person.locale, "common.unknown")))
        else:
            await refuse_press(query, context, person.locale)
        return
    await acknowledge(query)
    # Who the sender is changed with their answer (they joined, or declined): ask again.
    locale = (await identify(services, update)).locale
    await _show(update, Screen(texts.render(locale, f"client.consent_{outcome}")))


async def stop_pressed(update: Update, context: BotContext, press: callbacks.StopPress) -> None:
    """The /stop confirmation."""
    query = update.callback_query
    assert query is not None
    services, texts = context.services, context.services.texts
    person = await person_of(update, context)
    # Only on the confirmation message itself, by the client it was offered to: forged
    # data pressed on any other message changes nothing. One offered before the client
    # last agreed to the privacy notice (when joining again) belongs to the past.
    stopping = person.client
    if (
        stopping is None
        or stopping.id != press.client_id
        or not shows_button(query.message, query.data)
        or press.issued_minute < rights.minute_of(stopping.consent_at or stopping.created_at)
    ):
        await refuse_press(query, context, person.locale)
        return
    if not press.confirm:
        await acknowledge(query)
        await _show(update, Screen(texts.render(person.locale, "client.stop_cancelled")))
        return
    # Leave first, then answer the tap: a late tap's answer fails, the leaving must not.
    left = await practice.leave_programme(services, stopping.id or 0)
    await acknowledge(query)
    await _show(
        update,
        Screen(texts.render(person.locale, "client.stopped" if left else "client.stop_already")),
    )


async def language_pressed(
    update: Update, context: BotContext, press: callbacks.LanguagePress
) -> None:
    """A language button (/language)."""
    query = update.callback_query
    assert query is not None
    services, texts = context.services, context.services.texts
    person = await person_of(update, context)
    target = person.therapist or person.client
    if target is None:
        await refuse_press(query, context, person.locale)
        return
    kind = "therapist" if person.therapist else "client"
    changed = await practice.set_locale(services, kind, target.id or 0, press.locale)
    if not changed:
        await refuse_press(query, context, person.locale)
        return
    await acknowledge(query)
    await _show(update, Screen(texts.render(press.locale, "language.set")))
    if person.therapist is not None:
        await menus.set_therapist_menu(context.bot, texts, person.therapist.chat_id, press.locale)


async def answer_pressed(update: Update, context: BotContext, press: callbacks.AnswerPress) -> None:
    """A check-in answer: store it, then answer the tap and show the next screen at once.

    This is the busiest path of the bot, so it looks the presser up only once (inside
    ``press_answer``) and sends the tap's answer and the edit side by side.
    """
    query = update.callback_query
    assert query is not None
    services = context.services
    message_id = query.message.message_id if query.message else None
    result = await press_answer(services, query.from_user.id, message_id, press)
    metrics.record_press(result.notice_key, result.completed_checkin_id is not None)
    locale = result.locale or (await person_of(update, context)).locale
    notice = services.texts.label(locale, result.notice_key)
    if result.screen is None:
        await acknowledge(query, notice)
        return
    try:
        await asyncio.gather(acknowledge(query, notice), _show(update, result.screen))
    finally:
        # A finished check-in may show severe strain; checked even when the edit failed,
        # and again on a tap handled after a restart (the alert happens once). A check-in
        # still being answered is judged when it is finished, never on partial answers.
        if result.answers is not None and (
            result.completed_checkin_id is not None or result.notice_key == "checkin.already"
        ):
            await alerts.after_answer(
                services,
                press.checkin_id,
                answers=result.answers,
                instrument_id=result.instrument_id,
            )


async def back_pressed(update: Update, context: BotContext, press: callbacks.BackPress) -> None:
    """ "Back" in a check-in: take the latest answer back and show its question again."""
    query = update.callback_query
    assert query is not None
    services = context.services
    message_id = query.message.message_id if query.message else None
    result = await press_back(services, query.from_user.id, message_id, press)
    locale = result.locale or (await person_of(update, context)).locale
    notice = services.texts.plain(locale, result.notice_key)
    if result.screen is None:
        await acknowledge(query, notice)
        return
    await asyncio.gather(acknowledge(query, notice), _show(update, result.screen))


async def back(update: Update, context: BotContext) -> None:
    """/back: take back the latest answer of the open check-in; its message asks again."""
    person = await require(update, context, "client")
    if person is None or person.client is None:
        return
    result = await back_command(context.services, person.client)
    if result.screen is not None and result.chat_id is not None and result.message_id is not None:
        await _edit_checkin(context, result.chat_id, result.message_id, result.screen)
    await reply(update, context, person.locale, result.notice_key)


async def text_message(update: Update, context: BotContext) -> None:
    """Plain text: a check-in comment if one is awaited, otherwise a kind pointer."""
    message = update.message
    user = update.effective_user
    if message is None or user is None or message.text is None:
        return
    services = context.services
    person = await person_of(update, context)
    if person.client is not None:
        if context.user_data is not None:
            # For the next crisis reply, which comes before any database work (bot.safety).
            context.user_data[safety.COUNTRY_KEY] = country_of_timezone(person.client.timezone)
        result = await take_comment(services, user.id, message.text)
        if result is not None:
            metrics.record_press("checkin.saved", completed=result.completed)
            if result.message_id is not None:
                await _edit_checkin(context, result.chat_id, result.message_id, result.screen)
            await reply(update, context, person.locale, "checkin.comment_saved")
            await alerts.after_answer(services, result.checkin_id)
            return
        if safety.flagged(context):
            return  # the crisis reply has answered; "your therapist won't see this" is untrue now
        awaited = await awaiting_buttons(services, user.id)
        if awaited is not None:
            await reply(
                update,
                context,
                person.locale,
                "checkin.use_buttons",
                can_go_back=awaited.can_go_back,
            )
            return
        await reply(update, context, person.locale, "client.stray_text")
        return
    if safety.flagged(context):
        return  # the crisis reply has answered
    if person.therapist is not None:
        await reply(update, context, person.locale, "therapist.text_hint")
        return
    await reply(update, context, person.locale, "common.unknown")
