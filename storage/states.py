"""The one state machine: what a check-in, a client and an outbox row can be, and the moves
between those states.

Every status the bot writes or compares is one of these names, so mypy catches a
misspelled one. Each table below says, for every state, which states it may move to; the
guarded ``UPDATE … WHERE status IN (…)`` statements take their ``IN (…)`` from here
(``sources``), and an object changed in Python moves through ``move``, which refuses a
move the table does not list.

The stored values are the enum values (plain strings in the database, unchanged by this
module); the core's own reading of a check-in (bot.core.scoring.CheckinStatus) is derived
from these in bot.digest.histories, and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, or_
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped
from sqlalchemy.types import String, TypeDecorator


class CheckinState(StrEnum):
    """A check-in: scheduled → queued → sent → answering → completed; or expired/cancelled."""

    SCHEDULED = "scheduled"  # created for a session, not yet due (or waiting for quiet hours)
    QUEUED = "queued"  # its message is in the outbox
    SENT = "sent"  # Telegram accepted the message
    ANSWERING = "answering"  # at least one answer given
    COMPLETED = "completed"  # every item answered or skipped
    EXPIRED = "expired"  # closed unfinished: too old, or replaced by a newer one
    CANCELLED = "cancelled"  # closed without asking: paused, left, unreachable


class ClientState(StrEnum):
    """A client record: invited → active ⇄ paused → stopped; declined when turned down."""

    INVITED = "invited"
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    DECLINED = "declined"


class OutboxState(StrEnum):
    """An outbox row: pending → claimed → sending → sent; retries go back to pending.

    "resending" marks a row taken over after a crash mid-send (bot.sending.sender);
    "failed" is a 403 (the person blocked the bot), "parked" a row that kept failing,
    "cancelled" a check-in's message withdrawn because the check-in closed first.
    """

    PENDING = "pending"
    CLAIMED = "claimed"
    SENDING = "sending"
    RESENDING = "resending"
    SENT = "sent"
    FAILED = "failed"
    PARKED = "parked"
    CANCELLED = "cancelled"


_C = CheckinState
CHECKIN_MOVES: Mapping[CheckinState, frozenset[CheckinState]] = {
    _C.SCHEDULED: frozenset({_C.QUEUED, _C.EXPIRED, _C.CANCELLED}),
    # An answer may be recorded before the sender has marked the message sent.
    _C.QUEUED: frozenset({_C.SENT, _C.ANSWERING, _C.COMPLETED, _C.EXPIRED, _C.CANCELLED}),
    _C.SENT: frozenset({_C.ANSWERING, _C.COMPLETED, _C.EXPIRED, _C.CANCELLED}),
    _C.ANSWERING: frozenset({_C.ANSWERING, _C.COMPLETED, _C.EXPIRED, _C.CANCELLED}),
    _C.COMPLETED: frozenset(),
    _C.EXPIRED: frozenset(),
    _C.CANCELLED: frozenset(),
}

_K = ClientState
CLIENT_MOVES: Mapping[ClientState, frozenset[ClientState]] = {
    # Invited again: a new link replaces the old one (bot.practice.enrolment).
    _K.INVITED: frozenset({_K.INVITED, _K.ACTIVE, _K.DECLINED, _K.STOPPED}),
    _K.ACTIVE: frozenset({_K.PAUSED, _K.STOPPED}),
    _K.PAUSED: frozenset({_K.ACTIVE, _K.STOPPED}),
    # A former client is invited again, or answers a link to their own record (joining
    # again, or turning it down) (bot.practice.enrolment).
    _K.STOPPED: frozenset({_K.INVITED, _K.ACTIVE, _K.DECLINED}),
    _K.DECLINED: frozenset({_K.INVITED, _K.ACTIVE, _K.DECLINED}),
}

_O = OutboxState
OUTBOX_MOVES: Mapping[OutboxState, frozenset[OutboxState]] = {
    _O.PENDING: frozenset({_O.CLAIMED, _O.CANCELLED}),
    _O.CLAIMED: frozenset({_O.SENDING, _O.RESENDING, _O.PENDING, _O.SENT, _O.FAILED, _O.PARKED}),
    _O.SENDING: frozenset({_O.RESENDING, _O.PENDING, _O.SENT, _O.FAILED, _O.PARKED}),
    _O.RESENDING: frozenset({_O.SENDING, _O.RESENDING, _O.PENDING, _O.SENT, _O.FAILED, _O.PARKED}),
    _O.SENT: frozenset(),
    _O.FAILED: frozenset(),
    # The admin's `outbox retry` puts a parked row back in the queue.
    _O.PARKED: frozenset({_O.PENDING}),
    _O.CANCELLED: frozenset(),
}
del _C, _K, _O

# A check-in that was handed to the outbox and is not closed: the client may answer it.
OPEN_CHECKIN: tuple[CheckinState, ...] = (
    CheckinState.QUEUED,
    CheckinState.SENT,
    CheckinState.ANSWERING,
)
# A check-in that was never closed, including one not yet due (what close_checkins may close).
UNCLOSED_CHECKIN: tuple[CheckinState, ...] = (CheckinState.SCHEDULED, *OPEN_CHECKIN)
# A check-in closed with its questions done or its time up (not cancelled).
FINISHED_CHECKIN: tuple[CheckinState, ...] = (CheckinState.COMPLETED, CheckinState.EXPIRED)
# A client taking part (check-ins go to them, or wait while they pause).
PARTICIPATING: tuple[ClientState, ...] = (ClientState.ACTIVE, ClientState.PAUSED)
# A client not (or no longer) taking part: their data ages out (bot.privacy.retention).
DISCHARGED: tuple[ClientState, ...] = (
    ClientState.STOPPED,
    ClientState.DECLINED,
    ClientState.INVITED,
)
# Outbox rows a worker has in hand. "claimed": not tried yet, safe to take over silently
# after the lease; "sending": a request may have reached Telegram, so taking it over may
# duplicate it ("resending" marks such a row between the takeover and the new attempt).
IN_HAND: tuple[OutboxState, ...] = (
    OutboxState.CLAIMED,
    OutboxState.RESENDING,
    OutboxState.SENDING,
)
# Outbox rows still to go out.
WAITING: tuple[OutboxState, ...] = (OutboxState.PENDING, *IN_HAND)
# Outbox rows whose fate is settled.
SETTLED: tuple[OutboxState, ...] = (OutboxState.SENT, OutboxState.FAILED, OutboxState.PARKED)

S = TypeVar("S", CheckinState, ClientState, OutboxState)


class IllegalMove(ValueError):
    """A state change the machine does not allow (a bug, not bad input)."""


_MOVES: Mapping[type[StrEnum], Mapping[Any, frozenset[Any]]] = {
    CheckinState: CHECKIN_MOVES,
    ClientState: CLIENT_MOVES,
    OutboxState: OUTBOX_MOVES,
}


def _moves(state: S) -> Mapping[S, frozenset[S]]:
    return _MOVES[type(state)]


def allowed(source: S, target: S) -> bool:
    """Whether ``source`` may move to ``target``."""
    return target in _moves(source)[source]


def sources(target: S) -> tuple[S, ...]:
    """The states that may move to ``target``: the ``IN (…)`` of a guarded UPDATE.

    Sorted, so the same statement is built every time; worked out once, at import.
    """
    found: tuple[S, ...] = _SOURCES[(type(target), target)]
    return found


# Keyed by the enum too: CheckinState.SENT and OutboxState.SENT are equal strings.
_SOURCES: Mapping[tuple[type[StrEnum], StrEnum], tuple[Any, ...]] = {
    (kind, target): tuple(sorted(state for state, targets in table.items() if target in targets))
    for kind, table in _MOVES.items()
    for target in table
}


def is_one_of(
    column: ColumnElement[Any] | Mapped[Any], states: Iterable[StrEnum]
) -> ColumnElement[bool]:
    """``column IN (states)`` written as ``column = a OR column = b …``.

    For statements run with many parameter sets at once (``executemany``): SQLAlchemy
    renders ``in_()`` with an "expanding" parameter, which it refuses to run that way, and
    a batched write that raises falls back to one statement per row, silently many times
    slower (the sender's outcome writes did, bench/dispatch.py). Single statements keep
    ``in_()``.
    """
    return or_(*(column == state for state in states))


class _HasStatus(Protocol[S]):
    status: S


def move(row: _HasStatus[S], target: S) -> None:
    """Change a loaded row's status, refusing a move the machine does not allow."""
    if not allowed(row.status, target):
        raise IllegalMove(f"{type(row).__name__}: {row.status} → {target}")
    row.status = target


class StateType(TypeDecorator[Any]):
    """A status column: stored as its plain string, read back as the enum member."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Write the value itself (the enum member is a string already)."""
        return None if value is None else str(self.enum(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Hand back the enum member for the stored string."""
        return None if value is None else self.enum(value)
