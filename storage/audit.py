"""The audit log: who read, exported or erased whose data, and when — never the content.

A data-protection officer needs to answer "who looked at this client's answers?"
and "when was this client's data erased, and by whom?". Each event names an actor
(a therapist, a client or the system), an action from the fixed list below, the
client it concerns (a database id, no alias) and an optional detail made only of
counts. Nothing a person typed ever goes here.

Events outlive an erasure on purpose: "client 17 erased on 2026-06-02" is the proof
that the erasure happened, and once the client row is gone the id points at nobody.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database
from storage.models import AuditEvent

ActorKind = Literal["therapist", "client", "system", "admin"]

# Therapist reads and exports, client exports, erasures. A fixed vocabulary keeps
# free text (and so content) out of the log by construction.
ACTIONS: Final = frozenset(
    {
        "read_clients",  # /clients: the list of a therapist's clients
        "read_digest",  # /digest: every client's recent answers
        "read_client",  # /client <alias>: one client's history
        "export",  # /export: a therapist's export file
        "client_export",  # /mydata: a client downloads their own data
        "erase",  # /delete: a client erased their data
        "erase_retention",  # the retention job erased a discharged client
        "rotate_keys",  # alliance-checkin rotate-keys re-encrypted stored text
    }
)
# Details are counts and flags only: "clients=3", "rows=41", "reencrypted=12".
_DETAIL = re.compile(r"^[a-z_]{1,24}=\d{1,12}( [a-z_]{1,24}=\d{1,12}){0,7}$")


def _check(action: str, detail: str | None) -> None:
    """Refuse anything outside the vocabulary, so content cannot slip into the log."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if detail is not None and not _DETAIL.match(detail):
        raise ValueError("audit details are counts only, like 'rows=3 tables=5'")


def counts(**values: int) -> str:
    """Format counts as an audit detail: counts(rows=3) → 'rows=3'."""
    return " ".join(f"{name}={int(value)}" for name, value in values.items())


async def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor_kind: ActorKind,
    actor_id: int | None,
    action: str,
    client_id: int | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add one event to the session (committed with the caller's other changes)."""
    _check(action, detail)
    event = AuditEvent(
        at=at,
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        client_id=client_id,
        detail=detail,
    )
    session.add(event)
    return event


async def write(
    db: Database,
    *,
    at: datetime,
    actor_kind: ActorKind,
    actor_id: int | None,
    action: str,
    client_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Record one event in its own transaction (for reads, which change nothing else)."""
    async with db.session() as session:
        await record(
            session,
            at=at,
            actor_kind=actor_kind,
            actor_id=actor_id,
            action=action,
            client_id=client_id,
            detail=detail,
        )


async def events(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    client_id: int | None = None,
    limit: int = 1000,
) -> Sequence[AuditEvent]:
    """Events, oldest first, optionally since a time or about one client."""
    query = select(AuditEvent)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    if client_id is not None:
        query = query.where(AuditEvent.client_id == client_id)
    result = await session.exec(query.order_by(col(AuditEvent.at), col(AuditEvent.id)).limit(limit))
    return result.all()
