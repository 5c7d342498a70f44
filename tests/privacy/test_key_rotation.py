"""Key rotation and row binding: `alliance-checkin rotate-keys` moves every stored text to the
newest key, can run again without effect, and never launders a value moved to another row."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.cli import main
from bot.privacy.keys import rotate
from bot.sending import outbox
from storage.crypto import (
    Cipher,
    DecryptionError,
    answer_text_context,
    generate_key,
    outbox_payload_context,
    parse_keys,
)
from storage.db import Database
from storage.models import (
    Answer,
    CheckIn,
    Client,
    OutboxMessage,
    Therapist,
    TherapySession,
    alias_key,
)

NOW = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
OLD, NEW = generate_key(), generate_key()


async def _store(db: Database, cipher: Cipher) -> dict[str, int]:
    """Two clients with a comment each, and one queued message, all under ``cipher``."""
    ids: dict[str, int] = {}
    async with db.session() as session:
        therapist = Therapist(telegram_user_id=1, chat_id=1, name="Ada", created_at=NOW)
        session.add(therapist)
        await session.flush()
        for alias in ("alex", "sam"):
            client = Client(
                therapist_id=therapist.id or 0,
                alias=alias,
                alias_key=alias_key(alias),
                created_at=NOW,
            )
            session.add(client)
            await session.flush()
            meeting = TherapySession(client_id=client.id or 0, ended_at=NOW, created_at=NOW)
            session.add(meeting)
            await session.flush()
            checkin = CheckIn(
                client_id=client.id or 0,
                session_id=meeting.id or 0,
                instrument_id="alliance-default",
                sequence=1,
                items="comment",
                due_at=NOW,
            )
            session.add(checkin)
            await session.flush()
            context = answer_text_context(checkin.id or 0, client.id or 0, "comment")
            answer = Answer(
                checkin_id=checkin.id or 0,
                item_id="comment",
                text_ciphertext=cipher.encrypt(f"a note from {alias}", context=context),
                answered_at=NOW,
            )
            session.add(answer)
            await session.flush()
            ids[alias] = answer.id or 0
        await outbox.enqueue(
            session,
            cipher,
            kind="notice",
            dedupe_key="test:queued",
            message=outbox.Outgoing(1, "a queued message"),
            now=NOW,
            not_before=NOW + timedelta(days=1),
        )
    return ids


async def _comments(db: Database, cipher: Cipher) -> dict[int, str]:
    async with db.session() as session:
        rows = (await session.exec(select(Answer, CheckIn.client_id).join(CheckIn))).all()
        return {
            answer.id or 0: cipher.decrypt(
                answer.text_ciphertext or b"",
                context=answer_text_context(answer.checkin_id, client_id, answer.item_id),
            )
            for answer, client_id in rows
        }


async def test_rotation_moves_everything_to_the_newest_key_once(database_url: str) -> None:
    """Under [NEW, OLD] everything is re-encrypted; a second run changes nothing; afterwards
    NEW alone reads every value."""
    db = Database(database_url)
    try:
        await _store(db, Cipher(parse_keys(OLD)))
        both = Cipher(parse_keys(f"{NEW},{OLD}"))
        first = await rotate(db, both, batch_size=1)
        assert [(c.reencrypted, c.current, c.failed) for c in first.columns.values()] == [
            (2, 0, 0),
            (1, 0, 0),
        ]
        second = await rotate(db, both)
        assert [(c.reencrypted, c.current, c.failed) for c in second.columns.values()] == [
            (0, 2, 0),
            (0, 1, 0),
        ]
        only_new = Cipher(parse_keys(NEW))
        assert sorted((await _comments(db, only_new)).values()) == [
            "a note from alex",
            "a note from sam",
        ]
        async with db.session() as session:
            row = (await session.exec(select(OutboxMessage))).one()
        payload = only_new.decrypt(
            row.payload_ciphertext, context=outbox_payload_context(row.dedupe_key)
        )
        assert "a queued message" in payload
    finally:
        await db.dispose()


async def test_a_value_moved_to_another_clients_row_does_not_decrypt(database_url: str) -> None:
    """Alex's encrypted note copied into Sam's row fails authentication, and rotation reports
    it instead of re-encrypting it under Sam's row."""
    db = Database(database_url)
    try:
        cipher = Cipher(parse_keys(OLD))
        ids = await _store(db, cipher)
        async with db.session() as session:
            alex = await session.get(Answer, ids["alex"])
            sam = await session.get(Answer, ids["sam"])
            assert alex is not None and sam is not None
            moved = alex.text_ciphertext
            sam.text_ciphertext = moved
        with pytest.raises(DecryptionError) as failure:
            await _comments(db, cipher)
        assert failure.value.reason == "authentication_failed"

        report = await rotate(db, Cipher(parse_keys(f"{NEW},{OLD}")))
        answers = report.columns["answer.text_ciphertext"]
        assert answers.reencrypted == 1
        assert dict(answers.unreadable) == {"authentication_failed": 1}
        async with db.session() as session:
            sam = await session.get(Answer, ids["sam"])
            assert sam is not None and sam.text_ciphertext == moved, "left as it was"
    finally:
        await db.dispose()


def test_the_rotate_keys_command(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sqlite_template: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`alliance-checkin rotate-keys`: a report per column, exit 0; a dropped key is reported
    with exit 1; no key at all is one clear line with exit 2."""
    path = tmp_path / "rotate.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)

    async def store() -> None:
        db = Database(url)
        try:
            await _store(db, Cipher(parse_keys(OLD)))
        finally:
            await db.dispose()

    asyncio.run(store())

    monkeypatch.setenv("ENCRYPTION_KEYS", NEW)
    assert main(["rotate-keys"]) == 1
    out = capsys.readouterr().out
    assert "2 unreadable (2 unknown_key)" in out and "keep every old key" in out

    monkeypatch.setenv("ENCRYPTION_KEYS", f"{NEW},{OLD}")
    assert main(["rotate-keys", "--batch-size", "1"]) == 0
    out = capsys.readouterr().out
    assert "answer.text_ciphertext: 2 re-encrypted" in out
    assert "older keys can be removed" in out
    assert OLD not in out and NEW not in out
    assert main(["rotate-keys"]) == 0
    assert "0 re-encrypted, 2 already current" in capsys.readouterr().out

    monkeypatch.delenv("ENCRYPTION_KEYS")
    assert main(["rotate-keys"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ENCRYPTION_KEYS" in err and "Traceback" not in err
