"""The encryption canary: a marker typed by a client never appears in plain text in the
database (SQLite file and WAL, every row on PostgreSQL), in the logs at DEBUG, or in a
traceback — though it is stored (encrypted) and delivered where it should be."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select
from story import answer_checkin, enrolled_client, enrolled_therapist

from bot.cli import configure_logging
from bot.offline.testbed import Testbed
from storage.crypto import Cipher, answer_text_context
from storage.db import is_sqlite
from storage.models import Answer, CheckIn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MARKER = "CANARY-7q2-quokka-lantern"
# The local Bot API stand-in is the test's Telegram, not the bot: its logs may show texts.
NOT_THE_BOT = ("bot.offline.standin", "aiohttp")


@pytest.fixture
def debug_logging(bed: Testbed, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture everything at DEBUG under the bot's own logging policy, then restore it."""
    names = ["", "telegram", "httpx", "httpcore", "apscheduler", "aiohttp.access", "hpack"]
    saved = {name: logging.getLogger(name).level for name in names}
    caplog.set_level(logging.DEBUG)
    configure_logging(bed.settings().model_copy(update={"log_level": "DEBUG"}))
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


class _FailingOnce:
    """The bot's cipher, except that encrypting the marker fails once: a forced traceback
    while the marker is in the handler's hands."""

    def __init__(self, inner: Cipher) -> None:
        self.inner = inner
        self.armed = True

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        if self.armed and MARKER in plaintext:
            self.armed = False
            raise RuntimeError("forced failure for the canary test")
        return self.inner.encrypt(plaintext, context=context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _plain_hits(value: Any) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return MARKER.encode() in data or MARKER.encode("utf-16-le") in data
    return value is not None and MARKER in str(value)


async def _rows_with_marker(bed: Testbed) -> list[str]:
    found = []
    async with bed.services.db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in await connection.execute(sa_select(table)):
                if any(_plain_hits(value) for value in row):
                    found.append(table.name)
    return found


@pytest.mark.usefixtures("debug_logging")
async def test_the_marker_never_appears_in_plain_text(
    bed: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """Comment, risky message, edit, /mydata and a forced failure all carry the marker."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("session", "alex")
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No")

    healthy = bed.services.cipher
    bed.services.cipher = _FailingOnce(healthy)  # type: ignore[assignment]
    await alex.says(f"first try: {MARKER}")  # fails inside the handler: a traceback is logged
    assert "Traceback" in caplog.text and "RuntimeError" in caplog.text
    await alex.says(f"the pace felt rushed {MARKER}")  # stored as the comment
    await alex.says(f"I want to kill myself {MARKER}")  # a risk alert quoting it
    await alex.says("all fine")
    sent = [m for m in bed.standin.messages(alex.chat_id) if not m.from_bot][-1]
    update = bed.standin.edit_text(alex.user, sent.message_id, f"edited {MARKER}")
    await bed.settled(update["update_id"])
    await alex.command("mydata")
    await bed.tick()
    bed.services.cipher = healthy

    # It went where it should: the therapist's alert, the client's own export.
    assert MARKER in therapist.last_text() or any(
        MARKER in (m.text or "") for m in therapist.messages()
    )
    export = next(m for m in reversed(alex.messages()) if m.kind == "document")
    assert MARKER.encode() in (export.document or b"")
    async with bed.services.db.session() as session:
        answer, client_id = (
            await session.exec(
                select(Answer, CheckIn.client_id).join(CheckIn).where(Answer.item_id == "comment")
            )
        ).one()
    context = answer_text_context(answer.checkin_id, client_id, "comment")
    assert MARKER in healthy.decrypt(answer.text_ciphertext or b"", context=context)

    # …and nowhere in plain text.
    assert await _rows_with_marker(bed) == []
    if is_sqlite(bed.database_url):
        path = Path(bed.database_url.removeprefix("sqlite+aiosqlite:///"))
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if file.exists():
                assert not _plain_hits(file.read_bytes()), file.name
    bot_records = [r for r in caplog.records if not r.name.startswith(NOT_THE_BOT)]
    assert bot_records, "the bot logged something to check"
    for record in bot_records:
        text = record.getMessage() + (caplog.handler.format(record) if record.exc_info else "")
        assert MARKER not in text, record.name
