"""Flood control on our side of the wire: every Bot API request of the process passes here.

Telegram allows a bot about 30 messages per second overall (up to 1000/s with paid
broadcasts) and about one message per second in one chat, tolerating short bursts
(core.telegram.org/bots/faq, "My bot is hitting limits"). Staying under those limits
is cheaper than being told off with 429 Too Many Requests, so new messages wait here
for their slot first.

Pacing uses GCRA (the "virtual scheduling" form of a token bucket): each send reserves
the earliest slot the budget allows, so waiters are served in order and nothing polls.
Edits and callback answers are replies to the person's own tap; the person's pace bounds
them, so they are not paced, but a chat held after a 429 holds them too.

The limiter is installed as python-telegram-bot's rate limiter
(ApplicationBuilder.rate_limiter), so handler replies and outbox sends share one budget.
It is per process: with several workers each gets a share of the bot's budget
(SEND_RATE_GLOBAL, see docs/operations.md).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypedDict

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)
# A Bot API result as PTB passes it (PTB's own alias lives in a private module).
JSONDict = dict[str, Any]

# Methods that put a new message into a chat: these count against both budgets.
_SENDS = frozenset(
    {
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
        "sendAnimation",
        "sendAudio",
        "sendContact",
        "sendDice",
        "sendDocument",
        "sendInvoice",
        "sendLocation",
        "sendMediaGroup",
        "sendMessage",
        "sendPaidMedia",
        "sendPhoto",
        "sendPoll",
        "sendSticker",
        "sendVenue",
        "sendVideo",
        "sendVideoNote",
        "sendVoice",
    }
)
# Forget a chat's pacing state once it is this far in the past (keeps memory flat).
_PRUNE_AFTER = 60.0
_PRUNE_EVERY = 4096


class RequestOptions(TypedDict, total=False):
    """Per-request options (python-telegram-bot's ``rate_limiter_args``)."""

    paced: bool  # the caller already waited for its slot (the outbox does, to stay cancellable)
    retries: int  # how often a 429 is retried here; the outbox passes 0 and reschedules itself


def retry_after_seconds(exc: RetryAfter) -> float:
    """retry_after as seconds (python-telegram-bot gives int or timedelta)."""
    wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


class Gcra:
    """One rate: ``rate`` events per second with bursts of up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int = 1, margin: float = 0.0) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.interval = (1.0 + margin) / rate
        self.tolerance = (burst - 1) * self.interval
        self.tat = 0.0  # theoretical arrival time of the next event

    def reserve(self, now: float) -> float:
        """Reserve the next slot; returns seconds to wait before using it (0 if now)."""
        start = max(now, self.tat - self.tolerance)
        self.tat = max(self.tat, start) + self.interval
        return start - now

    def hold_until(self, moment: float) -> None:
        """Nothing before ``moment`` (Telegram said retry_after)."""
        self.tat = max(self.tat, moment + self.tolerance)
        self.held_until = max(self.held_until, moment)

    held_until: float = 0.0


class Gate:
    """At most ``size`` holders at once; waiters with a lower priority number go first,
    then in arrival order (a semaphore with a priority lane)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.held = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def acquire(self, priority: int = 1) -> None:
        """Wait for a place; ``release`` it afterwards."""
        if self.held < self.size and not self._waiters:
            self.held += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrivals), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed the place just as it was cancelled: pass it on
            else:
                future.cancel()  # skipped when its turn comes
            raise

    def release(self) -> None:
        """Give the place to the first waiter, or free it."""
        while self._waiters:
            _priority, _arrival, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the place passes on; ``held`` stays
                return
        self.held -= 1


class FloodControl(BaseRateLimiter[RequestOptions]):
    """Paces new messages overall and per chat; honours retry_after for the chat it names."""

    def __init__(
        self,
        *,
        global_rate: float = 30.0,
        per_chat_rate: float = 1.0,
        per_chat_burst: int = 3,
        max_in_flight: int = 32,
        max_in_doubt: int = 1,
        retries: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self.retries = retries
        self._clock = clock
        # A global burst of a few messages keeps Telegram's own bucket nearly full, so
        # jitter on the wire never tips it over (Telegram's bucket holds about a second).
        self._global = Gcra(global_rate, burst=max(1, min(5, int(global_rate // 10) or 1)))
        self._chats: dict[int | str, Gcra] = {}
        self._reservations = 0
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.max_in_flight = max_in_flight
        # Outbox sends on the wire whose outcome is not yet recorded (bot.sending.outbox): shared by
        # every sender of the process, so the bound holds per process (SEND_IN_DOUBT_MAX).
        self.in_doubt = Gate(max_in_doubt)
        self.rate_limited = 0  # 429 answers seen (for metrics)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def _chat(self, chat_id: int | str) -> Gcra:
        pacer = self._chats.get(chat_id)
        if pacer is None:
            # 5 % slack: requests reach Telegram with jitter, and two sends to one chat a
            # hair under a second apart on arrival are already too close for its counter.
            pacer = Gcra(self.per_chat_rate, self.per_chat_burst, margin=0.05)
            self._chats[chat_id] = pacer
        return pacer

    def _prune(self, now: float) -> None:
        self._reservations += 1
        if self._reservations % _PRUNE_EVERY:
            return
        stale = [key for key, pacer in self._chats.items() if pacer.tat < now - _PRUNE_AFTER]
        for key in stale:
            del self._chats[key]

    async def acquire(self, chat_id: int | str | None, *, new_message: bool = True) -> None:
        """Wait for this chat's slot, then for a slot in the overall budget."""
        await self.acquire_chat(chat_id, new_message=new_message)
        if new_message:
            await self.acquire_overall()

    async def acquire_chat(self, chat_id: int | str | None, *, new_message: bool = True) -> None:
        """Wait for this chat's slot (or the end of its hold, for an edit)."""
        now = self._clock()
        if chat_id is not None:
            pacer = self._chat(chat_id)
            wait = pacer.reserve(now) if new_message else max(0.0, pacer.held_until - now)
            if wait > 0:
                await asyncio.sleep(wait)
            self._prune(now)

    async def acquire_overall(self) -> None:
        """Wait for a slot in the overall budget."""
        wait = self._global.reserve(self._clock())
        if wait > 0:
            await asyncio.sleep(wait)

    def _done(self, chat_id: int | str | None) -> None:
        # Count the chat's spacing from when Telegram answered, too: the request left
        # after its slot but may have arrived late, and the next one must not crowd it.
        if chat_id is not None:
            pacer = self._chat(chat_id)
            pacer.tat = max(pacer.tat, self._clock() + pacer.interval - pacer.tolerance)

    def hold(self, chat_id: int | str | None, seconds: float) -> None:
        """Telegram answered 429 for this chat: nothing more to it for ``seconds``."""
        self.rate_limited += 1
        if chat_id is not None:
            self._chat(chat_id).hold_until(self._clock() + seconds)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: RequestOptions | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Pace, send, and retry a 429 after the time Telegram asked for."""
        options: RequestOptions = rate_limit_args or {}
        chat_id = data.get("chat_id")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        new_message = endpoint in _SENDS
        retries = options.get("retries", self.retries)
        attempt = 0
        while True:
            if not options.get("paced") or attempt:
                await self.acquire(chat_id, new_message=new_message)
            try:
                if new_message:
                    async with self._in_flight:
                        try:
                            return await callback(*args, **kwargs)
                        finally:
                            self._done(chat_id)
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                self.hold(chat_id, seconds)
                if attempt >= retries:
                    raise
                attempt += 1
                log.info("flood control: %s retried after %.1fs", endpoint, seconds)


def from_settings(settings: Any) -> FloodControl:
    """The limiter configured by SEND_RATE_GLOBAL, SEND_RATE_PER_CHAT and friends."""
    return FloodControl(
        global_rate=settings.send_rate_global,
        per_chat_rate=settings.send_rate_per_chat,
        per_chat_burst=settings.send_burst_per_chat,
        max_in_flight=settings.send_concurrency,
        max_in_doubt=settings.send_in_doubt_max,
    )
