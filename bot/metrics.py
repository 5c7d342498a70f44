"""Counters an operator can read: Prometheus text at /metrics (webhook server or METRICS_PORT).

Counters are per process (a Prometheus server adds up the workers); the outbox gauge is
read from the database at scrape time, so it is the same on every worker. Labels carry
kinds and reasons only — never a chat, a person or a message.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy import func
from sqlmodel import col, select

from storage.db import Database
from storage.models import OutboxMessage
from storage.states import OutboxState

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

SENT = Counter(
    "alliance_messages_sent",
    "Bot-initiated messages Telegram accepted, by kind (checkin, reminder, digest, alert...).",
    ["kind"],
    registry=REGISTRY,
)
FAILED = Counter(
    "alliance_messages_failed",
    "Bot-initiated messages given up on: unreachable (403, blocked) or parked "
    "(kept failing, rejected, unreadable).",
    ["kind", "reason"],
    registry=REGISTRY,
)
RETRIED = Counter(
    "alliance_messages_retried",
    "Sends put back in the queue: rate_limited (429) or network (timeouts, 5xx).",
    ["reason"],
    registry=REGISTRY,
)
POSSIBLE_DUPLICATES = Counter(
    "alliance_messages_possible_duplicates",
    "Sends repeated after a crash or a lost answer; Telegram may show these twice.",
    registry=REGISTRY,
)
ANSWERED = Counter(
    "alliance_answers",
    "Check-in answers stored (button presses and comments).",
    registry=REGISTRY,
)
COMPLETED = Counter(
    "alliance_checkins_completed", "Check-ins answered to the end.", registry=REGISTRY
)
EXPIRED = Counter(
    "alliance_checkins_expired",
    "Check-ins closed unanswered or unfinished (expiry, or a newer check-in).",
    registry=REGISTRY,
)
UPDATES = Counter("alliance_updates", "Telegram updates handled.", registry=REGISTRY)
OUTBOX = Gauge(
    "alliance_outbox_messages",
    "Messages in the outbox by status (all workers; read from the database).",
    ["status"],
    registry=REGISTRY,
)
DATABASE_UP = Gauge(
    "alliance_database_up", "1 if the database answered the last check.", registry=REGISTRY
)

# Always reported, at 0 when empty (others appear when rows are in them).
_OUTBOX_STATES = (
    OutboxState.PENDING,
    OutboxState.CLAIMED,
    OutboxState.SENDING,
    OutboxState.SENT,
    OutboxState.FAILED,
    OutboxState.PARKED,
)


def record_dispatch(report: Any) -> None:
    """Count what a dispatcher pass closed."""
    expired = int(getattr(report, "expired", 0) or 0)
    if expired:
        EXPIRED.inc(expired)


async def count_update(update: object, context: object) -> None:
    """A handler in its own group: counts every update and lets it go on."""
    UPDATES.inc()


def record_press(notice_key: str, completed: bool) -> None:
    """Count a stored answer (and a finished check-in)."""
    if notice_key == "checkin.saved":
        ANSWERED.inc()
    if completed:
        COMPLETED.inc()


async def database_reachable(db: Database) -> bool:
    """Whether the database takes a write (for /healthz; a read-only one is not healthy)."""
    try:
        await db.prove_write()
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        DATABASE_UP.set(0)
        return False
    DATABASE_UP.set(1)
    return True


async def refresh_outbox(db: Database) -> None:
    """Read the outbox's size by status into the gauge."""
    async with db.session() as session:
        rows = (
            await session.exec(
                select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
            )
        ).all()
    counts: dict[str, int] = {str(state): 0 for state in _OUTBOX_STATES}
    for status, count in rows:
        counts[str(status)] = int(count)
    for status, count in counts.items():
        OUTBOX.labels(status=status).set(count)


async def exposition(db: Database | None) -> tuple[bytes, str]:
    """The metrics page body and its content type."""
    if db is not None and await database_reachable(db):
        await refresh_outbox(db)
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
