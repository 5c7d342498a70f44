"""Polling without losing updates in a crash: each batch is written down before it is confirmed.

Telegram's ``getUpdates`` treats every update below the ``offset`` of the next call as
delivered and never sends it again. python-telegram-bot's own Updater asks for the next
batch as soon as the last one is queued in memory, so a process killed with ``kill -9``
(an OOM kill, a power cut) loses every update fetched but not yet handled — a risk
message included. This poller writes each batch to the ``update_inbox`` table (the raw
update, encrypted: it holds what the person wrote) in one transaction *before* asking
for the next one, and handles the updates from there:

1. ``getUpdates(offset)`` returns a batch;
2. the batch is written to the inbox (updates already there — Telegram sends a batch
   again when the process died before confirming it — are left alone);
3. the next ``getUpdates`` confirms the batch to Telegram, while the updates are handled
   through the Application's update processor, as webhook updates are;
4. each handled update's row is marked finished and its payload cleared.

On start, rows left unfinished by a process that died are handled first. The
processed-update guard (``bot.updates.drop_duplicates``) keeps the effect of an
update handled twice (before and after a crash) to one. Polling is one process per bot
(Telegram answers two pollers with 409 Conflict), so rows left unfinished at start-up
belong to a process that has stopped.

If the database cannot take a batch, the batch is handled from memory anyway and
confirmed — the crisis reply must never wait for storage — and a warning says that
those updates would not survive a crash.

Everything used here is python-telegram-bot's public API: ``Bot.get_updates``,
``Bot.delete_webhook``, ``Update.de_json`` and ``Application.update_processor`` /
``Application.process_update`` (the documented way to feed updates in yourself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import delete, insert
from sqlalchemy import update as update_statement
from sqlmodel import col, select
from telegram import Update
from telegram.error import RetryAfter, TelegramError

from bot.services import Services
from bot.transport import UPDATES_REQUEST_KEY, UpdatesRequest
from storage.crypto import inbox_payload_context
from storage.models import InboxUpdate, ProcessedUpdate

log = logging.getLogger(__name__)

# Where the Application keeps the inbox (handlers reach it through context.bot_data).
BOT_DATA_KEY: Final = "inbox"
# Telegram keeps an unconfirmed update for a day; a finished row (no content) is kept
# twice as long, so a copy sent again after a crash is always recognised.
TOMBSTONE_RETENTION: Final = timedelta(days=2)
PRUNE_EVERY: Final = timedelta(hours=1)
# Seconds between attempts when getUpdates fails (network, 5xx), growing to the last.
BACKOFF: Final = (1.0, 2.0, 5.0, 10.0, 30.0)


class UpdateInbox:
    """Long polling whose updates survive a crash of the process (see the module docstring)."""

    def __init__(
        self,
        application: Any,
        services: Services,
        *,
        allowed_updates: Sequence[str] | None = None,
        poll_timeout: float = 10.0,
    ) -> None:
        self.application = application
        self.services = services
        self.allowed_updates = list(allowed_updates) if allowed_updates is not None else None
        self.poll_timeout = poll_timeout
        self._offset: int | None = None
        self._replayed: set[int] = set()
        self._in_flight: set[int] = set()
        self._handling: set[asyncio.Task[None]] = set()
        self._finished: list[int] = []
        self._finished_wake = asyncio.Event()
        self._polling: asyncio.Task[None] | None = None
        self._marking: asyncio.Task[None] | None = None
        self._last_prune = services.clock.now() - PRUNE_EVERY
        application.bot_data[BOT_DATA_KEY] = self

    # ----------------------------------------------------------------- questions

    def replayed(self, update_id: int) -> bool:
        """Whether this update was left unfinished by a process that stopped (see above)."""
        return update_id in self._replayed

    @property
    def in_flight(self) -> int:
        """Updates being handled now."""
        return len(self._in_flight)

    # ----------------------------------------------------------------- life cycle

    async def start(self) -> int:
        """Handle what a stopped process left unfinished, then start polling; returns that count."""
        await self.application.bot.delete_webhook(drop_pending_updates=False)
        left = await self._unfinished()
        if left:
            log.warning(
                "%d update(s) left unhandled by a stopped process; handling them now", len(left)
            )
        self._marking = asyncio.create_task(self._mark_finished_loop(), name="inbox-finished")
        for update in left:
            self._replayed.add(update.update_id)
            self._dispatch(update)
        self._polling = asyncio.create_task(self._poll_loop(), name="inbox-polling")
        return len(left)

    async def stop(self) -> None:
        """Stop fetching, let updates in hand finish, record them, confirm the last batch."""
        if self._polling is not None:
            self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
            self._polling = None
        if self._handling:
            await asyncio.gather(*self._handling, return_exceptions=True)
        if self._marking is not None:
            self._marking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._marking
            self._marking = None
        await self._flush_finished()
        if self._offset is not None:
            # Confirms the last batch, so the next start is not sent it again (which
            # would be harmless: the inbox knows it). Whatever this call returns stays
            # unconfirmed at Telegram for the next process.
            with contextlib.suppress(TelegramError):
                await self.application.bot.get_updates(
                    offset=self._offset, timeout=0, allowed_updates=self.allowed_updates
                )

    # ----------------------------------------------------------------- polling

    async def _poll_loop(self) -> None:
        """Fetch, write down, confirm (with the next fetch), handle — until cancelled."""
        failures = 0
        while True:
            try:
                updates = await self.application.bot.get_updates(
                    offset=self._offset,
                    timeout=self.poll_timeout,
                    allowed_updates=self.allowed_updates,
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except Exception as exc:  # noqa: BLE001 - polling must outlive any failure
                # Timeouts, 5xx, 409 Conflict (another poller, or a webhook set), a reply
                # that is not an update: all are retried, more slowly each time.
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                log.warning("getUpdates failed (%s); retrying in %.0f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if not updates:
                continue
            for update in await self._write_down(updates):
                self._dispatch(update)
            # Only now may the next call confirm this batch to Telegram.
            self._offset = updates[-1].update_id + 1

    async def _write_down(self, updates: Sequence[Update]) -> list[Update]:
        """Store the batch; return the updates to handle (those not already in the inbox)."""
        ids = [u.update_id for u in updates]
        try:
            async with self.services.db.session() as session:
                known = set(
                    (
                        await session.exec(
                            select(InboxUpdate.update_id).where(col(InboxUpdate.update_id).in_(ids))
                        )
                    ).all()
                )
                now = self.services.clock.now()
                cipher = self.services.cipher
                rows = [
                    {
                        "update_id": update.update_id,
                        "received_at": now,
                        "finished_at": None,
                        "payload_ciphertext": cipher.encrypt(
                            self._as_received(update),
                            context=inbox_payload_context(update.update_id),
                        ),
                    }
                    for update in updates
                    if update.update_id not in known
                ]
                if rows:
                    # One executemany INSERT for the batch, no ORM objects to build and flush.
                    connection = await session.connection()
                    await connection.execute(insert(InboxUpdate), rows)
        except Exception as exc:  # noqa: BLE001 - any storage failure: handle from memory
            log.warning(
                "could not write %d polled update(s) to the inbox (%s); handling them from "
                "memory, so a crash now would lose them",
                len(updates),
                type(exc).__name__,
            )
            return [u for u in updates if u.update_id not in self._in_flight]
        fresh = [u for u in updates if u.update_id not in known]
        if len(fresh) < len(updates):
            log.info(
                "%d update(s) sent again by Telegram were already in the inbox",
                len(updates) - len(fresh),
            )
        return fresh

    def _as_received(self, update: Update) -> str:
        """The update's JSON as Telegram sent it (kept by the getUpdates transport,
        bot.transport.UpdatesRequest); rebuilt from the parsed update when it is not there.

        Rebuilding (``Update.to_dict``) walks every object of the update in Python; the
        JSON as received reads back into the same update (``_read``).
        """
        request = self.application.bot_data.get(UPDATES_REQUEST_KEY)
        raw = request.received(update.update_id) if isinstance(request, UpdatesRequest) else None
        return json.dumps(raw if raw is not None else update.to_dict(), ensure_ascii=False)

    # ----------------------------------------------------------------- handling

    def _dispatch(self, update: Update) -> None:
        """Handle the update in its own task, in arrival order per person (bot.updates)."""
        self._in_flight.add(update.update_id)
        task = asyncio.create_task(self._handle(update), name=f"inbox-update-{update.update_id}")
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _handle(self, update: Update) -> None:
        """Run every handler for the update, then record it as finished."""
        application = self.application
        try:
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        except Exception:  # noqa: BLE001 - handler errors go to the error handler; this is a bug
            log.exception("update %s could not be processed", update.update_id)
        finally:
            self._in_flight.discard(update.update_id)
        # Not reached on cancellation: an update cut off at shutdown stays unfinished and
        # is handled again by the next process.
        self._finished.append(update.update_id)
        self._finished_wake.set()

    async def _mark_finished_loop(self) -> None:
        """Record handled updates, as many at once as have finished meanwhile."""
        while True:
            await self._finished_wake.wait()
            self._finished_wake.clear()
            try:
                await self._flush_finished()
            except Exception as exc:  # noqa: BLE001 - retried with the next ones
                log.warning("could not mark handled updates in the inbox (%s)", type(exc).__name__)
                await asyncio.sleep(1.0)
                self._finished_wake.set()

    async def _flush_finished(self) -> None:
        """Mark the handled updates finished and clear their content (then prune, now and then)."""
        if not self._finished:
            return
        ids, self._finished = self._finished, []
        try:
            await mark_finished(self.services, ids)
        except BaseException:
            self._finished = ids + self._finished
            raise
        now = self.services.clock.now()
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            await prune_inbox(self.services)

    async def _unfinished(self) -> list[Update]:
        """Updates a stopped process wrote down and did not finish, oldest first.

        One whose handlers had all run (the processed-update table says so) but whose
        inbox row was not yet marked is only marked now: handling it again would repeat
        what runs before the duplicate guard (the crisis reply).
        """
        async with self.services.db.session() as session:
            rows = (
                await session.exec(
                    select(InboxUpdate)
                    .where(col(InboxUpdate.finished_at).is_(None))
                    .order_by(col(InboxUpdate.update_id))
                )
            ).all()
            ids = [r.update_id for r in rows]
            done = set(
                (
                    await session.exec(
                        select(ProcessedUpdate.update_id)
                        .where(col(ProcessedUpdate.update_id).in_(ids))
                        .where(col(ProcessedUpdate.finished_at).is_not(None))
                    )
                ).all()
            )
        if done:
            await mark_finished(self.services, done)
        left: list[Update] = []
        for row in rows:
            if row.update_id in done or row.payload_ciphertext is None:
                continue
            update = self._read(row)
            if update is not None:
                left.append(update)
        return left

    def _read(self, row: InboxUpdate) -> Update | None:
        """The update stored in a row; None (logged) if it cannot be read."""
        assert row.payload_ciphertext is not None
        try:
            payload = self.services.cipher.decrypt(
                bytes(row.payload_ciphertext), context=inbox_payload_context(row.update_id)
            )
            return Update.de_json(json.loads(payload), self.application.bot)
        except Exception as exc:  # noqa: BLE001 - e.g. the key it was written with is gone
            log.error(
                "update %s in the inbox cannot be read (%s); left there",
                row.update_id,
                type(exc).__name__,
            )
            return None


async def mark_finished(services: Services, update_ids: Iterable[int]) -> None:
    """Mark inbox rows finished and drop their content."""
    ids = list(update_ids)
    if not ids:
        return
    async with services.db.session() as session:
        await session.exec(
            update_statement(InboxUpdate)
            .where(col(InboxUpdate.update_id).in_(ids))
            .values(finished_at=services.clock.now(), payload_ciphertext=None)
        )


async def prune_inbox(services: Services) -> None:
    """Forget finished rows older than Telegram could send their update again."""
    cutoff = services.clock.now() - TOMBSTONE_RETENTION
    async with services.db.session() as session:
        await session.exec(
            delete(InboxUpdate)
            .where(col(InboxUpdate.finished_at).is_not(None))
            .where(col(InboxUpdate.finished_at) < cutoff)
        )


def _seconds(value: object) -> float:
    """RetryAfter.retry_after as seconds (an int or a timedelta, by PTB version)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    return 1.0
