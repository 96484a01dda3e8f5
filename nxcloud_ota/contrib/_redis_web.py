"""The Redis-backed store of started logins and budgets of :mod:`nxcloud_ota.contrib.web`,
so that every process of an application shares them."""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._models import VerifyStatus
from .web import Limit, MemoryBudgets, StartedLogin

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisBudgets", "RedisLoginStore"]

_log = logging.getLogger("nxcloud_ota")

# A window of events per key, in a sorted set scored by time (see window_wait).
_SPEND = """
local key = KEYS[1]
local count = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then  -- the server's clock
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
local held = redis.call('ZCARD', key)
if held < count then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(period * 1000))
  return '0'
end
local oldest = redis.call('ZRANGE', key, held - count, held - count, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + period - now)
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLoginStore:
    """A :class:`~nxcloud_ota.contrib.web.LoginStore` in Redis: one key per login,
    ``{prefix}login:{request_id}``, holding its phone and status as JSON and
    expiring with the login's time to live.

    Errors of Redis are raised: a login that cannot be looked up is not asked
    about. The Redis client (``decode_responses`` either way) is yours to close.

    Args:
        redis: A ``redis.asyncio.Redis`` client.
        prefix: The start of every key; give each application its own.
    """

    def __init__(self, redis: Redis, *, prefix: str = "nxcloud:") -> None:
        self._redis = redis
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"RedisLoginStore(prefix={self.prefix!r})"

    def _key(self, request_id: str) -> str:
        return f"{self.prefix}login:{request_id}"

    async def save(self, login: StartedLogin, ttl: float) -> None:
        """Keep ``login`` for ``ttl`` seconds.

        Args:
            login: The login to keep.
            ttl: Seconds to keep it.
        """
        value = json.dumps({"phone": login.phone, "status": login.status.value})
        await self._redis.set(self._key(login.request_id), value, px=math.ceil(ttl * 1000))

    async def get(self, request_id: str) -> StartedLogin | None:
        """The login kept under ``request_id``, or ``None``.

        Args:
            request_id: The id of the login.
        """
        raw = await self._redis.get(self._key(request_id))
        if raw is None:
            return None
        fields = json.loads(_text(raw))
        return StartedLogin(request_id, fields["phone"], VerifyStatus(fields["status"]))

    async def discard(self, request_id: str) -> None:
        """Forget ``request_id``.

        Args:
            request_id: The id of the login.
        """
        await self._redis.delete(self._key(request_id))


class RedisBudgets:
    """:class:`~nxcloud_ota.contrib.web.Budgets` in Redis, shared by every process.

    Each key is a sorted set of its events' times, ``{prefix}budget:{key}``,
    checked and added to by one atomic Lua script and expiring one period after
    its last event. Times come from the Redis server's clock, so machines whose
    clocks disagree still agree; ``clock`` replaces it in tests.

    If Redis fails, a warning is logged and this process counts alone, in
    memory, for ``retry_after`` seconds before trying Redis again: an outage
    loosens the budgets to one per process, it does not stop logins. The Redis
    client is yours to close.

    Args:
        redis: A ``redis.asyncio.Redis`` client (``decode_responses`` either way).
        prefix: The start of every key; give each application its own.
        retry_after: Seconds to count in memory after Redis failed before trying
            it again.
        clock: Seconds for the events' times, instead of the Redis server's
            clock; for tests.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "nxcloud:",
        retry_after: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._script = redis.register_script(_SPEND)
        self.prefix = prefix
        self.retry_after = retry_after
        self._clock = clock
        self._fallback = MemoryBudgets()
        self._down_until = -math.inf

    def __repr__(self) -> str:
        return f"RedisBudgets(prefix={self.prefix!r})"

    async def spend(self, key: str, limit: Limit) -> float:
        """Count one event for ``key`` if ``limit`` allows it (see
        :class:`~nxcloud_ota.contrib.web.Budgets`).

        Args:
            key: What is counted.
            limit: The budget of ``key``.
        """
        if time.monotonic() < self._down_until:
            return await self._fallback.spend(key, limit)
        now = "" if self._clock is None else repr(self._clock())
        args: list[str | int] = [limit.count, repr(float(limit.period)), now, uuid.uuid4().hex]
        try:
            wait = await self._script(keys=[f"{self.prefix}budget:{key}"], args=args)
        except Exception as exc:  # Redis down, or not a Redis we understand
            _log.warning(
                "redis budgets %s failed (%s: %s); counting in this process alone for %g s",
                self.prefix,
                type(exc).__name__,
                exc,
                self.retry_after,
            )
            self._down_until = time.monotonic() + self.retry_after
            return await self._fallback.spend(key, limit)
        return float(_text(wait))
