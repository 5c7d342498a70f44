"""Every metric docs/operations.md documents, read after a played practice.

Counters are per process and the test process plays many practices, so each counter is
read before and after and the difference is checked against what the story did.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from checks import drain, rows
from sqlalchemy import update
from sqlmodel import col
from story import answer_checkin, enrolled_client, enrolled_therapist

from bot import metrics
from bot.app import DISPATCH_JOB
from bot.due_work import DispatchReport, queue_due_checkins
from bot.offline.testbed import Testbed
from storage.models import Answer, CheckIn, OutboxMessage

ROOT_DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _counter(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(f"{name}_total", labels) or 0.0


def _counters() -> dict[str, float]:
    """Every counter sample (with its labels) in the registry now."""
    found: dict[str, float] = {}
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.name.startswith("alliance_") and sample.name.endswith("_total"):
                key = sample.name + str(sorted(sample.labels.items()))
                found[key] = sample.value
    return found


def _delta(before: dict[str, float], name: str, **labels: str) -> float:
    key = f"{name}_total" + str(sorted(labels.items()))
    return _counter(name, **labels) - before.get(key, 0.0)


def test_the_documented_metrics_are_the_ones_served() -> None:
    """docs/operations.md names exactly the alliance_* metrics the registry serves."""
    documented = set(re.findall(r"`(alliance_[a-z_]+)", ROOT_DOCS.read_text(encoding="utf-8")))
    served = {
        family.name for family in metrics.REGISTRY.collect() if family.name.startswith("alliance_")
    }
    assert documented == served


async def test_every_documented_metric_follows_a_played_practice(bed: Testbed) -> None:
    """Three clients: one answers by buttons, one ends with a typed note, one never answers
    (a reminder, then expiry); one has blocked the bot; Telegram asks to slow down once and
    fails once; a worker died mid-send. Every counter and gauge moves by exactly that."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    bo = await enrolled_client(bed, ada, "bo")
    cy = await enrolled_client(bed, ada, "cy")
    dan = await enrolled_client(bed, ada, "dan")
    await drain(bed)
    bed.standin.block_user(dan.chat_id, notify=False)
    before = _counters()
    updates_before = _counter("alliance_updates")

    for alias in ("alex", "bo", "cy", "dan"):
        await ada.command("session", alias)
    await bed.advance(minutes=60)
    await drain(bed)
    assert _delta(before, "alliance_messages_sent", kind="checkin") == 3
    assert _delta(before, "alliance_messages_failed", kind="checkin", reason="unreachable") == 1

    await answer_checkin(alex, "4", "5", "4", "5", "No", "Skip")
    await answer_checkin(bo, "3", "4", "3", "4", "No")
    await bo.says("I felt rushed at the end.")
    completed = [c for c in await rows(bed, CheckIn) if c.status == "completed"]
    assert len(completed) == 2
    # The check-in ended by a typed note counts as completed too (it used to stay 0).
    assert _delta(before, "alliance_checkins_completed") == 2
    assert _delta(before, "alliance_answers") == len(await rows(bed, Answer))

    # Telegram says "slow down" once and fails once on Cy's reminder; it still arrives.
    bed.standin.fail_next("sendMessage", error_code=429, retry_after=1, chat_id=cy.chat_id)
    bed.standin.fail_next("sendMessage", error_code=502, chat_id=cy.chat_id)
    await bed.advance(hours=24)
    for _ in range(3):
        await bed.advance(seconds=30)
        await drain(bed)
    assert _delta(before, "alliance_messages_retried", reason="rate_limited") == 1
    assert _delta(before, "alliance_messages_retried", reason="network") == 1
    assert _delta(before, "alliance_messages_sent", kind="reminder") == 1
    # Expiry is counted by the real dispatcher job (the testbed's tick bypasses it).
    bed.clock.advance(timedelta(hours=48))
    assert bed.app is not None and bed.app.job_queue is not None
    [job] = bed.app.job_queue.get_jobs_by_name(DISPATCH_JOB)
    await job.run(bed.app)
    assert _delta(before, "alliance_checkins_expired") == 1

    # A worker died after claiming a message and perhaps sending it: the next one sends it
    # again and counts a possible duplicate.
    await ada.command("session", "alex")
    bed.clock.advance(timedelta(minutes=60))
    await queue_due_checkins(bed.services, bed.clock.now(), DispatchReport())
    async with bed.services.db.session() as session:
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.status) == "pending")
            .values(
                status="sending",
                lease_owner="dead-worker",
                lease_until=bed.clock.now() - timedelta(seconds=1),
            )
        )
    await drain(bed)
    assert _delta(before, "alliance_messages_possible_duplicates") == 1

    assert _counter("alliance_updates") - updates_before >= 4 + 6 + 5 + 1 + 1
    body, _type = await metrics.exposition(bed.services.db)
    page = body.decode()
    assert "alliance_database_up 1.0" in page
    outbox = await rows(bed, OutboxMessage)
    for status in ("sent", "failed", "pending"):
        expected = sum(1 for row in outbox if row.status == status)
        assert f'alliance_outbox_messages{{status="{status}"}} {float(expected)}' in page
