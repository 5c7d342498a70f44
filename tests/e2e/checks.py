"""What stories check besides messages: the whole database, rows of a table, outbox states."""

from __future__ import annotations

import html
import re
from typing import Any, TypeVar

from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

from bot.offline.testbed import Testbed
from storage.models import OutboxMessage

T = TypeVar("T", bound=SQLModel)

# Every handled update leaves its id behind (that is how a redelivery is recognised);
# it says nothing about the state a press or command is allowed to change.
BOOKKEEPING = ("processed_update", "update_inbox", "health_probe")


async def db_snapshot(bed: Testbed, *, skip: tuple[str, ...] = BOOKKEEPING) -> dict[str, Any]:
    """Every row of every table, as plain tuples, for before/after comparisons."""
    snapshot: dict[str, Any] = {}
    async with bed.services.db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in skip:
                continue
            connection = await session.connection()
            result = await connection.execute(sa_select(table))
            snapshot[table.name] = sorted(tuple(row) for row in result.all())
    return snapshot


async def rows(bed: Testbed, model: type[T]) -> list[T]:
    """All rows of one table."""
    async with bed.services.db.session() as session:
        return list((await session.exec(select(model))).all())


async def outbox_states(bed: Testbed, kind: str | None = None) -> list[str]:
    """Statuses of outbox rows (optionally of one kind), oldest first."""
    found = sorted(await rows(bed, OutboxMessage), key=lambda row: row.id or 0)
    return [row.status for row in found if kind is None or row.kind == kind]


def sends_to(bed: Testbed, chat_id: int, method: str = "sendMessage") -> int:
    """How many times the bot called a sending method for one chat (answered or not)."""
    return sum(
        1
        for call in bed.standin.calls
        if call.method == method and str(call.params.get("chat_id")) == str(chat_id)
    )


def shown(bed: Testbed, key: str, locale: str = "en", **context: Any) -> str:
    """A template as the person sees it in Telegram (tags gone, entities decoded)."""
    rendered = bed.services.texts.render(locale, key, **context)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


async def drain(bed: Testbed, rounds: int = 10) -> int:
    """Run the dispatcher until nothing more goes out (each chat gets its messages in order,
    one per round); returns how many were sent."""
    total = 0
    for _ in range(rounds):
        sent = (await bed.tick()).sent
        if not sent:
            return total
        total += sent
    raise AssertionError(f"the outbox was still sending after {rounds} rounds")
