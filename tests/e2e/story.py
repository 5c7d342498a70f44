"""People in a story: a therapist or client who types, taps and reads, through the stand-in.

Every action injects an update into the Bot API stand-in and waits until the real
Application has completely handled it (Testbed.settled), so assertions never race
the bot and no test sleeps.
"""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import Any

from bot.offline.standin.models import ChatMessage, FakeChat, FakeUser
from bot.offline.testbed import Testbed, running_testbed

_ids = count(10_000_001)
LINK = re.compile(r"https://t\.me/(\w+)\?start=([A-Za-z0-9_-]+)")

# Telegram's pace (about one message a second per chat, 30 a second overall) is the
# outbox's business, tested there (tests/reliability/test_outbox.py) and in the core loop's
# stories (tests/e2e/test_core_loop.py asks for the real pace). Every other story runs at
# this pace, since at the real one it would mostly wait: a story that enrols five clients
# of one therapist took 9 s at the real pace, 1 s at this one.
FAST_PACE: dict[str, Any] = {
    "send_rate_per_chat": 30,
    "send_burst_per_chat": 20,
    "send_rate_global": 1000,
}


def story_testbed(
    database_url: str, start: datetime, **settings: Any
) -> AbstractAsyncContextManager[Testbed]:
    """A started testbed at the fast pace (settings given here win), stopped afterwards."""
    return running_testbed(database_url, start, **(FAST_PACE | settings))


@dataclass
class Person:
    """A Telegram user acting in a story."""

    bed: Testbed
    user: FakeUser
    answers: list[str] = field(default_factory=list)

    @property
    def chat_id(self) -> int:
        """Their private chat with the bot."""
        return self.user.id

    async def says(self, text: str, *, chat: FakeChat | None = None) -> None:
        """Type a message."""
        update = self.bed.standin.send_text(self.user, text, chat=chat)
        await self.bed.settled(update["update_id"])

    async def command(self, name: str, *args: str, chat: FakeChat | None = None) -> None:
        """Send /name args…"""
        update = self.bed.standin.send_command(self.user, name, " ".join(args) or None, chat=chat)
        await self.bed.settled(update["update_id"])

    async def press(self, button_text: str, message: ChatMessage | None = None) -> str:
        """Tap the button starting with this text (default message: the newest with buttons)."""
        target = message or self.message_with_buttons()
        data = self.bed.standin.find_button(self.chat_id, target.message_id, button_text)
        return await self.press_data(target.message_id, data)

    async def press_data(self, message_id: int, data: str, *, strict: bool = True) -> str:
        """Tap a button by its callback data (strict=False forges data the message never had)."""
        update = self.bed.standin.press(self.user, message_id, data, strict=strict)
        await self.bed.settled(update["update_id"])
        query_id = update["callback_query"]["id"]
        answer = self.bed.standin.callback_answers.get(query_id)
        assert answer is not None, "every button press must be answered"
        text = answer.text or ""
        self.answers.append(text)
        return text

    def messages(self) -> list[ChatMessage]:
        """What the bot has shown in this chat, oldest first."""
        return [m for m in self.bed.standin.sent_to(self.chat_id) if not m.deleted]

    def last(self) -> ChatMessage:
        """The bot's newest message here."""
        message = self.bed.standin.last_bot_message(self.chat_id)
        assert message is not None, "the bot has not written here"
        return message

    def last_text(self) -> str:
        """Plain text of the bot's newest message."""
        return self.last().text or self.last().caption or ""

    def message_with_buttons(self) -> ChatMessage:
        """The newest bot message that shows buttons."""
        for message in reversed(self.messages()):
            if message.reply_markup:
                return message
        raise AssertionError("no message with buttons")

    def link_token(self) -> str:
        """The start token from the newest deep link the bot sent here."""
        for message in reversed(self.messages()):
            match = LINK.search(message.text or "")
            if match:
                return match.group(2)
        raise AssertionError("no deep link in this chat")


def new_person(bed: Testbed, first_name: str, language: str = "en") -> Person:
    """A fresh invented Telegram user."""
    return Person(bed, FakeUser(id=next(_ids), first_name=first_name, language_code=language))


async def enrolled_therapist(bed: Testbed, name: str = "Dr. Ada Example") -> Person:
    """A therapist who followed an admin's invitation link."""
    from bot.practice.enrolment import create_therapist_invitation

    token = await create_therapist_invitation(bed.services, name)
    therapist = new_person(bed, name.split()[-1])
    await therapist.command("start", token)
    assert "registered" in therapist.last_text()
    return therapist


async def enrolled_client(
    bed: Testbed, therapist: Person, alias: str, language: str = "en"
) -> Person:
    """A client invited by the therapist who agreed to take part."""
    await therapist.command("invite", alias)
    token = therapist.link_token()
    client = new_person(bed, alias.capitalize(), language)
    await client.command("start", token)
    await client.press("✅")
    return client


async def answer_checkin(client: Person, *choices: str) -> None:
    """Answer the open check-in button by button (texts as shown, e.g. "4", "No", "Skip")."""
    for choice in choices:
        await client.press(choice)
