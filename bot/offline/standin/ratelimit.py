"""Flood control like Telegram's: per chat, per group per minute and overall.

Telegram's guidance (core.telegram.org/bots/faq): about one message per second in one chat
(short bursts tolerated, then 429), at most 20 messages per minute in a group, and about
30 messages per second overall. Each limit here is a token bucket on the injectable
monotonic clock, so tests decide exactly when time passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FloodControl", "TokenBucket"]


@dataclass
class TokenBucket:
    """``rate`` tokens per second, holding at most ``capacity`` tokens."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float, cost: float) -> float:
        """Seconds until ``cost`` tokens are available (0 if they are now)."""
        self._refill(now)
        if self.tokens >= cost:
            return 0.0
        return (cost - self.tokens) / self.rate

    def take(self, now: float, cost: float) -> None:
        """Consume ``cost`` tokens (call only after ``wait_time`` returned 0)."""
        self._refill(now)
        self.tokens -= cost


class FloodControl:
    """Decides whether a send is allowed now; limits set to None are off."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        per_chat_burst: int = 1,
        group_per_minute: float | None = None,
    ) -> None:
        self._clock = clock
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self.group_per_minute = group_per_minute
        self.rejections = 0
        self._global: TokenBucket | None = None
        self._chats: dict[int, TokenBucket] = {}
        self._groups: dict[int, TokenBucket] = {}

    def configure(
        self,
        *,
        global_rate: float | None,
        per_chat_rate: float | None,
        per_chat_burst: int | None = None,
        group_per_minute: float | None = None,
    ) -> None:
        """Replace the limits; accounting starts afresh."""
        for rate in (global_rate, per_chat_rate, group_per_minute):
            if rate is not None and rate <= 0:
                raise ValueError("rates must be positive (or None to switch a limit off)")
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        if per_chat_burst is not None:
            self.per_chat_burst = per_chat_burst
        self.group_per_minute = group_per_minute
        self._global = None
        self._chats.clear()
        self._groups.clear()

    def _bucket(
        self, store: dict[int, TokenBucket], key: int, rate: float, capacity: float, now: float
    ) -> TokenBucket:
        bucket = store.get(key)
        if bucket is None or bucket.rate != rate or bucket.capacity != capacity:
            bucket = TokenBucket(rate=rate, capacity=capacity, tokens=capacity, updated=now)
            store[key] = bucket
        return bucket

    def check(
        self, chat_id: int, *, is_group: bool, cost: int, counts_globally: bool
    ) -> int | None:
        """Consume quota for a send and return None, or return retry_after seconds (>= 1)."""
        now = self._clock()
        buckets: list[TokenBucket] = []
        if self.per_chat_rate is not None:
            capacity = max(1.0, float(self.per_chat_burst))
            buckets.append(self._bucket(self._chats, chat_id, self.per_chat_rate, capacity, now))
        if is_group and self.group_per_minute is not None:
            buckets.append(
                self._bucket(
                    self._groups, chat_id, self.group_per_minute / 60.0, self.group_per_minute, now
                )
            )
        if counts_globally and self.global_rate is not None:
            if self._global is None:
                capacity = max(1.0, self.global_rate)
                self._global = TokenBucket(self.global_rate, capacity, capacity, now)
            buckets.append(self._global)
        # A request needing more than a full bucket (a big media group) may spend the burst.
        wait = max((b.wait_time(now, min(cost, b.capacity)) for b in buckets), default=0.0)
        if wait > 0:
            self.rejections += 1
            return max(1, math.ceil(wait - 1e-9))
        for bucket in buckets:
            bucket.take(now, min(cost, bucket.capacity))
        return None
