"""The Bot API stand-in, driven by the real python-telegram-bot over HTTP.

Nothing in PTB is patched: a real ``telegram.Bot`` / ``Application`` talks to the stand-in
through ``base_url``. Waiting is always on observable state (``wait_for``), never on sleeps.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    MenuButtonCommands,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.offline.standin import BotAPIStandIn, Button, FakeUser, group_chat

# PTB 22 itself warns when building RetryAfter (int vs timedelta); not this suite's concern.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2:telegram.warnings.PTBDeprecationWarning"
)

ADA = FakeUser(101, "Ada", "Lovelace", "ada", "en")
GRACE = FakeUser(102, "Grace")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


def png(width: int = 64, height: int = 48) -> bytes:
    """A PNG signature and IHDR chunk: enough for Telegram-style dimension checks."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + len(ihdr).to_bytes(4, "big") + b"IHDR" + ihdr + b"\x00" * 4


def seconds(value: int | dtm.timedelta) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB settings."""
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


@pytest.fixture
async def tg() -> AsyncIterator[BotAPIStandIn]:
    async with BotAPIStandIn() as standin:
        standin.register_user(ADA)
        standin.register_user(GRACE)
        yield standin
        assert standin.internal_errors == []


@pytest.fixture
async def bot(tg: BotAPIStandIn) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as real_bot:
        yield real_bot


# ----------------------------------------------------------------------------- basics


async def test_get_me(tg: BotAPIStandIn, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == tg.bot_id == 123456789
    assert me.is_bot
    assert me.username == tg.bot_username == "alliance_test_bot"
    assert tg.base_url == f"http://127.0.0.1:{tg.port}/bot"
    assert tg.calls[-1].method == "getMe" and tg.calls[-1].ok


@pytest.mark.parametrize(
    ("token", "status", "description"),
    [("123456:WRONG-TOKEN", 401, "Unauthorized"), ("not-a-token", 404, "Not Found")],
)
async def test_bad_token_is_invalid_token(
    tg: BotAPIStandIn, token: str, status: int, description: str
) -> None:
    wrong = Bot(token, base_url=tg.base_url)
    try:
        with pytest.raises(InvalidToken):
            await wrong.initialize()
    finally:
        await wrong.shutdown()
    last = tg.calls[-1]
    assert (last.method, last.error_code, last.description) == ("getMe", status, description)


async def test_unknown_method_is_not_found(tg: BotAPIStandIn, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": ADA.id})
    assert tg.calls[-1].error_code == 404
    assert tg.calls[-1].description == "Not Found"


# ----------------------------------------------------------------------------- round trip


async def test_send_press_answer_edit_round_trip(tg: BotAPIStandIn, bot: Bot) -> None:
    sent = await bot.send_message(
        ADA.id,
        "<b>How was today's session?</b>",
        parse_mode="HTML",
        reply_markup=keyboard([("Good", "rate:good"), ("Hard", "rate:hard")]),
    )
    assert sent.text == "How was today's session?"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == len(sent.text)
    assert sent.chat.id == ADA.id and sent.from_user is not None and sent.from_user.is_bot

    shown = tg.last_bot_message(ADA.id)
    assert shown is not None
    assert shown.message_id == sent.message_id
    assert shown.text == "How was today's session?"
    assert shown.html == "<b>How was today's session?</b>"
    assert shown.reply_markup == [[("Good", "rate:good"), ("Hard", "rate:hard")]]
    assert shown.reply_markup[0][0] == Button("Good", "rate:good")

    query_id = tg.press_button_text(ADA, sent.message_id, "Go")
    updates = await bot.get_updates()
    query = updates[-1].callback_query
    assert query is not None and query.id == query_id
    assert query.data == "rate:good"
    assert query.from_user.id == ADA.id
    assert query.message is not None and query.message.message_id == sent.message_id

    assert await bot.answer_callback_query(query_id, text="Thanks!")
    assert tg.callback_answers[query_id].text == "Thanks!"
    assert not tg.callback_answers[query_id].show_alert

    edited = await bot.edit_message_text("Thanks for answering", ADA.id, sent.message_id)
    assert isinstance(edited, type(sent))
    assert edited.edit_date is not None
    now = tg.last_bot_message(ADA.id)
    assert now is not None
    assert (now.text, now.edit_count, now.reply_markup) == ("Thanks for answering", 1, None)


async def test_user_and_bot_messages_share_the_chat_id_sequence(
    tg: BotAPIStandIn, bot: Bot
) -> None:
    first = tg.send_text(ADA, "hello")
    reply = await bot.send_message(ADA.id, "hi")
    second = tg.send_command(ADA, "/start", "deep-link")
    assert first["message"]["message_id"] == 1
    assert reply.message_id == 2
    assert second["message"]["message_id"] == 3
    assert second["update_id"] == first["update_id"] + 1
    assert second["message"]["text"] == "/start deep-link"
    assert second["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert [(m.message_id, m.from_bot) for m in tg.messages(ADA.id)] == [
        (1, False),
        (2, True),
        (3, False),
    ]
    assert [m.message_id for m in tg.sent_to(ADA.id)] == [2]


async def test_simulated_people_produce_updates_ptb_can_parse(tg: BotAPIStandIn, bot: Bot) -> None:
    group = group_chat(-500, "Therapists")
    tg.send_command(ADA, "checkin", chat=group, mention=True)
    tg.send_sticker(ADA)
    tg.send_photo(ADA, caption="my drawing", data=png())
    tg.send_document(ADA, filename="notes.pdf")
    tg.send_voice(ADA)
    tg.send_contact(ADA)
    tg.send_location(ADA, 52.52, 13.40)
    original = tg.send_text(ADA, "typo")
    tg.edit_text(ADA, original["message"]["message_id"], "fixed")
    tg.inject_update({"some_future_update_type": {"anything": True}})

    updates = await bot.get_updates()
    command = updates[0].message
    assert command is not None and command.chat.type == "group"
    assert command.text == "/checkin@alliance_test_bot"
    assert command.parse_entities() == {command.entities[0]: "/checkin@alliance_test_bot"}
    assert updates[1].message is not None and updates[1].message.sticker is not None
    assert updates[2].message is not None and updates[2].message.caption == "my drawing"
    photo_file = await bot.get_file(updates[2].message.photo[-1].file_id)
    assert bytes(await photo_file.download_as_bytearray()) == png()
    assert updates[3].message is not None and updates[3].message.document is not None
    assert updates[4].message is not None and updates[4].message.voice is not None
    assert updates[5].message is not None and updates[5].message.contact is not None
    assert updates[6].message is not None and updates[6].message.location is not None
    assert updates[8].edited_message is not None
    assert updates[8].edited_message.text == "fixed"
    assert [u.update_id for u in updates] == sorted(u.update_id for u in updates)
    assert len(updates) == 10


# ----------------------------------------------------------------------------- validation


async def test_chat_not_found_for_unknown_chat(tg: BotAPIStandIn, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="^Chat not found$"):
        await bot.send_message(999, "hello")
    assert tg.calls[-1].description == "Bad Request: chat not found"


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("x" * 4097, "Bad Request: message is too long"),
        ("é" * 4097, "Bad Request: message is too long"),
        ("", "Bad Request: message text is empty"),
        ("   \n ", "Bad Request: text must be non-empty"),
    ],
)
async def test_text_length_rejected(
    tg: BotAPIStandIn, bot: Bot, text: str, description: str
) -> None:
    with pytest.raises(BadRequest):
        await bot.send_message(ADA.id, text)
    assert tg.calls[-1].description == description
    assert tg.sent_to(ADA.id) == []


async def test_text_length_limits_accepted(tg: BotAPIStandIn, bot: Bot) -> None:
    assert (await bot.send_message(ADA.id, "x" * 4096)).text == "x" * 4096
    assert (await bot.send_message(ADA.id, "é" * 4096)).text == "é" * 4096
    # Telegram trims surrounding whitespace from what it stores and shows.
    assert (await bot.send_message(ADA.id, "\n  padded  \n")).text == "padded"


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins>", None),
        ("<s>s</s> <strike>k</strike> <del>d</del> <tg-spoiler>x</tg-spoiler>", None),
        (
            '<span class="tg-spoiler">hidden</span> <a href="https://example.org/?a=1&amp;b=2">l</a>',
            None,
        ),
        ('<code>x</code> <pre><code class="language-python">print(1)</code></pre>', None),
        ("<blockquote>q</blockquote><blockquote expandable>long</blockquote>", None),
        (
            "<b>bold <i>nested</i></b> &lt;3 &amp; &quot;q&quot; &#39;a&#x27;",
            "bold nested <3 & \"q\" 'a'",
        ),
    ],
)
async def test_html_supported_tags_accepted(
    tg: BotAPIStandIn, bot: Bot, raw: str, plain: str | None
) -> None:
    sent = await bot.send_message(ADA.id, raw, parse_mode="HTML")
    assert sent.text is not None
    if plain is None:
        assert "<" not in sent.text and sent.entities
    else:
        assert sent.text == plain
    shown = tg.last_bot_message(ADA.id)
    assert shown is not None and shown.html == raw and shown.text == sent.text


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<br>line", 'Unsupported start tag "br" at byte offset 0'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        (
            "<b><i>test</b></i>",
            'Unmatched end tag at byte offset 10, expected "</i>", found "</b>"',
        ),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("ünïcödé <bad>", 'Unsupported start tag "bad" at byte offset 12'),  # UTF-8 bytes
    ],
)
async def test_html_errors_rejected(
    tg: BotAPIStandIn, bot: Bot, raw: str, description: str
) -> None:
    with pytest.raises(BadRequest, match="^Can't parse entities: "):
        await bot.send_message(ADA.id, raw, parse_mode="HTML")
    assert tg.calls[-1].description == f"Bad Request: can't parse entities: {description}"


async def test_html_bare_ampersand_is_strict_by_default(tg: BotAPIStandIn, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="html.escape"):
        await bot.send_message(ADA.id, "Tom & Jerry", parse_mode="HTML")
    tg.strict_html_entities = False  # what real Telegram does: show it literally
    assert (await bot.send_message(ADA.id, "Tom & Jerry", parse_mode="html")).text == "Tom & Jerry"


async def test_escaped_user_text_is_accepted_verbatim(tg: BotAPIStandIn, bot: Bot) -> None:
    hostile = "<b>not bold</b> & 1 < 2 > 0 \"quoted\" 'single' &amp; ☕ 𝄞"
    sent = await bot.send_message(
        ADA.id, f"<i>You wrote:</i> {html.escape(hostile)}", parse_mode="HTML"
    )
    assert sent.text == f"You wrote: {hostile}"
    assert sent.entities[0].type == "italic"


async def test_html_entity_offsets_are_utf16(bot: Bot) -> None:
    sent = await bot.send_message(ADA.id, "𝄞 <b>clef</b>", parse_mode="HTML")
    assert sent.entities[0].offset == 3  # the clef is two UTF-16 code units, then a space
    assert sent.parse_entities() == {sent.entities[0]: "clef"}


async def test_markdown_is_refused_clearly(tg: BotAPIStandIn, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="not supported by the bot api stand-in"):
        await bot.send_message(ADA.id, "*bold*", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match="^Unsupported parse_mode$"):
        await bot.send_message(ADA.id, "x", parse_mode="RTF")


async def test_callback_data_limit_counts_bytes(tg: BotAPIStandIn, bot: Bot) -> None:
    assert len("é".encode()) == 2
    ok = await bot.send_message(ADA.id, "a", reply_markup=keyboard([("x", "é" * 32)]))
    assert ok.reply_markup is not None
    assert (await bot.send_message(ADA.id, "b", reply_markup=keyboard([("x", "a" * 64)]))).text
    for data in ("é" * 32 + "a", "é" * 33, "a" * 65):
        with pytest.raises(BadRequest, match="^Button_data_invalid$"):
            await bot.send_message(ADA.id, "c", reply_markup=keyboard([("x", data)]))
        assert tg.calls[-1].description == "Bad Request: BUTTON_DATA_INVALID"
    assert len(tg.sent_to(ADA.id)) == 2


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        (
            {"inline_keyboard": [[{"text": "plain"}]]},
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        ),
        (
            {"inline_keyboard": [[{"text": "x", "callback_data": ""}]]},
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        ),
        (
            {"inline_keyboard": [[{"callback_data": "x"}]]},
            "Bad Request: can't parse inline keyboard button: Can't find field \"text\"",
        ),
        ({"inline_keyboard": "bad"}, 'Bad Request: field "inline_keyboard" must be of type Array'),
        (
            {"inline_keyboard": [[{"text": "l", "url": "ftp://example.com"}]]},
            "Bad Request: inline keyboard button URL 'ftp://example.com' is invalid: "
            "Unsupported URL protocol",
        ),
        (
            {"keyboard": [["A"]], "resize_keyboard": "yes"},
            'Bad Request: field "resize_keyboard" must be of type Boolean',
        ),
        ({"nothing": True}, "Bad Request: can't parse reply keyboard markup JSON object"),
    ],
)
async def test_invalid_reply_markup_rejected(
    tg: BotAPIStandIn, bot: Bot, markup: dict[str, Any], description: str
) -> None:
    with pytest.raises(BadRequest):
        await bot.send_message(ADA.id, "x", api_kwargs={"reply_markup": json.dumps(markup)})
    assert tg.calls[-1].description == description


async def test_reply_keyboard_is_recorded(tg: BotAPIStandIn, bot: Bot) -> None:
    await bot.send_message(
        ADA.id, "Pick one", reply_markup=ReplyKeyboardMarkup([["1", "2"], ["3"]])
    )
    shown = tg.last_bot_message(ADA.id)
    assert shown is not None
    assert shown.reply_keyboard == [["1", "2"], ["3"]]
    assert shown.reply_markup is None


async def test_edit_errors_match_telegram(tg: BotAPIStandIn, bot: Bot) -> None:
    markup = keyboard([("Yes", "y")])
    sent = await bot.send_message(ADA.id, "Question", reply_markup=markup)

    with pytest.raises(BadRequest, match="^Message to edit not found$"):
        await bot.edit_message_text("x", ADA.id, 999)
    with pytest.raises(BadRequest, match="^Message is not modified"):
        await bot.edit_message_text("Question", ADA.id, sent.message_id, reply_markup=markup)
    assert tg.calls[-1].description == NOT_MODIFIED
    with pytest.raises(BadRequest, match="^Message is not modified"):
        await bot.edit_message_reply_markup(ADA.id, sent.message_id, reply_markup=markup)

    # Same text without reply_markup is a change: Telegram drops the keyboard.
    await bot.edit_message_text("Question", ADA.id, sent.message_id)
    shown = tg.last_bot_message(ADA.id)
    assert shown is not None and shown.reply_markup is None and shown.edit_count == 1

    user_message = tg.send_text(ADA, "mine")["message"]["message_id"]
    with pytest.raises(BadRequest, match="^Message can't be edited$"):
        await bot.edit_message_text("hijack", ADA.id, user_message)
    with pytest.raises(BadRequest, match="^Message to edit not found$"):
        await bot.edit_message_text("x", GRACE.id, sent.message_id)  # exists only in Ada's chat


async def test_answer_callback_query_unknown_or_twice(tg: BotAPIStandIn, bot: Bot) -> None:
    sent = await bot.send_message(ADA.id, "Q", reply_markup=keyboard([("A", "a")]))
    query_id = tg.press_button(ADA, sent.message_id, "a")
    with pytest.raises(BadRequest, match="^Query is too old"):
        await bot.answer_callback_query("123")
    await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match="^Query is too old"):
        await bot.answer_callback_query(query_id)
    assert tg.calls[-1].description == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )
    with pytest.raises(ValueError, match="no button"):
        tg.press_button(ADA, sent.message_id, "forged")
    forged = tg.press_button(ADA, sent.message_id, "forged", strict=False)
    assert forged != query_id


async def test_callback_query_expires_on_the_injected_clock() -> None:
    now = [0.0]
    async with BotAPIStandIn(clock=lambda: now[0]) as tg:
        tg.register_user(ADA)
        async with Bot(tg.token, base_url=tg.base_url) as bot:
            sent = await bot.send_message(ADA.id, "Q", reply_markup=keyboard([("A", "a")]))
            query_id = tg.press_button(ADA, sent.message_id, "a")
            now[0] += 15.5
            with pytest.raises(BadRequest, match="^Query is too old"):
                await bot.answer_callback_query(query_id)


async def test_delete_message(tg: BotAPIStandIn, bot: Bot) -> None:
    sent = await bot.send_message(ADA.id, "temporary")
    assert await bot.delete_message(ADA.id, sent.message_id)
    assert tg.messages(ADA.id)[-1].deleted
    assert tg.last_bot_message(ADA.id) is None
    with pytest.raises(BadRequest, match="^Message to delete not found$"):
        await bot.delete_message(ADA.id, sent.message_id)
    with pytest.raises(BadRequest, match="^Message to edit not found$"):
        await bot.edit_message_text("x", ADA.id, sent.message_id)

    group = group_chat(-42, "Practice")
    posted = tg.send_text(GRACE, "hi all", chat=group)["message"]["message_id"]
    with pytest.raises(BadRequest, match="^Message can't be deleted for everyone$"):
        await bot.delete_message(group.id, posted)


async def test_reply_parameters(tg: BotAPIStandIn, bot: Bot) -> None:
    asked = tg.send_text(ADA, "question?")["message"]["message_id"]
    answer = await bot.send_message(ADA.id, "answer", reply_to_message_id=asked)
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.message_id == asked
    with pytest.raises(BadRequest, match="^Message to be replied not found$"):
        await bot.send_message(ADA.id, "x", reply_to_message_id=999)


async def test_chat_action_commands_and_menu_button(tg: BotAPIStandIn, bot: Bot) -> None:
    assert await bot.send_chat_action(ADA.id, "typing")
    with pytest.raises(BadRequest, match="^Wrong parameter action in request$"):
        await bot.send_chat_action(ADA.id, "dancing")

    commands = [BotCommand("start", "Start"), BotCommand("checkin", "Check in now")]
    assert await bot.set_my_commands(commands)
    assert [c.command for c in await bot.get_my_commands()] == ["start", "checkin"]
    assert tg.commands() == [c.to_dict() for c in commands]
    assert await bot.set_my_commands([BotCommand("inicio", "Empezar")], language_code="es")
    assert [c.command for c in await bot.get_my_commands(language_code="es")] == ["inicio"]
    with pytest.raises(BadRequest, match="^Bot_command_invalid$"):
        await bot.set_my_commands([BotCommand("Check-In", "bad")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()

    assert await bot.set_chat_menu_button(ADA.id, MenuButtonCommands())
    assert tg.menu_button(ADA.id) == {"type": "commands"}
    assert await bot.close() and await bot.log_out()


# ----------------------------------------------------------------------------- files


async def test_send_photo_and_document_multipart(tg: BotAPIStandIn, bot: Bot) -> None:
    chart = png(640, 480)
    photo = await bot.send_photo(
        ADA.id, chart, caption="<b>Your alliance trend</b>", parse_mode="HTML", filename="trend.png"
    )
    assert (photo.photo[-1].width, photo.photo[-1].height) == (640, 480)
    assert photo.caption == "Your alliance trend"
    document = await bot.send_document(ADA.id, b"week,score\n1,5\n", filename="scores.csv")
    assert document.document is not None and document.document.file_name == "scores.csv"

    shown_photo, shown_document = tg.sent_to(ADA.id)
    assert shown_photo.kind == "photo" and shown_photo.photo == chart
    assert shown_photo.filename == "trend.png"
    assert shown_photo.caption == "Your alliance trend"
    assert shown_photo.caption_html == "<b>Your alliance trend</b>"
    assert shown_document.document == b"week,score\n1,5\n"
    assert shown_document.filename == "scores.csv"
    assert shown_document.mime_type == "text/csv"
    upload = tg.calls[-1].params["document"]
    assert upload.filename == "scores.csv" and upload.data == b"week,score\n1,5\n"

    again = await bot.send_photo(GRACE.id, photo.photo[-1].file_id)  # re-send by file_id
    assert again.photo[-1].file_id == photo.photo[-1].file_id
    with pytest.raises(BadRequest, match="^Can't use file of type document as photo$"):
        await bot.send_photo(GRACE.id, document.document.file_id)
    with pytest.raises(BadRequest, match="^Image_process_failed$"):
        await bot.send_photo(ADA.id, b"%PDF-1.4 definitely not an image")
    with pytest.raises(BadRequest, match="^Message caption is too long$"):
        await bot.send_photo(ADA.id, chart, caption="x" * 1025)
    with pytest.raises(BadRequest, match="^Wrong file identifier/http url specified$"):
        await bot.send_document(ADA.id, "no-such-file-id")


async def test_send_media_group(tg: BotAPIStandIn, bot: Bot) -> None:
    album = await bot.send_media_group(
        ADA.id, [InputMediaPhoto(png(10, 10), caption="one"), InputMediaPhoto(png(20, 20))]
    )
    assert [m.photo[-1].width for m in album] == [10, 20]
    assert album[0].media_group_id == album[1].media_group_id is not None
    assert [m.photo for m in tg.sent_to(ADA.id)] == [png(10, 10), png(20, 20)]


# ----------------------------------------------------------------------------- people's side


async def test_blocked_and_deactivated_users_are_forbidden(tg: BotAPIStandIn, bot: Bot) -> None:
    await bot.send_message(ADA.id, "before")
    tg.block_user(ADA.id)
    with pytest.raises(Forbidden, match="^Forbidden: bot was blocked by the user$"):
        await bot.send_message(ADA.id, "after")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(ADA.id, "typing")
    updates = await bot.get_updates()
    member = updates[-1].my_chat_member
    assert member is not None
    assert (member.old_chat_member.status, member.new_chat_member.status) == ("member", "kicked")

    tg.send_text(ADA, "/start")  # writing again unblocks, like Telegram's Restart button
    assert (await bot.send_message(ADA.id, "welcome back")).text == "welcome back"

    tg.deactivate_user(GRACE.id)
    with pytest.raises(Forbidden, match="^Forbidden: user is deactivated$"):
        await bot.send_message(GRACE.id, "hello")


# ----------------------------------------------------------------------------- faults


async def test_injected_errors(tg: BotAPIStandIn, bot: Bot) -> None:
    tg.fail_next("sendMessage", error_code=429, retry_after=7)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(ADA.id, "x")
    assert seconds(flood.value.retry_after) == 7
    assert tg.calls[-1].description == "Too Many Requests: retry after 7"

    tg.fail_next("sendMessage", error_code=500, chat_id=GRACE.id, count=2)
    assert (await bot.send_message(ADA.id, "other chat is fine")).text
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(GRACE.id, "x")
    assert (await bot.send_message(GRACE.id, "recovered")).text == "recovered"

    tg.fail_next("*", error_code=400, description="Bad Request: chat not found")
    with pytest.raises(BadRequest, match="^Chat not found$"):
        await bot.get_me()


async def test_dropped_connections(tg: BotAPIStandIn, bot: Bot) -> None:
    tg.drop_next(method="sendMessage")
    with pytest.raises(NetworkError):
        await bot.send_message(ADA.id, "lost")
    assert tg.sent_to(ADA.id) == []

    tg.drop_next(method="sendMessage", after_processing=True)
    with pytest.raises(NetworkError):
        await bot.send_message(ADA.id, "delivered, answer lost")
    assert [m.text for m in tg.sent_to(ADA.id)] == ["delivered, answer lost"]


async def test_stalled_request_times_out_but_still_lands(tg: BotAPIStandIn, bot: Bot) -> None:
    tg.stall_next(method="sendMessage")
    with pytest.raises(TimedOut):
        await bot.send_message(ADA.id, "slow", read_timeout=0.2)
    assert tg.sent_to(ADA.id) == []
    tg.release_stalled()
    landed = await tg.wait_for(lambda: tg.last_bot_message(ADA.id))
    assert landed.text == "slow"


# ----------------------------------------------------------------------------- flood limits


async def test_per_chat_rate_limit_on_injected_clock() -> None:
    now = [100.0]
    async with BotAPIStandIn(per_chat_rate=1.0, clock=lambda: now[0]) as tg:
        tg.register_user(ADA)
        tg.register_user(GRACE)
        async with Bot(tg.token, base_url=tg.base_url) as bot:
            first = await bot.send_message(ADA.id, "1")
            with pytest.raises(RetryAfter) as flood:
                await bot.send_message(ADA.id, "2")
            assert seconds(flood.value.retry_after) == 1
            call = tg.calls[-1]
            assert (call.error_code, call.retry_after) == (429, 1)
            assert call.description == "Too Many Requests: retry after 1"
            assert (await bot.send_message(GRACE.id, "another chat")).text
            with pytest.raises(RetryAfter):  # edits count against the chat's limit too
                await bot.edit_message_text("edited", ADA.id, first.message_id)
            assert await bot.send_chat_action(ADA.id, "typing")  # not a message

            now[0] += 0.5
            with pytest.raises(RetryAfter):
                await bot.send_message(ADA.id, "2")
            now[0] += 0.5
            assert (await bot.send_message(ADA.id, "2")).text == "2"
            assert tg.stats()["rate_limited"] == 3
            assert tg.stats()["too_many_requests_sent"] == 3


async def test_global_and_group_rate_limits_on_injected_clock() -> None:
    now = [0.0]
    async with BotAPIStandIn(global_rate=2.0, clock=lambda: now[0]) as tg:
        users = [FakeUser(i, f"U{i}") for i in range(1, 4)]
        for user in users:
            tg.register_user(user)
        async with Bot(tg.token, base_url=tg.base_url) as bot:
            await bot.send_message(1, "a")
            await bot.send_message(2, "b")
            with pytest.raises(RetryAfter):
                await bot.send_message(3, "c")
            now[0] += 1.0
            await bot.send_message(3, "c")

            group = group_chat(-7, "Group")
            tg.add_chat(group)
            tg.set_limits(global_rate=None, per_chat_rate=None, group_per_minute=20)
            for i in range(20):
                await bot.send_message(group.id, f"m{i}")
            with pytest.raises(RetryAfter) as flood:
                await bot.send_message(group.id, "21st within a minute")
            assert seconds(flood.value.retry_after) == 3  # one message every 3 s refills


# ----------------------------------------------------------------------------- getUpdates


async def test_get_updates_offset_limit_and_allowed_updates(tg: BotAPIStandIn, bot: Bot) -> None:
    ids = [tg.send_text(ADA, f"m{i}")["update_id"] for i in range(3)]
    first_two = await bot.get_updates(limit=2)
    assert [u.update_id for u in first_two] == ids[:2]
    assert tg.pending_updates() == 3  # fetched is not confirmed
    rest = await bot.get_updates(offset=ids[1] + 1)
    assert [u.update_id for u in rest] == ids[2:]
    assert tg.pending_updates() == 1

    sent = await bot.send_message(ADA.id, "Q", reply_markup=keyboard([("A", "a")]))
    tg.press_button(ADA, sent.message_id, "a")
    only_queries = await bot.get_updates(offset=ids[2] + 1, allowed_updates=["callback_query"])
    assert [u.callback_query is not None for u in only_queries] == [True]
    tg.send_text(ADA, "filtered out")
    tg.send_text(GRACE, "also filtered")
    assert await bot.get_updates(offset=only_queries[0].update_id + 1) == ()
    assert tg.pending_updates() == 0

    for i in range(3):
        tg.send_text(ADA, f"late {i}")
    newest = await bot.get_updates(offset=-1, allowed_updates=[])
    assert len(newest) == 1 and newest[0].message is not None
    assert newest[0].message.text == "late 2"
    assert tg.pending_updates() == 1


async def test_long_poll_waits_for_an_update(tg: BotAPIStandIn, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=dtm.timedelta(seconds=10)))
    await tg.wait_for(lambda: tg.polls_waiting == 1)
    assert not poll.done()
    update = tg.send_text(ADA, "wake up")
    updates = await poll
    assert [u.update_id for u in updates] == [update["update_id"]]

    empty = await bot.get_updates(offset=update["update_id"] + 1, timeout=dtm.timedelta(0))
    assert empty == ()
    assert tg.pending_updates() == 0


async def test_overlapping_polls_conflict(tg: BotAPIStandIn, bot: Bot) -> None:
    # Two bot instances with one token; one Bot alone cannot overlap (its pool has size 1).
    first = asyncio.create_task(bot.get_updates(timeout=dtm.timedelta(seconds=10)))
    await tg.wait_for(lambda: tg.polls_waiting == 1)
    async with Bot(tg.token, base_url=tg.base_url) as other_instance:
        second = asyncio.create_task(other_instance.get_updates(timeout=dtm.timedelta(seconds=10)))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await first
        await tg.wait_for(lambda: tg.polls_waiting == 1)
        tg.send_text(ADA, "for the survivor")
        assert len(await second) == 1


async def test_application_long_polling_end_to_end(tg: BotAPIStandIn) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            "How was the session?", reply_markup=keyboard([("Good", "good"), ("Hard", "hard")])
        )

    async def chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Noted")
        await query.edit_message_text(f"You chose {query.data}")

    app = Application.builder().token(tg.token).base_url(tg.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(chosen))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=dtm.timedelta(seconds=10))

        tg.send_command(ADA, "/start")
        question = await tg.wait_for(lambda: tg.last_bot_message(ADA.id))
        assert question.button_texts == ["Good", "Hard"]

        query_id = tg.press_button_text(ADA, question.message_id, "Hard")
        assert (await tg.wait_for(lambda: tg.callback_answers.get(query_id))).text == "Noted"
        edited = await tg.wait_for(
            lambda: m if (m := tg.last_bot_message(ADA.id)) and m.edit_count else None
        )
        assert edited.text == "You chose hard" and edited.reply_markup is None

        group = group_chat(-1001, "Practice team")
        tg.send_command(GRACE, "start", chat=group, mention=True)
        in_group = await tg.wait_for(lambda: tg.last_bot_message(group.id))
        assert in_group.text == "How was the session?"
        await tg.wait_until_consumed()

        await app.updater.stop()
        await app.stop()
    assert tg.pending_updates() == 0


# ----------------------------------------------------------------------------- webhook


async def test_webhook_delivery_with_secret_and_retry(tg: BotAPIStandIn, bot: Bot) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    statuses = [500]

    async def receive(request: web.Request) -> web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.Response(status=statuses.pop(0) if statuses else 200)

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    runner = web.AppRunner(receiver)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    tg.webhook_retry_delay = 60.0  # retries only when the test says so
    try:
        assert await bot.set_webhook(url, secret_token="s3cret_Token-1")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()

        update = tg.send_text(ADA, "via webhook")
        await tg.wait_for(lambda: tg.webhook_deliveries or None)
        assert tg.webhook_deliveries[0].status == 500
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 1
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )

        tg.retry_webhook_now()
        await tg.wait_for(lambda: tg.pending_updates() == 0)
        assert [body["update_id"] for body, _ in received] == [update["update_id"]] * 2
        assert {secret for _, secret in received} == {"s3cret_Token-1"}
        assert received[-1][0]["message"]["text"] == "via webhook"

        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.get_updates() == ()
    finally:
        await runner.cleanup()


# ----------------------------------------------------------------------------- transports


async def test_json_body_query_string_and_form(tg: BotAPIStandIn) -> None:
    url = f"{tg.base_url}{tg.token}"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with httpx.AsyncClient() as client:
        native = await client.post(
            f"{url}/sendMessage",
            json={
                "chat_id": ADA.id,
                "text": "<b>json</b>",
                "parse_mode": "HTML",
                "reply_markup": markup,
            },
        )
        assert native.status_code == 200
        assert native.json()["result"]["text"] == "json"
        assert native.json()["result"]["reply_markup"] == markup

        encoded = await client.post(
            f"{url}/sendMessage",
            json={"chat_id": str(ADA.id), "text": "strings", "reply_markup": json.dumps(markup)},
        )
        assert encoded.json()["ok"] is True

        query = await client.get(f"{url}/SENDMESSAGE", params={"chat_id": ADA.id, "text": "get"})
        assert query.json()["result"]["text"] == "get"

        form = await client.post(
            f"{url}/sendMessage", data={"chat_id": str(ADA.id), "text": "form"}
        )
        assert form.json()["result"]["text"] == "form"

        error = await client.post(f"{url}/sendMessage", json={"chat_id": ADA.id})
        assert error.status_code == 400
        assert error.json() == {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: message text is empty",
        }
    assert [m.text for m in tg.sent_to(ADA.id)] == ["json", "strings", "get", "form"]
    assert tg.calls[0].params["reply_markup"] == markup
    assert tg.calls[1].params["chat_id"] == ADA.id  # "101" decoded to an int


async def test_control_api(tg: BotAPIStandIn, bot: Bot) -> None:
    async with aiohttp.ClientSession(base_url=tg.url) as http:
        async with http.post(
            "/control/users/555/text", json={"text": "hi", "first_name": "Lin"}
        ) as r:
            update = (await r.json())["result"]
        assert update["message"]["from"]["first_name"] == "Lin"
        sent = await bot.send_message(555, "Q", reply_markup=keyboard([("Yes", "yes")]))
        async with http.post(
            "/control/users/555/press", json={"message_id": sent.message_id, "button_text": "Yes"}
        ) as r:
            assert (await r.json())["result"]["callback_query_id"]
        async with http.get("/control/chats/555/messages") as r:
            messages = (await r.json())["result"]
        assert [(m["from_bot"], m["text"]) for m in messages] == [(False, "hi"), (True, "Q")]
        assert messages[1]["reply_markup"] == [[["Yes", "yes"]]]

        async with http.post(
            "/control/faults",
            json={
                "method": "sendMessage",
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
        ) as r:
            assert r.status == 200
        with pytest.raises(Forbidden):
            await bot.send_message(555, "x")
        async with http.post(
            "/control/limits", json={"global_rate": None, "per_chat_rate": 5}
        ) as r:
            assert r.status == 200
        async with http.get("/control/calls", params={"since": "1"}) as r:
            calls = (await r.json())["result"]
        assert [c["method"] for c in calls] == ["sendMessage", "sendMessage"]
        assert calls[-1]["error_code"] == 403
        async with http.get("/control/stats") as r:
            stats = (await r.json())["result"]
        assert stats["by_method"]["sendMessage"] == 2
        assert stats["errors"] == {"403": 1}
        assert stats["updates_pending"] == 2
        async with http.post("/control/users/x/text", json={"text": "bad id"}) as r:
            assert r.status == 400


# ----------------------------------------------------------------------------- waiting


async def test_wait_for_call_and_mark(tg: BotAPIStandIn, bot: Bot) -> None:
    mark = tg.mark()
    await bot.send_message(ADA.id, "one")
    call = await tg.wait_for_call("sendMessage", chat_id=ADA.id, after=mark)
    assert call.index == mark and call.ok and call.params["text"] == "one"
    assert call.result["text"] == "one"


async def test_wait_for_timeout_reports_recent_calls_without_texts(
    tg: BotAPIStandIn, bot: Bot
) -> None:
    await bot.send_message(ADA.id, "private therapy note")
    with pytest.raises(BadRequest):
        await bot.send_message(999, "another note")
    with pytest.raises(AssertionError) as failure:
        await tg.wait_for(lambda: None, timeout=0.05)
    report = str(failure.value)
    assert "sendMessage chat=101 -> ok" in report
    assert "sendMessage chat=999 -> 400 Bad Request: chat not found" in report
    assert "note" not in report
