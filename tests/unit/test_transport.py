"""bot/transport.py rests on python-telegram-bot's public API only, and behaves as PTB's own.

If a release of python-telegram-bot changes BaseRequest (a new abstract method, another
way of passing timeouts), these tests fail, rather than the bot at a practice.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from telegram import Bot, InputFile, Update
from telegram.error import Forbidden, TimedOut
from telegram.request import BaseRequest

from bot.offline.standin import BotAPIStandIn, FakeUser
from bot.transport import AiohttpRequest, UpdatesRequest

ROOT = Path(__file__).resolve().parents[2]
ADA = FakeUser(101, "Ada")


def _telegram_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "telegram"}


def test_no_module_of_the_bot_imports_a_private_telegram_module() -> None:
    """telegram._utils and friends may change in any release; the bot never imports them."""
    private = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "bot").rglob("*.py")
        for name in _telegram_imports(path)
        if any(part.startswith("_") for part in name.split("."))
    }
    assert not private


def test_base_request_still_asks_for_exactly_what_the_transport_implements() -> None:
    """The public extension point: these four abstract members, nothing new."""
    assert set(BaseRequest.__abstractmethods__) == {
        "do_request",
        "initialize",
        "read_timeout",
        "shutdown",
    }
    assert not AiohttpRequest.__abstractmethods__


async def test_a_round_trip_through_the_stand_in_with_text_files_and_errors() -> None:
    """getMe, a message, a document (multipart), an error mapped by PTB, and a timeout."""
    async with BotAPIStandIn() as standin:
        standin.register_user(ADA)
        request = AiohttpRequest(connection_pool_size=4, read_timeout=5)
        async with Bot(standin.token, base_url=standin.base_url, request=request) as bot:
            me = await bot.get_me()
            assert me.username == standin.bot_username
            sent = await bot.send_message(ADA.id, "<b>hello</b>", parse_mode="HTML")
            assert sent.text == "hello"
            document = await bot.send_document(
                ADA.id, InputFile(b"a,b\n1,2\n", filename="x.csv"), caption="csv"
            )
            assert document.document is not None
            assert standin.sent_to(ADA.id)[-1].document == b"a,b\n1,2\n"
            standin.block_user(ADA.id, notify=False)
            with pytest.raises(Forbidden):
                await bot.send_message(ADA.id, "blocked")
            standin.unblock_user(ADA.id, notify=False)
            # An explicit timeout is honoured (PTB passes it as a number) ...
            standin.stall_next(method="sendMessage", seconds=2)
            with pytest.raises(TimedOut):
                await bot.send_message(ADA.id, "slow", read_timeout=0.2)
            # ... and "not given" falls back to the transport's own default.
            assert request.read_timeout == 5
            assert (await bot.send_message(ADA.id, "fine")).text == "fine"


async def test_the_updates_transport_keeps_each_update_as_telegram_sent_it() -> None:
    """The polling inbox stores these: the very JSON of each update in the latest batch,
    which reads back into the update python-telegram-bot parsed from it."""
    async with BotAPIStandIn() as standin:
        standin.register_user(ADA)
        standin.send_text(ADA, "first")
        standin.send_text(ADA, "second")
        request = UpdatesRequest(connection_pool_size=2)
        async with Bot(
            standin.token, base_url=standin.base_url, get_updates_request=request
        ) as bot:
            updates = await bot.get_updates(timeout=0)
            assert [u.message.text for u in updates if u.message] == ["first", "second"]
            for update in updates:
                raw = request.received(update.update_id)
                assert raw is not None
                assert raw["update_id"] == update.update_id
                # Telegram's own field names ("from"), not python-telegram-bot's ("from_user").
                assert raw["message"]["from"]["id"] == ADA.id
                again = Update.de_json(raw, bot)
                assert again.to_dict() == update.to_dict()
            # The next batch replaces the last; an id not in it is not found.
            assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
            assert request.received(updates[0].update_id) is None
