"""`alliance-checkin rotate-keys`: re-encrypt every stored text under the newest key.

Key rotation, step by step (also in docs/privacy.md):

1. ``alliance-checkin generate-key`` and put the new key *first* in ENCRYPTION_KEYS,
   keeping the old ones after it; restart every worker (new text now uses the new
   key; a worker still without it leaves messages under it to workers that have it).
2. ``alliance-checkin rotate-keys`` re-encrypts what is stored under older keys, in
   batches, each in its own transaction, while the bot keeps running.
3. When it reports nothing unreadable, remove the old keys from ENCRYPTION_KEYS.

Every token is authenticated before it is re-encrypted, so a tampered or misplaced
value is reported, never laundered into a valid one. A row is updated only if it still
holds the token that was read (compare-and-set), so a concurrent change by the running
bot is never overwritten. Running it again finds everything current and changes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.settings import ConfigError, Settings
from storage import audit
from storage.crypto import (
    Cipher,
    DecryptionError,
    KeyConfigError,
    answer_text_context,
    outbox_payload_context,
)
from storage.db import Database
from storage.models import Answer, CheckIn, OutboxMessage
from storage.states import IN_HAND

DEFAULT_BATCH = 500


@dataclass
class ColumnReport:
    """What rotation did to one encrypted column."""

    reencrypted: int = 0
    current: int = 0
    changed_meanwhile: int = 0
    unreadable: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        """Tokens that could not be decrypted with any configured key."""
        return sum(self.unreadable.values())


@dataclass
class RotationReport:
    """Counts per encrypted column, and the key everything was moved to."""

    key_id: str
    columns: dict[str, ColumnReport]
    # Outbox messages running workers had in hand when rotation started.
    held_by_workers: int = 0

    @property
    def failed(self) -> int:
        """Unreadable tokens over all columns."""
        return sum(c.failed for c in self.columns.values())

    def lines(self) -> list[str]:
        """The report for the command line: one line per column, then the verdict."""
        out = [f"newest key: {self.key_id}"]
        if self.held_by_workers:
            out.append(
                f"Warning: running workers held {self.held_by_workers} outbox message(s) "
                "while this ran. Every running worker needs the newest key in "
                "ENCRYPTION_KEYS (restart them first): a worker without it cannot send what "
                "was moved to it and leaves it to a worker that has the key."
            )
        for name, report in self.columns.items():
            line = f"{name}: {report.reencrypted} re-encrypted, {report.current} already current"
            if report.changed_meanwhile:
                line += f", {report.changed_meanwhile} changed meanwhile (already new)"
            if report.failed:
                reasons = ", ".join(f"{n} {r}" for r, n in sorted(report.unreadable.items()))
                line += f", {report.failed} unreadable ({reasons})"
            out.append(line)
        if self.failed:
            out.append(
                "Some values could not be decrypted with the configured keys: keep every "
                "old key in ENCRYPTION_KEYS until this is resolved (a dropped key, or a "
                "value altered in the database)."
            )
        else:
            out.append(
                "All stored text is under the newest key; older keys can be removed from "
                "ENCRYPTION_KEYS."
            )
        return out


# One page of an encrypted column: (row id, token, what the token is bound to), by id.
Page = Callable[[AsyncSession, int, int], Awaitable[list[tuple[int, bytes, str]]]]


async def _answer_page(
    session: AsyncSession, after: int, size: int
) -> list[tuple[int, bytes, str]]:
    rows = await session.exec(
        select(Answer, CheckIn.client_id)
        .join(CheckIn, col(CheckIn.id) == col(Answer.checkin_id))
        .where(col(Answer.text_ciphertext).is_not(None))
        .where(col(Answer.id) > after)
        .order_by(col(Answer.id))
        .limit(size)
    )
    return [
        (
            answer.id or 0,
            bytes(answer.text_ciphertext or b""),
            answer_text_context(answer.checkin_id, client_id, answer.item_id),
        )
        for answer, client_id in rows
    ]


async def _outbox_page(
    session: AsyncSession, after: int, size: int
) -> list[tuple[int, bytes, str]]:
    rows = await session.exec(
        select(OutboxMessage.id, OutboxMessage.dedupe_key, OutboxMessage.payload_ciphertext)
        # Delivered messages had their text wiped (bot.privacy.retention): nothing to do.
        .where(func.length(col(OutboxMessage.payload_ciphertext)) > 0)
        .where(col(OutboxMessage.id) > after)
        .order_by(col(OutboxMessage.id))
        .limit(size)
    )
    return [
        (row_id or 0, bytes(token), outbox_payload_context(dedupe_key))
        for row_id, dedupe_key, token in rows
    ]


async def _rotate_column(
    db: Database,
    cipher: Cipher,
    batch: int,
    report: ColumnReport,
    *,
    page: Page,
    table: type[SQLModel],
    row_id: Any,
    token: Any,
) -> None:
    """Re-encrypt one column page by page; each row is written only if its token is still
    the one read (a row changed meanwhile already carries a new token)."""
    last = 0
    while True:
        async with db.session() as session:
            rows = await page(session, last, batch)
            if not rows:
                return
            for found, old, context in rows:
                last = found
                try:
                    new = cipher.reencrypt(old, context=context)
                except DecryptionError as exc:
                    report.unreadable[exc.reason] += 1
                    continue
                if new == old:
                    report.current += 1
                    continue
                result = await session.exec(
                    update(table).where(row_id == found).where(token == old).values({token: new})
                )
                if result.rowcount == 1:
                    report.reencrypted += 1
                else:
                    report.changed_meanwhile += 1


async def held_by_workers(db: Database, now: datetime) -> int:
    """Outbox messages running workers have in hand now (claimed or being sent)."""
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(col(OutboxMessage.status).in_(IN_HAND))
            .where(col(OutboxMessage.lease_until) > now)
        )
    return int(count or 0)


# Every column that holds a ciphertext at rest (the inbox's payloads live only until the
# update is handled and are not rotated): its name, its pages, its table, id and token.
ENCRYPTED_COLUMNS: tuple[tuple[str, Page, type[SQLModel], Any, Any], ...] = (
    (
        "answer.text_ciphertext",
        _answer_page,
        Answer,
        col(Answer.id),
        col(Answer.text_ciphertext),
    ),
    (
        "outbox.payload_ciphertext",
        _outbox_page,
        OutboxMessage,
        col(OutboxMessage.id),
        col(OutboxMessage.payload_ciphertext),
    ),
)


async def rotate(
    db: Database, cipher: Cipher, *, batch_size: int = DEFAULT_BATCH, now: datetime | None = None
) -> RotationReport:
    """Re-encrypt every stored text under the cipher's newest key; safe to run again."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    report = RotationReport(
        key_id=cipher.current_key_id,
        columns={name: ColumnReport() for name, *_ in ENCRYPTED_COLUMNS},
        held_by_workers=await held_by_workers(db, now or datetime.now(UTC)),
    )
    for name, page, table, row_id, token in ENCRYPTED_COLUMNS:
        await _rotate_column(
            db,
            cipher,
            batch_size,
            report.columns[name],
            page=page,
            table=table,
            row_id=row_id,
            token=token,
        )
    return report


async def _run(settings: Settings, cipher: Cipher, batch_size: int) -> RotationReport:
    from bot.clock import SystemClock

    db = Database(settings.database_url)
    try:
        report = await rotate(db, cipher, batch_size=batch_size)
        moved = sum(c.reencrypted for c in report.columns.values())
        await audit.write(
            db,
            at=SystemClock().now(),
            actor_kind="admin",
            actor_id=None,
            action="rotate_keys",
            detail=audit.counts(reencrypted=moved, unreadable=report.failed),
        )
        return report
    finally:
        await db.dispose()


def cmd_rotate_keys(settings: Settings, batch_size: int) -> int:
    """The CLI command: migrate, rotate, print the report; exit 1 if anything was unreadable."""
    from storage.migrate import upgrade

    try:
        cipher = Cipher.from_setting(settings.require_encryption_keys())
    except KeyConfigError as exc:
        raise ConfigError(str(exc)) from None
    if batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")
    upgrade(settings.database_url)
    report = asyncio.run(_run(settings, cipher, batch_size))
    print("\n".join(report.lines()))
    return 1 if report.failed else 0
