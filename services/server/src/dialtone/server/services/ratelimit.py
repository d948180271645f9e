"""Token-bucket rate limits per key (user id, client IP), held in the application, not globally."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import attrs


@attrs.define
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Many token buckets with one rate and burst, bounded in memory (least recently used out).

    Args:
        rate_per_second: Tokens added per second.
        burst: Bucket capacity (requests allowed at once).
        monotonic: Time source in seconds.
        max_keys: Keys kept before the least recently used are forgotten (a forgotten key starts
            again with a full bucket, which only ever errs on the permissive side).
    """

    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        monotonic: Callable[[], float],
        max_keys: int = 100_000,
    ) -> None:
        self._rate = rate_per_second
        self._burst = float(burst)
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens from `key`'s bucket.

        Args:
            key: What is limited (e.g. `"user:<id>"`, `"ip:<addr>"`).
            cost: Tokens the request costs.

        Returns:
            0.0 when allowed; otherwise the seconds to wait before it would be allowed.
        """
        now = self._monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=self._burst, updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self._rate


@attrs.frozen
class RateLimits:
    """The server's limiters: per user, per IP, and a stricter one for login/register per IP."""

    per_user: RateLimiter
    per_ip: RateLimiter
    auth_per_ip: RateLimiter
