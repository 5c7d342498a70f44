"""The outbox's sender: claims due rows, sends them within the flood limits, records the outcome.

One ``Sender`` per process, built at wiring time (bot.app) and reached through the
services: it runs continuously (``run``) in the service, and ``deliver`` runs a single
round for the periodic pass and the crisis alert. Delivery is at least once: see
bot.sending.outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from sqlalchemy import LargeBinary, and_, bindparam, case, exists, func, or_, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot import metrics
from bot.sending.flood import FloodControl, Gate, RequestOptions, retry_after_seconds
from bot.sending.outbox import Outgoing, keyboard, keyboard_json
from bot.services import Services
from storage.crypto import Cipher, DecryptionError, outbox_payload_context
from storage.db import Database
from storage.models import OutboxMessage
from storage.states import IN_HAND, WAITING, OutboxState, is_one_of, sources
from storage.types import UTCDateTime

log = logging.getLogger(__name__)


class OutboxRow(Protocol):
    """What sending and the delivery hooks read of an outbox row: a claimed row
    (``Claimed``) or a loaded ``OutboxMessage`` alike."""

    @property
    def id(self) -> int | None: ...  # noqa: D102
    @property
    def kind(self) -> str: ...  # noqa: D102
    @property
    def chat_id(self) -> int: ...  # noqa: D102
    @property
    def dedupe_key(self) -> str: ...  # noqa: D102
    @property
    def payload_ciphertext(self) -> bytes: ...  # noqa: D102
    @property
    def status(self) -> OutboxState: ...  # noqa: D102
    @property
    def attempts(self) -> int: ...  # noqa: D102
    @property
    def checkin_id(self) -> int | None: ...  # noqa: D102
    @property
    def client_id(self) -> int | None: ...  # noqa: D102
    @property
    def therapist_id(self) -> int | None: ...  # noqa: D102


class Claimed(NamedTuple):
    """A row as the claim took it: plain values from the claim's own UPDATE … RETURNING.

    Not an ORM object: nothing here is written back through it (every write is a guarded
    statement), and loading hundreds of mapped objects per claim cost more than sending.
    """

    id: int
    kind: str
    chat_id: int
    dedupe_key: str
    payload_ciphertext: bytes
    status: OutboxState
    attempts: int
    checkin_id: int | None
    client_id: int | None
    therapist_id: int | None


# The columns of ``Claimed``, in its order.
_CLAIMED_COLUMNS = tuple(getattr(OutboxMessage, name) for name in Claimed._fields)


@dataclass(frozen=True)
class Delivered:
    """A row Telegram accepted, and the message it became."""

    row: OutboxRow
    message_id: int
    chat_id: int


# Called once per batch of outcomes with every row in it that was sent, in the batch's
# transaction; FailHook once per row Telegram refused for good (403).
SentHook = Callable[[AsyncSession, Sequence[Delivered], datetime], Awaitable[None]]
FailHook = Callable[[AsyncSession, OutboxRow, datetime], Awaitable[None]]

# Rows that hold their chat's place in line: nothing later to that chat goes out first,
# so a digest's parts arrive in order even when several workers share the queue.
# Nothing due: look again this often (new rows from other workers, retry times coming up).
POLL_SECONDS = 1.0
# Most rows taken per claim; fewer when the rate means they could not go out within the lease.
CLAIM_BATCH = 500
# Above this many messages a second (paid broadcasts), outcomes wait RESULT_LINGER seconds
# to share one transaction.
BATCHED_RATE = 100.0
RESULT_LINGER = 0.02


def _due(now: datetime) -> Any:
    return or_(
        and_(
            col(OutboxMessage.status) == OutboxState.PENDING, col(OutboxMessage.not_before) <= now
        ),
        and_(col(OutboxMessage.status).in_(IN_HAND), col(OutboxMessage.lease_until) < now),
    )


def _head_of_chat() -> Any:
    """A row may go when nothing before it in its chat's line is waiting.

    Alerts (risk, severe strain) have their own line ahead of the chat's other messages:
    an alert waits only for earlier alerts to that chat, never for an ordinary message
    (not even one a stopped worker still holds), and an ordinary message waits for every
    earlier message of its chat and for any alert to it. Check-in screens, digest parts
    and notices therefore keep their order.
    """
    earlier = aliased(OutboxMessage)
    this_is_alert = col(OutboxMessage.kind) == ALERT
    that_is_alert = col(earlier.kind) == ALERT
    return ~exists().where(
        col(earlier.chat_id) == col(OutboxMessage.chat_id),
        col(earlier.status).in_(WAITING),
        col(earlier.id) != col(OutboxMessage.id),
        or_(
            and_(this_is_alert, that_is_alert, col(earlier.id) < col(OutboxMessage.id)),
            and_(~this_is_alert, or_(that_is_alert, col(earlier.id) < col(OutboxMessage.id))),
        ),
    )


def _readable_with(cipher: Cipher) -> Any:
    """Rows whose payload this worker's keys can open (the key id is bytes 2–9 of a token).

    A worker that lacks a key (it was not restarted after a new one was added, or
    rotate-keys moved the payload to a key it does not have) leaves such rows to a worker
    that has it, instead of claiming and failing them.
    """
    key_id = func.substr(col(OutboxMessage.payload_ciphertext), 2, 8, type_=LargeBinary)
    return key_id.in_([bytes.fromhex(kid) for kid in cipher.key_ids])


ALERT = "alert"
# Alerts jump the queue as well: they must not wait behind a weekly batch.
_PRIORITY = case((col(OutboxMessage.kind) == ALERT, 0), else_=1)

# Outcome writes, run with one set of parameters per row (executemany).
_MARK_SENT = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == bindparam("b_id"))
    .where(col(OutboxMessage.status) != OutboxState.SENT)
    .values(
        status=OutboxState.SENT,
        sent_at=bindparam("b_now", type_=UTCDateTime()),
        message_id=bindparam("b_message"),
        lease_until=None,
        last_error=None,  # lease_owner stays: which worker sent it
        attempts=col(OutboxMessage.attempts) + 1,
    )
)
_MARK_OTHER = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == bindparam("b_id"))
    .where(is_one_of(col(OutboxMessage.status), IN_HAND))
    .values(
        status=bindparam("b_status"),
        lease_until=None,
        lease_owner=None,
        last_error=bindparam("b_error"),
        attempts=col(OutboxMessage.attempts) + bindparam("b_attempts"),
        not_before=func.coalesce(
            bindparam("b_not_before", type_=UTCDateTime()), col(OutboxMessage.not_before)
        ),
    )
    .where(col(OutboxMessage.lease_owner) == bindparam("b_owner"))
)
# Built once with bound parameters, like the outcome writes: building a statement (and its
# cache key) per call cost more than running it (docs/performance.md).
# Mark rows as on the wire; only the lease holder's rows that are still claimed.
_MARK_SENDING = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id).in_(bindparam("b_ids", expanding=True)))
    .where(col(OutboxMessage.lease_owner) == bindparam("b_owner"))
    .where(col(OutboxMessage.status).in_(sources(OutboxState.SENDING)))
    .values(status=OutboxState.SENDING)
    .returning(col(OutboxMessage.id))
)
# Where the rows whose outcomes are about to be written stand now.
_CURRENT = select(
    col(OutboxMessage.id), col(OutboxMessage.status), col(OutboxMessage.lease_owner)
).where(col(OutboxMessage.id).in_(bindparam("b_ids", expanding=True)))
# What each outcome other than "sent" makes of the row.
_STATUS_AFTER = {
    "released": OutboxState.PENDING,
    "retry": OutboxState.PENDING,
    "unreachable": OutboxState.FAILED,
    "parked": OutboxState.PARKED,
}


@dataclass
class _Result:
    """What happened to one claimed row, to be written with others in one transaction."""

    row_id: int
    outcome: str  # sent | retry | unreachable | parked | released
    message_id: int | None = None
    chat_id: int | None = None
    error: str | None = None
    not_before: datetime | None = None
    count_attempt: bool = True
    row: OutboxRow | None = None  # the claimed row, for the hooks (set when recorded)


T = TypeVar("T")
R = TypeVar("R")


class _Batcher(Generic[T, R]):
    """Collects items from many tasks and writes them in one call; each caller awaits its own.

    Items that arrive while a write is running go into the next one, so batches grow with
    load and a lone item is written at once. If a batch fails, its items are retried one by
    one, so one bad row cannot take the others' results down with it.
    """

    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], linger: float = 0.0) -> None:
        self._write = write
        self._linger = linger
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue an item and wait until it is written."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            if self._linger and len(self._queue) < CLAIM_BATCH:
                # Let the sends finishing around now join this write: one transaction for
                # many rows instead of one each (at 500/s that is most of the cost).
                await asyncio.sleep(self._linger)
            batch, self._queue = self._queue[:CLAIM_BATCH], self._queue[CLAIM_BATCH:]
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as failed:  # noqa: BLE001 - retried item by item below
                if len(batch) > 1:
                    # Correct but many times slower: a batch should never fail as a whole
                    # (only the class is named: the message may hold SQL parameters).
                    log.warning(
                        "outbox: a batch of %d writes failed (%s); writing them one by one",
                        len(batch),
                        type(failed).__name__,
                    )
                if len(batch) == 1:
                    _item, future = batch[0]
                    try:
                        results = await self._write([_item])
                    except Exception as exc:  # noqa: BLE001 - handed to the waiting task
                        if not future.done():
                            future.set_exception(exc)
                        continue
                else:
                    for item, future in batch:
                        try:
                            (result,) = await self._write([item])
                        except Exception as exc:  # noqa: BLE001 - handed to the waiting task
                            if not future.done():
                                future.set_exception(exc)
                        else:
                            if not future.done():
                                future.set_result(result)
                    continue
            for (_item, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


def _backoff(attempts: int) -> timedelta:
    """2, 4, 8 … seconds, at most 15 minutes, between attempts after network errors."""
    return timedelta(seconds=min(2**attempts, 900))


# ------------------------------------------------------------------ who holds a row
#
# A running worker names itself in every lease it takes: "<name>/w<key>". The name is the
# same across restarts (WORKER_NAME, default the host name); the key is new each run. So
# a row held by a worker that is known to be gone is taken over at once instead of after
# its lease (docs/operations.md, "When a worker stops"):
# - on SQLite (one process), rows held under this worker's own name by an earlier run;
# - on PostgreSQL, rows whose holder no longer holds its advisory lock: each running
#   worker holds the session lock numbered by its key for as long as its database session
#   lives, and PostgreSQL drops it the moment the session ends (kill -9 included).
# Senders that are not part of a running worker (a one-off delivery from a CLI command)
# hold rows as "<name>/t<random>" and are only ever taken over after the lease.

# How often a running worker looks for rows held by workers that are gone.
REAP_SECONDS = 2.0
# How often it looks for parked rows a key it now has can open, and for due rows it lacks
# the key for.
KEY_CHECK_SECONDS = 60.0
# A worker that claimed a row it has no key for puts it back for this long (another worker
# with the key, or this one after a restart with it, takes it then).
KEY_MISSING_DELAY = timedelta(seconds=30)
KEY_MISSING = "key not configured here"
UNREADABLE = "payload unreadable"
_WORKER_MARK = "/w"


def worker_name(settings: Any) -> str:
    """The worker's name as it appears in leases: WORKER_NAME, else the host name."""
    name = settings.worker_name or socket.gethostname() or "worker"
    return "".join(c if c.isalnum() or c in "._@-" else "-" for c in name)[:40]


def _holder(owner: str) -> tuple[str, int] | None:
    """(name, key) of a running worker's lease owner; None for any other owner."""
    name, mark, key = owner.rpartition(_WORKER_MARK)
    if not mark or len(key) != 16:
        return None
    try:
        return name, int(key, 16)
    except ValueError:
        return None


class Presence:
    """This process as a running worker: the owner name it leases under and, on
    PostgreSQL, the advisory lock that tells other workers it is alive."""

    def __init__(self, db: Database, name: str, key: int | None = None) -> None:
        self.db = db
        self.name = name
        self.key = key if key is not None else secrets.randbits(62)
        self.owner = f"{name}{_WORKER_MARK}{self.key:016x}"
        self._connection: AsyncConnection | None = None

    async def hold(self) -> None:
        """Take the lock (PostgreSQL), or check it is still held and take it again if the
        session was lost; nothing to do on SQLite."""
        if self.db.is_sqlite:
            return
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                await self._connection.commit()
                return
            except Exception:  # noqa: BLE001 - the session is gone: take the lock anew
                log.warning("outbox: the worker's lock session was lost; taking it again")
                await self.release()
        connection = await self.db.engine.connect()
        try:
            held = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not held:
            await connection.close()
            raise RuntimeError("another session holds this worker's lock")
        self._connection = connection

    async def release(self) -> None:
        """End the lock's session (the lock goes with it)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


# The running worker of this process, per database: one-off senders in the same process
# (an alert delivered at once, a dispatcher pass) lease under its name, so its liveness
# covers their rows too.
_RUNNING: dict[str, Presence] = {}


class Sender:
    """Claims due outbox rows, sends them within the flood limits, and records the outcome.

    One per process (``services.sender``): ``run`` delivers continuously, ``deliver`` one
    round (the periodic pass, the crisis alert, tests). Rows are sent concurrently, each
    chat in order.
    """

    def __init__(
        self,
        services: Services,
        bot: Any,
        *,
        on_sent: SentHook,
        on_unreachable: FailHook,
        presence: Presence | None = None,
    ) -> None:
        self.services = services
        self.bot = bot
        self.on_sent = on_sent
        self.on_unreachable = on_unreachable
        limiter = getattr(bot, "rate_limiter", None)
        self.limiter: FloodControl | None = limiter if isinstance(limiter, FloodControl) else None
        settings = services.settings
        self.lease = timedelta(seconds=settings.send_lease_seconds)
        self.max_attempts = settings.send_max_attempts
        self.paid_broadcast = settings.send_paid_broadcast
        rate = self.limiter.global_rate if self.limiter else float(CLAIM_BATCH)
        # Claim no more than can go out in a third of the lease at the configured rate.
        self.batch = max(1, min(CLAIM_BATCH, int(rate * self.lease.total_seconds() / 3)))
        self.name = worker_name(settings)
        self.presence = presence or _RUNNING.get(services.db.url)
        self.claim_id = (
            self.presence.owner if self.presence else f"{self.name}/t{uuid.uuid4().hex[:12]}"
        )
        self._readable = _readable_with(services.cipher)
        self._doubt: Gate = (
            self.limiter.in_doubt if self.limiter else Gate(settings.send_in_doubt_max)
        )
        # Marks wait a moment to share a write only when several sends may be in doubt.
        self._sending: _Batcher[int, bool] = _Batcher(
            self._write_sending, linger=0.002 if self._doubt.size > 1 else 0.0
        )
        # A row is in doubt after a crash from its "sending" mark until its outcome is
        # written. At Telegram's normal rates outcomes are written at once (those finishing
        # during a write still share the next), so a kill -9 leaves about the one request
        # on the wire in doubt. Only at paid-broadcast rates do outcomes wait a moment to
        # share a transaction, which a few hundred sends a second need.
        linger = RESULT_LINGER if rate > BATCHED_RATE else 0.0
        self._results: _Batcher[_Result, None] = _Batcher(self._write_results, linger=linger)
        self._wake = asyncio.Event()
        self._stopping = False
        self._pacing: set[asyncio.Task[str]] = set()
        self._missing_key_seen = 0

    # ------------------------------------------------------------------ claiming

    async def claim(self, limit: int, *, keys: Sequence[str] | None = None) -> list[OutboxMessage]:
        """Take rows as ``take`` does, as (detached) ``OutboxMessage`` objects."""
        return [OutboxMessage(**row._asdict()) for row in await self.take(limit, keys=keys)]

    async def take(self, limit: int, *, keys: Sequence[str] | None = None) -> list[Claimed]:
        """Atomically take due rows at the head of their chat (and ones whose lease expired).

        ``keys`` takes only the rows with those dedupe keys (a crisis alert and its note to
        the client are sent at once, without the rest of the queue). The rows come back as
        plain values (``Claimed``), in id order.

        PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED, then UPDATE in the same transaction,
        so concurrent workers never wait for or take each other's rows. SQLite has no row
        locks: the UPDATE re-checks that each row is still due, and one statement is atomic
        (SQLite takes its write lock before reading), so a row goes to exactly one claimer.
        """
        services = self.services
        now = services.clock.now()
        query = (
            select(OutboxMessage.id)
            .where(_due(now))
            .where(self._readable)
            .where(_head_of_chat())
            .order_by(_PRIORITY, col(OutboxMessage.id))
            .limit(limit)
        )
        if keys is not None:
            query = query.where(col(OutboxMessage.dedupe_key).in_(keys))
        if not services.db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=OutboxMessage)
        async with services.db.session() as session:
            ids = list((await session.exec(query)).all())
            if not ids:
                return []
            connection = await session.connection()  # Core: nothing in the session to sync
            taken = await connection.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id).in_(ids))
                .where(_due(now))
                .values(
                    status=case(
                        (
                            col(OutboxMessage.status).in_(
                                (OutboxState.SENDING, OutboxState.RESENDING)
                            ),
                            OutboxState.RESENDING,
                        ),
                        else_=OutboxState.CLAIMED,
                    ),
                    lease_owner=self.claim_id,
                    lease_until=now + self.lease,
                )
                .returning(*_CLAIMED_COLUMNS)
            )
            # RETURNING gives no order: the rows go out in id order, as queued.
            return sorted(map(Claimed._make, taken.all()))

    # ------------------------------------------------------------------ stopped workers

    async def take_over_from_stopped_workers(self) -> int:
        """Expire the leases of rows whose holder is known to be gone; returns how many.

        Only a running worker (one with a ``Presence``) judges: on SQLite, rows its own
        name held in an earlier run; on PostgreSQL, rows of any running worker whose
        advisory lock is free (its session ended). The rows are then claimed as after an
        expired lease: one that was on the wire is sent again and logged as a possible
        duplicate, the others silently.
        """
        if self.presence is None:
            return 0
        now = self.services.clock.now()
        async with self.services.db.session() as session:
            connection = await session.connection()
            owners = (
                await connection.scalars(
                    select(col(OutboxMessage.lease_owner))
                    .where(col(OutboxMessage.status).in_(IN_HAND))
                    .where(col(OutboxMessage.lease_until) >= now)
                    .distinct()
                )
            ).all()
            gone = [
                owner
                for owner in owners
                if owner is not None and await self._is_gone(connection, owner)
            ]
            if not gone:
                return 0
            expired = await connection.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.lease_owner).in_(gone))
                .where(col(OutboxMessage.status).in_(IN_HAND))
                .values(lease_until=now - timedelta(microseconds=1))
            )
        count = int(expired.rowcount or 0)
        if count:
            log.warning(
                "outbox: taking over %d message(s) held by %d worker(s) that stopped",
                count,
                len(gone),
            )
        return count

    async def _is_gone(self, connection: AsyncConnection, owner: str) -> bool:
        assert self.presence is not None
        holder = _holder(owner)
        if holder is None or owner == self.presence.owner:
            return False
        name, key = holder
        if self.services.db.is_sqlite:
            # One process per SQLite database: another run under this name is an earlier
            # one of this worker (docs/operations.md).
            return name == self.presence.name
        # Free means its session ended; the transaction-scoped lock goes at commit.
        free = await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
        return bool(free)

    async def check_keys(self) -> tuple[int, int]:
        """Requeue parked rows that a key this worker has can now open; count due rows it
        cannot open. Returns (requeued, waiting for a key)."""
        now = self.services.clock.now()
        cipher = self.services.cipher
        requeue: list[int] = []
        spoiled: list[int] = []
        async with self.services.db.session() as session:
            connection = await session.connection()
            parked = await connection.execute(
                select(
                    col(OutboxMessage.id),
                    col(OutboxMessage.dedupe_key),
                    col(OutboxMessage.payload_ciphertext),
                )
                .where(col(OutboxMessage.status) == OutboxState.PARKED)
                .where(col(OutboxMessage.last_error).in_((UNREADABLE, KEY_MISSING)))
                .where(self._readable)
                .limit(CLAIM_BATCH)
            )
            for row_id, dedupe_key, token in parked.all():
                if row_id is None:
                    continue
                try:
                    Outgoing.from_json(
                        cipher.decrypt(bytes(token), context=outbox_payload_context(dedupe_key))
                    )
                except (DecryptionError, ValueError, KeyError, TypeError):
                    spoiled.append(row_id)
                else:
                    requeue.append(row_id)
            if requeue:
                await connection.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(requeue))
                    .where(col(OutboxMessage.status) == OutboxState.PARKED)
                    .values(status=OutboxState.PENDING, not_before=now, last_error=None, attempts=0)
                )
            if spoiled:
                # Opened with a key it names and still unreadable: altered, never retried.
                await connection.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(spoiled))
                    .values(last_error=f"{UNREADABLE}: altered")
                )
            waiting = await connection.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(_due(now))
                .where(~self._readable)
            )
        if requeue:
            log.warning(
                "outbox: %d parked message(s) readable with the configured keys; queued again",
                len(requeue),
            )
        if waiting:
            log.warning(
                "outbox: %d due message(s) are encrypted with a key this worker does not "
                "have (ENCRYPTION_KEYS); they wait for a worker that has it",
                waiting,
            )
        return len(requeue), int(waiting or 0)

    # ------------------------------------------------------------------ one round

    async def deliver(
        self, limit: int | None = None, *, keys: Sequence[str] | None = None
    ) -> tuple[int, int]:
        """Claim once and send everything claimed; returns (claimed, sent).

        ``keys``: only the rows with those dedupe keys (see :meth:`take`).
        """
        rows = await self.take(min(limit or self.batch, self.batch), keys=keys)
        if not rows:
            return 0, 0
        tasks = [asyncio.create_task(self._deliver_one(row)) for row in rows]
        outcomes = await asyncio.gather(*tasks)
        return len(rows), sum(1 for outcome in outcomes if outcome == "sent")

    async def _deliver_one(self, row: OutboxRow) -> str:
        assert row.id is not None
        if row.status == OutboxState.RESENDING:
            # The worker that had it died (or stalled past its lease) after the request may
            # have reached Telegram: this send may be a duplicate, the price of losing nothing.
            log.warning(
                "outbox %s (%s): taken over after a worker stopped mid-send; sending again, "
                "so it may arrive twice",
                row.id,
                row.kind,
            )
            metrics.POSSIBLE_DUPLICATES.inc()
        try:
            payload = self.services.cipher.decrypt(
                row.payload_ciphertext, context=outbox_payload_context(row.dedupe_key)
            )
            message = Outgoing.from_json(payload)
        except DecryptionError as exc:
            if exc.reason == "unknown_key":
                # Not this worker's to judge: another worker (or this one restarted with
                # the key) can send it. Claims skip such rows; this covers a key dropped
                # from under a running claim.
                log.warning(
                    "outbox %s (%s): encrypted with a key this worker does not have; "
                    "left for a worker that has it",
                    row.id,
                    row.kind,
                )
                return await self._record(
                    row,
                    _Result(
                        row.id,
                        "released",
                        error=KEY_MISSING,
                        not_before=self.services.clock.now() + KEY_MISSING_DELAY,
                        count_attempt=False,
                    ),
                )
            log.error(
                "outbox %s (%s): payload unreadable (%s); parked", row.id, row.kind, exc.reason
            )
            return await self._record(row, _Result(row.id, "parked", error=UNREADABLE))
        except (ValueError, KeyError, TypeError):
            log.error("outbox %s (%s): payload unreadable; parked", row.id, row.kind)
            return await self._record(row, _Result(row.id, "parked", error=UNREADABLE))
        task = asyncio.current_task()
        assert task is not None
        self._pacing.add(task)
        holding = False
        try:
            if self.limiter is not None:
                await self.limiter.acquire_chat(message.chat_id)
            # A place among the sends in doubt (SEND_IN_DOUBT_MAX): from here until the
            # outcome is recorded, a kill -9 could make this message arrive twice.
            await self._doubt.acquire(0 if row.kind == ALERT else 1)
            holding = True
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            self._pacing.discard(task)
        try:
            if self._stopping:
                return await self._record(row, _Result(row.id, "released", count_attempt=False))
            # Marked as soon as it has its place, before its slot in the overall budget:
            # the rows whose places free together (one outcome batch) share one mark
            # instead of one each as their slots come up, a millisecond apart at 1000/s.
            # A row marked and still waiting for its slot counts as in doubt (it holds its
            # place), so a crash there may log a duplicate that never was, never the reverse.
            if not await self._sending.submit(row.id):
                log.warning("outbox %s: lease lost before sending; left to its new owner", row.id)
                return "lost"
            if self.limiter is not None:
                # The overall slot is taken with the place, not before it: slots reserved
                # while waiting for a place would be used up in a burst once it frees.
                self._pacing.add(task)
                try:
                    await self.limiter.acquire_overall()
                except asyncio.CancelledError:
                    if not self._stopping:
                        raise
                finally:
                    self._pacing.discard(task)
                if self._stopping:
                    # Marked but not sent: back to the queue (not in doubt after all).
                    return await self._record(row, _Result(row.id, "released", count_attempt=False))
            result = await self._attempt(row, message)
            return await self._record(row, result)
        finally:
            if holding:
                self._doubt.release()

    async def _attempt(self, row: OutboxRow, message: Outgoing) -> _Result:
        """One request to Telegram, and what its outcome means for the row."""
        assert row.id is not None
        now = self.services.clock.now()
        try:
            sent = await _send(self.bot, message, self.limiter is not None, self.paid_broadcast)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            log.info("outbox %s (%s): rate limited; retry in %.0fs", row.id, row.kind, seconds)
            metrics.RETRIED.labels(reason="rate_limited").inc()
            return _Result(
                row.id,
                "retry",
                error="rate limited",
                not_before=now + timedelta(seconds=seconds),
                count_attempt=False,
            )
        except Forbidden:
            log.info(
                "outbox %s (%s): recipient unreachable (blocked or deactivated)", row.id, row.kind
            )
            return _Result(row.id, "unreachable", error="recipient blocked the bot")
        except BadRequest as exc:
            log.error(
                "outbox %s (%s): rejected by Telegram (%s); parked",
                row.id,
                row.kind,
                type(exc).__name__,
            )
            return _Result(row.id, "parked", error="rejected: bad request")
        except TelegramError as exc:
            # Timeouts, dropped connections, 5xx: try again later. The request may have
            # arrived all the same (Telegram has no idempotency key), so a retry can repeat it.
            attempts = row.attempts + 1
            if attempts >= self.max_attempts:
                log.error(
                    "outbox %s (%s): %s on attempt %d; parked",
                    row.id,
                    row.kind,
                    type(exc).__name__,
                    attempts,
                )
                return _Result(row.id, "parked", error=f"gave up: {type(exc).__name__}")
            wait = _backoff(attempts)
            log.warning(
                "outbox %s (%s): %s; retry %d in %ds (if it got through, it may arrive twice)",
                row.id,
                row.kind,
                type(exc).__name__,
                attempts,
                wait.total_seconds(),
            )
            metrics.RETRIED.labels(reason="network").inc()
            return _Result(row.id, "retry", error="network error", not_before=now + wait)
        return _Result(row.id, "sent", message_id=sent.message_id, chat_id=sent.chat_id)

    async def _record(self, row: OutboxRow, result: _Result) -> str:
        try:
            result.row = row  # each result is made for this one call
            await self._results.submit(result)
        except Exception as exc:  # noqa: BLE001 - the lease brings the row back later
            log.error(
                "outbox %s: could not record the outcome (%s); it comes back after its lease",
                row.id,
                type(exc).__name__,
            )
            return "unrecorded"
        kind = row.kind
        if result.outcome == "sent":
            metrics.SENT.labels(kind=kind).inc()
        elif result.outcome in ("unreachable", "parked"):
            metrics.FAILED.labels(kind=kind, reason=result.outcome).inc()
        return result.outcome

    # ------------------------------------------------------------------ writes

    async def _write_sending(self, ids: list[int]) -> list[bool]:
        """Note that these rows are about to be sent (taking one over later may duplicate it)."""
        # A Core transaction, not an ORM session: the marks come in small batches (at most
        # SEND_IN_DOUBT_MAX rows), so a session's own bookkeeping would cost more than the
        # statement.
        async with self.services.db.engine.begin() as connection:
            taken = await connection.execute(
                _MARK_SENDING, {"b_ids": ids, "b_owner": self.claim_id}
            )
            ours = {row_id for (row_id,) in taken.all()}
        return [row_id in ours for row_id in ids]

    async def _write_results(self, done: list[_Result]) -> list[None]:
        """Write many outcomes in one transaction, then run the hooks of sent and failed rows.

        One UPDATE for the sent rows and one for the rest (executemany), each guarded by
        what makes the outcome ours to write: a row another worker already marked sent is
        left alone (and logged), and only the lease holder returns or parks a row.
        """
        now = self.services.clock.now()
        async with self.services.db.session() as session:
            connection = await session.connection()
            current = {
                row_id: (status, owner)
                for row_id, status, owner in await connection.execute(
                    _CURRENT, {"b_ids": [result.row_id for result in done]}
                )
            }
            sent: list[dict[str, Any]] = []
            others: list[dict[str, Any]] = []
            delivered: list[Delivered] = []
            unreachable: list[OutboxRow] = []
            for result in done:
                row = result.row
                if row is None or result.row_id not in current:
                    continue
                status, owner = current[result.row_id]
                ours = owner == self.claim_id and status in IN_HAND
                if result.outcome == "sent":
                    if status == OutboxState.SENT:
                        log.warning(
                            "outbox %s (%s): another worker sent it as well", row.id, row.kind
                        )
                        metrics.POSSIBLE_DUPLICATES.inc()
                        continue
                    if not ours:
                        log.warning(
                            "outbox %s (%s): sent after its lease expired", row.id, row.kind
                        )
                    assert result.message_id is not None and result.chat_id is not None
                    sent.append(
                        {"b_id": result.row_id, "b_message": result.message_id, "b_now": now}
                    )
                    delivered.append(Delivered(row, result.message_id, result.chat_id))
                elif ours:
                    others.append(
                        {
                            "b_id": result.row_id,
                            "b_status": _STATUS_AFTER[result.outcome],
                            "b_error": result.error,
                            "b_not_before": result.not_before,
                            "b_attempts": 1 if result.count_attempt else 0,
                            "b_owner": self.claim_id,
                        }
                    )
                    if result.outcome == "unreachable":
                        unreachable.append(row)
            for row in unreachable:
                await self.on_unreachable(session, row, now)
            if delivered:
                await self.on_sent(session, delivered, now)
            if sent:
                await connection.execute(_MARK_SENT, sent)
            if others:
                await connection.execute(_MARK_OTHER, others)
        log.debug("outbox: %d outcomes written (%d sent)", len(done), len(sent))
        return [None] * len(done)

    # ------------------------------------------------------------------ the loop

    def wake(self) -> None:
        """Look for due rows now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until ``stop``: claim, send, record; wait a moment whenever nothing is due.

        Rows flow rather than go in rounds: at most ``batch`` rows are in hand at a time
        (claimed and not yet recorded, the same bound as one claim), and more are claimed
        as soon as half of them are done, so the requests of one claim still under way do
        not leave the line to Telegram idle until the next. When a claim finds nothing, the
        next one waits until everything in hand is recorded (a chat's next message may be
        waiting for it), for ``wake`` or for the poll interval.
        """
        failures = 0
        in_hand: set[asyncio.Task[str]] = set()
        # Wake the loop when no more than this many rows are left in hand.
        low_water = [0]

        def done(task: asyncio.Task[str]) -> None:
            in_hand.discard(task)
            if not task.cancelled() and (error := task.exception()) is not None:
                log.error(
                    "outbox: a send failed (%s); the row comes back after its lease",
                    type(error).__name__,
                )
            if len(in_hand) <= low_water[0]:
                self._wake.set()

        if self.presence is None:
            self.presence = Presence(self.services.db, self.name)
            self.claim_id = self.presence.owner
        loop = asyncio.get_running_loop()
        next_reap = next_key_check = loop.time()
        registered = False
        while not self._stopping:
            # Cleared before claiming: a send finishing during the claim must wake the wait.
            self._wake.clear()
            rows: list[Claimed] = []
            claimed = len(in_hand) < self.batch
            try:
                if loop.time() >= next_reap:
                    # First thing after a start: a restarted worker takes back at once what
                    # its previous run held, instead of waiting out the lease.
                    await self.presence.hold()
                    if not registered:
                        _RUNNING[self.services.db.url] = self.presence
                        registered = True
                    await self.take_over_from_stopped_workers()
                    next_reap = loop.time() + REAP_SECONDS
                if loop.time() >= next_key_check:
                    await self.check_keys()
                    next_key_check = loop.time() + KEY_CHECK_SECONDS
                if claimed:
                    rows = await self.take(self.batch - len(in_hand))
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the loop must outlive a database hiccup
                failures += 1
                log.error("outbox: claiming failed (%s); trying again", type(exc).__name__)
                await asyncio.sleep(min(2.0**failures, 30.0))
                continue
            for row in rows:
                task = asyncio.create_task(self._deliver_one(row))
                in_hand.add(task)
                task.add_done_callback(done)
            if self._stopping:
                break
            # A full hand (nothing claimed) or a claim that found rows: claim again at half.
            # A claim that found nothing: wait until everything in hand is recorded.
            low_water[0] = self.batch // 2 if rows or not claimed else 0
            if rows and len(in_hand) <= low_water[0]:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
        if in_hand:
            await asyncio.gather(*in_hand, return_exceptions=True)
        if registered and _RUNNING.get(self.services.db.url) is self.presence:
            del _RUNNING[self.services.db.url]
        await self.presence.release()

    async def stop(self) -> None:
        """Stop taking work: sends in flight finish and are recorded, waiting ones go back."""
        self._stopping = True
        self._wake.set()
        for task in list(self._pacing):
            task.cancel()


async def _send(bot: Any, message: Outgoing, paced: bool, paid: bool) -> Message:
    extra: dict[str, Any] = {}
    if paced:
        # Already waited for its slot (cancellable, see Sender); a 429 comes back to the
        # outbox, which reschedules the row instead of blocking this task.
        extra["rate_limit_args"] = RequestOptions(paced=True, retries=0)
    if paid:
        extra["allow_paid_broadcast"] = True
    sent: Message
    if message.photo is not None:
        sent = await bot.send_photo(
            message.chat_id,
            photo=InputFile(message.photo, filename=message.filename or "chart.png"),
            caption=message.text or None,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard(message.buttons),
            **extra,
        )
        return sent
    if message.document is not None:
        sent = await bot.send_document(
            message.chat_id,
            document=InputFile(message.document, filename=message.filename or "export.csv"),
            caption=message.text or None,
            parse_mode=ParseMode.HTML,
            **extra,
        )
        return sent
    if message.buttons:
        # The keyboard goes as the Bot API's JSON, the very request an InlineKeyboardMarkup
        # makes, without building and serialising an object per button for every message.
        extra["api_kwargs"] = {"reply_markup": keyboard_json(message.buttons)}
    sent = await bot.send_message(message.chat_id, message.text, parse_mode=ParseMode.HTML, **extra)
    return sent
