"""Migration 0006_alias_reuse: an alias given again and a person with two records are
allowed at head; going back below it refuses plainly while such rows exist, and puts both
unique constraints back once they are gone (on every engine)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from storage.db import make_engine
from storage.migrate import current_revision, downgrade, upgrade
from storage.types import UTCDateTime

WHEN = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
BEFORE = "0005_update_inbox"
AT_OR_ABOVE_0006 = (
    "0006_alias_reuse",
    "0007_therapist_deactivated",
    "0008_answer_changes",
    "0009_conversation_loop",
)
THERAPIST = (
    "INSERT INTO therapist (id, telegram_user_id, chat_id, name, locale, locale_chosen, "
    "timezone, digest_weekday, digest_time, rates_sessions, created_at) VALUES "
    "(1, 1, 1, 'Dr. Invented', 'en', false, 'UTC', 0, '08:00', false, :when)"
)
CLIENT = (
    "INSERT INTO client (id, therapist_id, alias, alias_key, telegram_user_id, status, locale, "
    "locale_chosen, timezone, created_at) VALUES "
    "(:id, 1, :alias, :key, :user, :status, 'en', false, 'UTC', :when)"
)


async def _run(url: str, *statements: tuple[str, dict[str, object]]) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            for sql, params in statements:
                statement = sa.text(sql)
                if "when" in params:  # stored as each engine stores times (storage.types)
                    statement = statement.bindparams(sa.bindparam("when", type_=UTCDateTime()))
                await connection.execute(statement, params)
    finally:
        await engine.dispose()


def _client(id_: int, key: str, user: int | None, status: str) -> tuple[str, dict[str, object]]:
    return CLIENT, {
        "id": id_, "alias": "alex", "key": key, "user": user, "status": status, "when": WHEN,
    }  # fmt: skip


async def test_reused_aliases_are_allowed_at_head_and_block_a_downgrade(database_url: str) -> None:
    """Rows only this revision allows stop a downgrade with a plain message, not a failure
    half-way; without them the constraints come back; upgrading again allows them again."""
    await _run(
        database_url,
        (THERAPIST, {"when": WHEN}),
        _client(1, "alex~2026-05-30", 77, "stopped"),  # the former alex
        _client(2, "alex", 88, "active"),  # a new person under the alias
        _client(3, "sam", 77, "active"),  # the former alex, now under another alias
    )
    with pytest.raises(RuntimeError, match="given to a new person"):
        await asyncio.to_thread(downgrade, database_url, BEFORE)
    # Stopped at 0006 or before the later steps (PostgreSQL rolls the whole downgrade back).
    assert await current_revision(database_url) in AT_OR_ABOVE_0006

    await _run(database_url, ("DELETE FROM client WHERE id IN (1, 3)", {}))
    await asyncio.to_thread(downgrade, database_url, BEFORE)
    assert await current_revision(database_url) == BEFORE
    for duplicate in (_client(4, "alex~x", 99, "stopped"), _client(5, "other", 88, "stopped")):
        with pytest.raises(IntegrityError):
            await _run(database_url, duplicate)
    await asyncio.to_thread(upgrade, database_url)
    await _run(database_url, _client(6, "alex~2026-06-01", 88, "stopped"))
