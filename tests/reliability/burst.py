"""A burst of updates in one polled batch, and a count of what the bot did with each.

Shared by tests/reliability/test_update_inbox.py and bench/crash_updates.py. One client
writes fifteen quick messages and then a risk statement; another writes six and then
answers a question; others tap an answer or type their note. Each update has one
visible effect, so what was handled (and what twice) is read off the stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import select

from bot.offline.standin import BotAPIStandIn, FakeUser
from storage.db import Database
from storage.models import Answer, CheckIn, Client

RISK = "I have the pills ready, I want to end my life"
CRISIS_MARK = "nobody reads this chat in real time"
USE_BUTTONS = "I can only take answers from the buttons"
NOTE_SAVED = "your note is saved for your therapist"
STRAY = 15
BUSY_STRAY = 6


@dataclass
class Burst:
    """Who sent what: the update ids, and the taps made."""

    crisis: int
    busy: int
    tappers: list[int]
    writers: list[int]
    therapist: int
    update_ids: list[int] = field(default_factory=list)
    query_ids: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Updates in the burst."""
        return len(self.update_ids)


@dataclass
class Tally:
    """Updates of the burst with their effect seen, and effects seen more than once."""

    handled: int
    duplicates: int
    crisis_replies: int
    alerts: int

    def complete(self, burst: Burst) -> bool:
        """Every update handled and the therapist alerted."""
        return self.handled == burst.size and self.alerts >= 1


async def at_the_note(database_url: str, chats: list[int]) -> None:
    """Skip every question of these clients' check-ins, so the note is what is asked."""
    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            for chat in chats:
                client = (
                    await session.exec(select(Client).where(Client.telegram_user_id == chat))
                ).one()
                checkin = (
                    await session.exec(select(CheckIn).where(CheckIn.client_id == client.id))
                ).one()
                for item in checkin.item_ids():
                    if item != "comment":
                        session.add(
                            Answer(
                                checkin_id=checkin.id or 0,
                                item_id=item,
                                value=None,
                                skipped=True,
                                answered_at=now,
                            )
                        )
    finally:
        await db.dispose()


def replies(standin: BotAPIStandIn, chat: int, text: str) -> int:
    """How many of the bot's messages in the chat contain this text."""
    return sum(text in (m.text or "") for m in standin.sent_to(chat))


def therapist_texts(standin: BotAPIStandIn, chat: int) -> str:
    """Everything the therapist received, as one text."""
    return "\n".join(m.text or "" for m in standin.sent_to(chat))


def send_burst(standin: BotAPIStandIn, burst: Burst) -> None:
    """Everything at once, so the bot fetches it in one batch."""

    def user(chat: int) -> FakeUser:
        return FakeUser(id=chat, first_name=f"Client{chat}")

    def tap(chat: int) -> None:
        message = next(m for m in reversed(standin.sent_to(chat)) if m.reply_markup)
        data = message.reply_markup[0][0].data if message.reply_markup else None
        assert data is not None
        update = standin.press(user(chat), message.message_id, data)
        burst.update_ids.append(update["update_id"])
        burst.query_ids.append(update["callback_query"]["id"])

    for n in range(STRAY):
        burst.update_ids.append(
            standin.send_text(user(burst.crisis), f"quick message {n}")["update_id"]
        )
    burst.update_ids.append(standin.send_text(user(burst.crisis), RISK)["update_id"])
    for n in range(BUSY_STRAY):
        text = f"another quick message {n}"
        burst.update_ids.append(standin.send_text(user(burst.busy), text)["update_id"])
    tap(burst.busy)
    for chat in burst.tappers:
        tap(chat)
    for chat in burst.writers:
        text = f"an invented note from {chat}"
        burst.update_ids.append(standin.send_text(user(chat), text)["update_id"])


def tally(standin: BotAPIStandIn, burst: Burst) -> Tally:
    """What the stand-in shows of the burst: each update's effect, counted."""
    seen: list[tuple[int, int]] = [  # (effects seen, effects expected)
        (replies(standin, burst.crisis, USE_BUTTONS), STRAY),
        (replies(standin, burst.crisis, CRISIS_MARK), 1),
        (replies(standin, burst.busy, USE_BUTTONS), BUSY_STRAY),
    ]
    answers = standin.callback_answers
    seen += [(int(q in answers), 1) for q in burst.query_ids]
    seen += [(replies(standin, c, NOTE_SAVED), 1) for c in burst.writers]
    alerts = therapist_texts(standin, burst.therapist).count(RISK)
    seen.append((alerts, 1))  # the alert is the risk statement's second effect
    handled = sum(min(got, want) for got, want in seen) - min(alerts, 1)
    duplicates = sum(max(got - want, 0) for got, want in seen)
    return Tally(handled, duplicates, replies(standin, burst.crisis, CRISIS_MARK), alerts)
