"""The crisis reply does not depend on storage: database and encryption failures."""

from __future__ import annotations

import pytest
from sqlmodel import select
from story import enrolled_client, enrolled_therapist

from bot import safety
from bot.offline.testbed import Testbed
from storage.crypto import Cipher
from storage.db import Database, is_sqlite
from storage.models import Alert


def _unreachable_like(url: str) -> str:
    """A database URL of the same kind that cannot be opened."""
    if is_sqlite(url):
        return "sqlite+aiosqlite:////nonexistent-directory/alliance.db"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"


class _BrokenCipher(Cipher):
    """A cipher whose encryption fails, as with a corrupted key store."""

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        raise RuntimeError("encryption unavailable")


async def _run_retry(bed: Testbed) -> None:
    """Run the pending alert retry now instead of waiting for its timer."""
    assert bed.app is not None and bed.app.job_queue is not None
    jobs = bed.app.job_queue.get_jobs_by_name(safety.RETRY_JOB)
    assert len(jobs) == 1, "one retry is scheduled"
    job = jobs[0]
    job.schedule_removal()
    await job.run(bed.app)


async def test_with_the_database_down_the_crisis_reply_still_comes_first(
    bed: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """The database stops answering just as Alex writes: Alex gets the crisis reply first,
    the alert waits in memory, and reaches the therapist once the database is back."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    healthy = bed.services.db
    broken = Database(_unreachable_like(bed.database_url))
    bed.services.db = broken
    before = len(alex.messages())
    try:
        await alex.says("I have the pills ready, I want to end my life")
    finally:
        bed.services.db = healthy
        await broken.dispose()

    first = alex.messages()[before]
    assert "nobody reads this chat in real time" in (first.text or "")
    assert "risk alert could not be recorded" in caplog.text
    assert "pills" not in caplog.text
    async with healthy.session() as session:
        assert (await session.exec(select(Alert))).all() == []

    await _run_retry(bed)
    assert "I have the pills ready" in therapist.last_text()
    async with healthy.session() as session:
        assert len((await session.exec(select(Alert))).all()) == 1


async def test_with_encryption_failing_the_crisis_reply_still_comes(
    bed: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """Encryption breaks: the reply is sent; the alert (an encrypted outbox row) is retried."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    healthy = bed.services.cipher
    bed.services.cipher = _BrokenCipher([b"\x00" * 32])
    before = len(alex.messages())
    try:
        await alex.says("tonight I'm going to kill myself")
    finally:
        bed.services.cipher = healthy
    assert "nobody reads this chat in real time" in (alex.messages()[before].text or "")
    assert "RuntimeError" in caplog.text

    await _run_retry(bed)
    assert "going to kill myself" in therapist.last_text()


async def test_a_redelivered_update_alerts_once(bed: Testbed) -> None:
    """Telegram sends the same update twice: the therapist gets one alert."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    update = bed.standin.send_text(alex.user, "I want to die")
    await bed.settled(update["update_id"])
    alerts_before = [m for m in therapist.messages() if "🆘" in (m.text or "")]
    again = bed.standin.inject_update(dict(update))
    await bed.settled(again["update_id"])
    alerts_after = [m for m in therapist.messages() if "🆘" in (m.text or "")]
    assert len(alerts_before) == len(alerts_after) == 1
