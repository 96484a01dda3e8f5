"""A rate limiter shared through Redis by every process of one NXCloud account.

The provider's limit is per account, so N worker processes, each pacing itself
with its own :class:`~nxcloud_ota.AdaptiveRateLimiter`, together send N times
too much until each has learnt its share from 2206 answers.
:class:`RedisRateLimiter` keeps the rate and the schedule in Redis instead, and
behaves like the local limiter across all of them (see :doc:`/scaling`)::

    import redis.asyncio as redis
    from nxcloud_ota import AsyncOtaClient
    from nxcloud_ota.contrib.redis import RedisRateLimiter

    limiter = RedisRateLimiter(redis.Redis.from_url("redis://localhost:6379/0"),
                               account="your-access-key", max_rate=200)
    client = AsyncOtaClient.from_env(rate_limiter=limiter)

:class:`RedisLoginStore` and :class:`RedisBudgets` share the logins an
application started and its budgets on starting them among its processes
(see :class:`nxcloud_ota.contrib.web.LoginGuard` and :doc:`/security`).

It needs the ``redis`` package (``pip install 'nxcloud-ota[redis]'``) and a Redis
server of version 5 or later; ``import nxcloud_ota`` never imports it.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING

from .._ratelimit import AdaptiveRateLimiter
from ._redis_lua import SCRIPT, Reply, Settings, encode_args, parse_reply
from ._redis_web import RedisBudgets, RedisLoginStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisBudgets", "RedisLoginStore", "RedisRateLimiter"]

_log = logging.getLogger("nxcloud_ota")

# (ticket, the slot's local time, when the reservation came back), or None: pace locally
_Slot = tuple[int, float, float] | None


class RedisRateLimiter:
    """Paces every process of an account together, from state kept in Redis.

    It follows :class:`~nxcloud_ota.AdaptiveRateLimiter`, with the rate, the
    generation and the schedule shared:

    - Until the first 2206 (and with no ``max_rate``) it does not wait.
    - :meth:`acquire` reserves the next free slot with one atomic Lua script and
      sleeps until it; nobody polls. Waiters of one process share one round trip:
      whoever is waiting when a call leaves is served by it.
    - A fresh 2206 (one whose ticket is the shared generation) lowers the shared
      rate to ``decrease`` times itself, or to the shared recent rate of
      successes if that is lower, and bumps the generation, so 2206s for
      requests sent before that (from any process) are ignored. Slots reserved
      before it stand; the slots reserved after it follow them at the new pace.
    - Each success adds ``growth`` to the shared rate, up to ``max_rate``.
      Successes are counted locally and sent at most every ``flush_interval``
      seconds, or with the next reservation, whichever comes first.
    - A caller that wakes more than ``late_after`` seconds past its slot (its
      process stalled: a busy machine, a cold start) takes a new slot rather
      than send late, bunched with the requests of the slots after its own.

    ``account`` names the state: ``prefix`` defaults to ``nxcloud:{account}:``
    (braces included: a Redis Cluster hash tag), and the state is the hash
    ``{prefix}ratelimit``, forgotten after ``ttl`` idle seconds. Give every
    process of an account the same options.

    ``clock`` returns seconds for the schedule; by default (``None``) the script
    reads the Redis server's clock, so machines whose clocks disagree still
    agree on the schedule. ``sleep`` and ``random`` (the jitter: each interval is
    ``(0.5 + random()) / rate``) exist for deterministic tests.

    If Redis fails, the limiter logs a warning and paces this process alone with
    a local :class:`~nxcloud_ota.AdaptiveRateLimiter` for ``retry_after``
    seconds before trying Redis again, so an outage of Redis slows logins down
    but does not fail them. The Redis client is not closed by :meth:`aclose`.

    Args:
        redis: A ``redis.asyncio.Redis`` client (``decode_responses`` either way);
            yours to close.
        account: Names the shared state; the account's access key will do. Not
            empty.
        max_rate: A fixed ceiling in requests per second, applied from the start;
            ``None``: unlimited until the first 2206.
        min_rate: The floor of the learnt rate, in requests per second.
        decrease: The factor applied to the shared rate on a fresh 2206 (between
            0 and 1).
        growth: What each success adds to the shared rate, in requests per second.
        window: Seconds over which successes are counted (> 0).
        ttl: Idle seconds after which Redis forgets the state (> 0).
        flush_interval: The longest wait, in seconds, before counted successes
            are sent to Redis.
        retry_after: Seconds to pace locally after Redis failed before trying it
            again.
        late_after: Seconds past its slot after which a caller takes a new slot
            rather than send.
        prefix: The start of the state's key; ``None``: ``nxcloud:{account}:``.
        clock: Seconds for the schedule; ``None``: the Redis server's clock.
        sleep: Waits until a slot.
        random: Numbers in [0, 1) that jitter the slots.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        account: str,
        max_rate: float | None = None,
        min_rate: float = 1.0,
        decrease: float = 0.95,
        growth: float = 0.05,
        window: float = 1.0,
        ttl: float = 3600.0,
        flush_interval: float = 0.1,
        retry_after: float = 5.0,
        late_after: float = 0.05,
        prefix: str | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not account:
            raise ValueError("account must not be empty")
        if ttl <= 0 or window <= 0 or min(flush_interval, retry_after, late_after) < 0:
            raise ValueError(
                "ttl and window must be > 0, flush_interval, retry_after and late_after >= 0"
            )
        # The local limiter checks max_rate, min_rate and decrease the same way.
        self._fallback = AdaptiveRateLimiter(
            max_rate=max_rate,
            min_rate=min_rate,
            decrease=decrease,
            growth=growth,
            window=window,
            clock=clock or time.monotonic,
            sleep=sleep,
            random=random,
        )
        self._settings = Settings(max_rate, min_rate, decrease, growth, window, ttl)
        self.key: str = f"{f'nxcloud:{{{account}}}:' if prefix is None else prefix}ratelimit"
        """The Redis key of the shared state."""
        self.flush_interval = flush_interval
        self.retry_after = retry_after
        self.late_after = late_after
        """Seconds past its slot after which a caller takes a new slot rather than send."""
        self._script = redis.register_script(SCRIPT)
        self._clock = clock
        self._now = clock or time.monotonic  # local time, for sleeping until a slot
        self._sleep = sleep
        self._random = random
        self._rate: float | None = max_rate
        self._generation = 0
        self._pending = 0  # successes not yet sent
        self._waiters: deque[asyncio.Future[_Slot]] = deque()
        self._reserver: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # the next flush of successes
        self._tasks: set[asyncio.Task[Reply | None]] = set()  # flushes and 2206 reports
        self._reporting: set[int] = set()  # tickets whose 2206 is being reported
        self._down_until = -float("inf")
        self.throttled: int = 0
        """How many 2206 answers this process has seen."""

    def __repr__(self) -> str:
        return f"RedisRateLimiter(key={self.key!r}, rate={self._rate!r})"

    @property
    def max_rate(self) -> float | None:
        """The ceiling, in requests per second (``None``: none)."""
        return self._settings.max_rate

    @property
    def rate(self) -> float | None:
        """The shared rate as last seen from Redis; ``None`` while unlimited."""
        return self._rate

    @property
    def generation(self) -> int:
        """The shared generation as last seen: the ticket a fresh request gets."""
        return self._generation

    # -- the RateLimiter protocol ---------------------------------------------------

    async def acquire(self) -> int:
        """Reserve the next shared slot, sleep until it, and return the generation
        it was reserved in."""
        while time.monotonic() >= self._down_until:
            waiter: asyncio.Future[_Slot] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            if self._reserver is None:
                self._reserver = asyncio.create_task(self._reserve())
            slot = await waiter
            if slot is None:
                break
            ticket, at, received = slot
            if (delay := at - self._now()) > 0:
                await self._sleep(delay)
            if self._now() - max(at, received) <= self.late_after:
                return ticket
            # This process stalled in its sleep, past its slot (a busy machine):
            # sent now, the request would reach the provider bunched with later
            # ones. Take a new slot instead.
        # Redis failed: pace this process alone. Its tickets are negative.
        return -1 - await self._fallback.acquire()

    def on_success(self, ticket: int) -> None:
        """Count a success; it reaches Redis within ``flush_interval`` seconds.

        Args:
            ticket: What :meth:`acquire` returned for that request.
        """
        if ticket < 0:
            self._fallback.on_success(-1 - ticket)
            return
        self._pending += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self.flush_interval, self._flush_now
            )

    def on_throttle(self, ticket: int) -> None:
        """A 2206: lower the shared rate, unless the ticket is stale.

        A ticket older than the generation already seen, or one being reported,
        costs no round trip.

        Args:
            ticket: What :meth:`acquire` returned for that request.
        """
        self.throttled += 1
        if ticket < 0:
            self._fallback.on_throttle(-1 - ticket)
        elif ticket >= self._generation and ticket not in self._reporting:
            self._reporting.add(ticket)
            self._spawn(self._call("throttle", ticket=ticket)).add_done_callback(
                lambda _: self._reporting.discard(ticket)
            )

    # -- flushing and closing -----------------------------------------------------------

    async def flush(self) -> None:
        """Send the batched successes now, and wait for the 2206 reports in flight."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            await self._call("flush")
        while self._tasks:
            await asyncio.gather(*self._tasks)

    async def aclose(self) -> None:
        """Flush (see :meth:`flush`); the Redis client stays open, it is yours."""
        await self.flush()

    async def __aenter__(self) -> RedisRateLimiter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the work -------------------------------------------------------------------

    async def _call(
        self, op: str, *, ticket: int = -1, jitters: tuple[float, ...] = ()
    ) -> Reply | None:
        """Run the script (with the batched successes); ``None`` if Redis failed."""
        successes, self._pending = self._pending, 0
        args = encode_args(
            op,
            self._settings,
            now=None if self._clock is None else self._clock(),
            successes=successes,
            ticket=ticket,
            jitters=jitters,
        )
        try:
            reply = parse_reply(await self._script(keys=[self.key], args=args))
        except Exception as exc:  # Redis down, or not a Redis we understand
            if time.monotonic() >= self._down_until:
                _log.warning(
                    "redis rate limiter %s failed (%s: %s); pacing this process alone for %g s",
                    self.key,
                    type(exc).__name__,
                    exc,
                    self.retry_after,
                )
            self._down_until = time.monotonic() + self.retry_after
            return None
        # Redis is the truth, even when it went back: the state may have expired.
        self._generation, self._rate = reply.generation, reply.rate
        return reply

    async def _reserve(self) -> None:
        """Serve the waiters, all those present in one round trip, until none is left."""
        batch: list[asyncio.Future[_Slot]] = []
        try:
            while self._waiters:
                batch = [w for w in self._waiters if not w.done()]
                self._waiters.clear()
                if not batch:
                    continue
                jitters = tuple(0.5 + self._random() for _ in batch)
                sent = self._now()  # the script's time, at the earliest
                reply = await self._call("acquire", jitters=jitters)
                received = self._now()
                for number, waiter in enumerate(batch):
                    if not waiter.done():  # a cancelled waiter wastes its slot
                        waiter.set_result(
                            None
                            if reply is None
                            else (reply.generation, sent + reply.delays[number], received)
                        )
        except asyncio.CancelledError:  # pragma: no cover - the loop is shutting down
            for waiter in [*batch, *self._waiters]:
                waiter.cancel()
            raise
        finally:
            self._reserver = None

    def _flush_now(self) -> None:
        self._timer = None
        if self._pending:
            self._spawn(self._call("flush"))

    def _spawn(self, call: Coroutine[object, object, Reply | None]) -> asyncio.Task[Reply | None]:
        task = asyncio.get_running_loop().create_task(call)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
