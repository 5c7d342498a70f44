"""Commands: /start, the therapist's commands and the client's commands."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from telegram import Update

from bot import callbacks
from bot.core.digest import split_html_messages
from bot.core.scheduling import suggest_timezones
from bot.handlers import menus, reports
from bot.handlers.admin import with_source_line
from bot.handlers.common import person_of, reply, require
from bot.practice import enrolment
from bot.practice import sessions as practice
from bot.practice.tokens import deep_link
from bot.privacy import rights
from bot.sending.outbox import keyboard
from bot.services import BotContext
from storage.models import Client
from storage.states import ClientState


async def start(update: Update, context: BotContext) -> None:
    """/start [token]: redeem an invitation, or greet someone already enrolled."""
    services = context.services
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    args = context.args or []
    person = await person_of(update, context)
    if not args:
        if person.therapist:
            await reply(update, context, person.locale, "therapist.help")
        elif person.client:
            await reply(update, context, person.locale, "client.help")
        else:
            await reply(update, context, person.locale, "common.unknown")
        return
    result = await enrolment.start_with_token(
        services, user.id, chat.id, user.language_code, args[0]
    )
    if result.status == "already_enrolled":
        await reply(update, context, person.locale, "common.already_enrolled")
        return
    if result.status == "therapist_registered":
        await reply(
            update, context, result.locale, "therapist.registered", name=result.therapist_name
        )
        await menus.set_therapist_menu(context.bot, services.texts, chat.id, result.locale)
        return
    if result.status == "client_consent":
        texts = services.texts
        message = update.effective_message
        assert message is not None
        await message.reply_text(
            texts.render(result.locale, "client.welcome", therapist=result.therapist_name),
            reply_markup=keyboard(
                [
                    [
                        (
                            texts.plain(result.locale, "buttons.agree"),
                            callbacks.consent(True, args[0]),
                        )
                    ],
                    [(texts.plain(result.locale, "buttons.full_notice"), callbacks.full_notice())],
                    [
                        (
                            texts.plain(result.locale, "buttons.decline"),
                            callbacks.consent(False, args[0]),
                        )
                    ],
                ]
            ),
            disable_web_page_preview=True,
        )
        return
    await reply(update, context, person.locale, "common.unknown")


async def invite(update: Update, context: BotContext) -> None:
    """/invite <alias>: a single-use deep link for a new client."""
    person = await require(update, context, "therapist")
    if person is None or person.therapist is None:
        return
    args = context.args or []
    if len(args) != 1:
        await reply(update, context, person.locale, "therapist.invite_usage")
        return
    result = await enrolment.invite_client(context.services, person.therapist, args[0])
    if result.status == "ok" and result.token:
        link = deep_link(context.services.bot_username, result.token)
        await reply(
            update,
            context,
            person.locale,
            "therapist.invite_ok",
            alias=enrolment.normalise_alias(args[0]),
            link=link,
            days=context.services.settings.invitation_ttl_days,
            former=result.former,
        )
    elif result.status == "alias_active":
        await reply(update, context, person.locale, "therapist.alias_active", alias=args[0])
    else:
        await reply(update, context, person.locale, "therapist.alias_invalid")


async def record_session(update: Update, context: BotContext) -> None:
    """/session <alias> [YYYY-MM-DD HH:MM]: a session has ended; its check-in follows."""
    person = await require(update, context, "therapist")
    if person is None or person.therapist is None:
        return
    args = context.args or []
    if len(args) not in (1, 3):
        await reply(update, context, person.locale, "therapist.session_usage")
        return
    if not enrolment.valid_alias(args[0]):
        # Never echo what cannot be an alias (it may be 4,000 characters long).
        await reply(update, context, person.locale, "therapist.alias_invalid")
        return
    when = " ".join(args[1:]) if len(args) == 3 else None
    result = await practice.record_session(context.services, person.therapist, args[0], when)
    tz = ZoneInfo(person.therapist.timezone)
    if result.status == "ok" and result.due_at is not None:
        await reply(
            update,
            context,
            person.locale,
            "therapist.session_recorded",
            alias=args[0],
            due=result.due_at.astimezone(tz),
            # A backdated session's check-in is already due: it goes out now, not "at 14:50".
            due_now=result.due_at <= context.services.clock.now(),
            invited=result.client is not None and result.client.status == ClientState.INVITED,
            paused=result.client is not None and result.client.status == ClientState.PAUSED,
        )
        if result.client is not None and result.client.id is not None:
            await reports.offer_rating(update, context, person.therapist.id or 0, result.client.id)
            await reports.offer_conversation(update, context, person.therapist, result.client.id)
    elif result.status == "unknown_alias":
        await reply(update, context, person.locale, "therapist.unknown_alias", alias=args[0])
    else:
        await reply(
            update,
            context,
            person.locale,
            f"therapist.session_{result.status}",
            alias=args[0],
            hours=round(context.services.settings.expire_after_hours),
        )


async def schedule(update: Update, context: BotContext) -> None:
    """/schedule <alias> <weekday> <HH:MM> [minutes] | off."""
    person = await require(update, context, "therapist")
    if person is None or person.therapist is None:
        return
    args = context.args or []
    if len(args) < 2:
        await reply(update, context, person.locale, "therapist.schedule_usage")
        return
    if not enrolment.valid_alias(args[0]):
        await reply(update, context, person.locale, "therapist.alias_invalid")
        return
    result = await practice.set_schedule(context.services, person.therapist, args[0], args[1:])
    if result.status == "ok" and result.next_end is not None:
        await reply(
            update,
            context,
            person.locale,
            "therapist.schedule_set",
            alias=args[0],
            weekday=result.weekday,
            start=result.start,
            minutes=result.minutes,
            next_end=result.next_end.astimezone(ZoneInfo(person.therapist.timezone)),
        )
    elif result.status == "unknown_alias":
        await reply(update, context, person.locale, "therapist.unknown_alias", alias=args[0])
    else:
        await reply(
            update, context, person.locale, f"therapist.schedule_{result.status}", alias=args[0]
        )


async def timezone(update: Update, context: BotContext) -> None:
    """/timezone <IANA name>."""
    person = await require(update, context, "therapist")
    if person is None or person.therapist is None:
        return
    args = context.args or []
    if not args:
        await reply(
            update,
            context,
            person.locale,
            "therapist.timezone_usage",
            current=person.therapist.timezone,
        )
        return
    typed = "_".join(args)  # "New York" is America/New_York's city part
    name = await practice.set_timezone(context.services, person.therapist.id or 0, typed)
    if name is not None:
        await reply(update, context, person.locale, "therapist.timezone_set", name=name)
        return
    await reply(
        update,
        context,
        person.locale,
        "therapist.timezone_unknown",
        # Echoed only when it could be a name at all (never pages of text).
        name=typed if len(typed) <= 64 and typed.isprintable() else "",
        suggestions=suggest_timezones(typed),
    )


async def digest_time(update: Update, context: BotContext) -> None:
    """/digesttime <weekday> <HH:MM>: when the weekly digest arrives."""
    person = await require(update, context, "therapist")
    if person is None or person.therapist is None:
        return
    args = context.args or []
    result = None
    if len(args) == 2:
        result = await practice.set_digest_time(
            context.services, person.therapist.id or 0, args[0], args[1]
        )
    if result is None:
        await reply(
            update,
            context,
            person.locale,
            "therapist.digesttime_usage",
            weekday=person.therapist.digest_weekday,
            time=person.therapist.digest_time,
        )
        return
    await reply(
        update,
        context,
        person.locale,
        "therapist.digesttime_set",
        weekday=result[0],
        time=result[1],
    )


async def clients(update: Update, context: BotContext) -> None:
    """/clients: each client with status and latest check-in."""
    person = await require(update, context, "therapist")
    if person is None or person.therapist is None:
        return
    await rights.audit_read(context.services, person.therapist, "read_clients")
    lines = await practice.client_overview(context.services, person.therapist.id or 0)
    if not lines:
        await reply(update, context, person.locale, "therapist.clients_none")
        return
    texts, tz = context.services.texts, ZoneInfo(person.therapist.timezone)
    # One paragraph per client, packed into as few messages as fit Telegram's limit.
    paragraphs = [texts.render(person.locale, "therapist.clients_header", count=len(lines))]
    paragraphs += [
        texts.render(person.locale, "therapist.client_line", line=line, tz=tz) for line in lines
    ]
    message = update.effective_message
    assert message is not None
    for text in split_html_messages(paragraphs):
        await message.reply_text(text)


async def help_command(update: Update, context: BotContext) -> None:
    """/help: the commands for whoever asks."""
    person = await person_of(update, context)
    key = (
        "therapist.help"
        if person.therapist
        else "client.help"
        if person.client
        else "common.unknown"
    )
    if not person.known:
        # Strangers get the one generic reply, the same for every command (/source works).
        await reply(update, context, person.locale, key)
        return
    message = update.effective_message
    if message is not None:
        await message.reply_text(with_source_line(context.services.texts, person.locale, key))


async def privacy(update: Update, context: BotContext) -> None:
    """/privacy: the privacy notice again."""
    person = await person_of(update, context)
    if person.client is None and person.therapist is None:
        await reply(update, context, person.locale, "common.unknown")
        return
    message = update.effective_message
    if message is not None:
        text = with_source_line(context.services.texts, person.locale, "client.privacy")
        await message.reply_text(text)


async def _participant_or_refuse(update: Update, context: BotContext) -> Client | None:
    """The sender as a client who is still taking part, or None after a short answer."""
    person = await require(update, context, "participant")
    return None if person is None else person.client


async def pause(update: Update, context: BotContext) -> None:
    """/pause: no check-ins until /resume."""
    client = await _participant_or_refuse(update, context)
    if client is None:
        return
    status = await practice.set_client_status(context.services, client.id or 0, ClientState.PAUSED)
    await reply(update, context, client.locale, f"client.pause_{status}")


async def resume(update: Update, context: BotContext) -> None:
    """/resume: check-ins again after the next session."""
    client = await _participant_or_refuse(update, context)
    if client is None:
        return
    status = await practice.set_client_status(context.services, client.id or 0, ClientState.ACTIVE)
    await reply(update, context, client.locale, f"client.resume_{status}")


async def stop(update: Update, context: BotContext) -> None:
    """/stop: leave the programme, after a confirmation."""
    client = await _participant_or_refuse(update, context)
    if client is None:
        return
    texts = context.services.texts
    # Bound to this client and this moment; the press is honoured only on this very message.
    stamp = rights.minute_of(context.services.clock.now())
    message = update.effective_message
    assert message is not None
    await message.reply_text(
        texts.render(client.locale, "client.stop_confirm"),
        reply_markup=keyboard(
            [
                [
                    (
                        texts.plain(client.locale, "buttons.stop_yes"),
                        callbacks.stop(True, client.id or 0, stamp),
                    ),
                    (
                        texts.plain(client.locale, "buttons.stop_no"),
                        callbacks.stop(False, client.id or 0, stamp),
                    ),
                ]
            ]
        ),
    )


async def language(update: Update, context: BotContext) -> None:
    """/language: choose the language of the bot's messages."""
    person = await person_of(update, context)
    if not person.known:
        await reply(update, context, person.locale, "common.unknown")
        return
    texts = context.services.texts
    message = update.effective_message
    assert message is not None
    rows = [[(texts.plain(loc, "language.name"), callbacks.language(loc))] for loc in texts.locales]
    await message.reply_text(
        texts.render(person.locale, "language.choose"), reply_markup=keyboard(rows)
    )


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command the bot does not have."""
    person = await person_of(update, context)
    await reply(
        update,
        context,
        person.locale,
        "common.unknown_command" if person.known else "common.unknown",
    )
