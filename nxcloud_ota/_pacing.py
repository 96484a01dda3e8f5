"""Pacing a request at the moment it is sent, while its signature stays fresh.

A rate limiter that grants a request its turn before the request has a
connection does not pace what the provider sees: opening the connection takes
a variable time (more on a busy machine), and requests granted evenly reach the
provider bunched. So the client's own transports let the limiter grant the turn
once the connection is ready, right before the request is written (see
``httpx``'s ``trace`` extension and :class:`AiohttpTransport`).

By then the request is signed: its ``ts`` ages while it waits for its turn, and
the provider refuses a ``ts`` more than 60 s old. :class:`SendGate` bounds that
wait: only as many requests as the limiter lets through in ``horizon`` seconds
may be signed and waiting at once; the others wait before they are signed.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable

__all__ = ["HORIZON", "MAX_SIGNED_WAIT", "SendGate", "StaleSignature"]

HORIZON = 5.0
"""Seconds of traffic, at the current rate, that may be signed and waiting."""
MAX_SIGNED_WAIT = 30_000
"""Milliseconds after signing past which a request is not sent when its turn
comes (half the provider's window): it is signed again instead."""


class StaleSignature(Exception):
    """A request's turn came more than :data:`MAX_SIGNED_WAIT` ms after it was
    signed: it was not sent, and must be signed again before it is."""


class SendGate:
    """Admit requests to signing while fewer than ``rate() * horizon`` wait for
    their turn (at least one; any number while ``rate()`` is ``None``, unlimited),
    and no more than ``pool_size()``, the connections they will hold meanwhile.

    :meth:`enter` before signing, :meth:`leave` once the request has its turn
    (or failed before it). Admission is first come, first served.
    """

    def __init__(
        self,
        rate: Callable[[], float | None],
        pool_size: Callable[[], int] | None = None,
        horizon: float = HORIZON,
    ) -> None:
        self._rate = rate
        self._pool_size = pool_size
        self.horizon = horizon
        self.inside = 0
        """Requests admitted that have not left."""
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _room(self) -> bool:
        rate = self._rate()
        if rate is None:
            return True
        room = math.ceil(rate * self.horizon)
        if self._pool_size is not None:
            room = min(room, self._pool_size())
        return self.inside < max(1, room)

    async def enter(self) -> None:
        """Wait, in turn, until one more request may be signed and wait for its turn."""
        if not self._waiters and self._room():
            self.inside += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # admitted, but the caller gave up first: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        """One admitted request has its turn, or gave up: admit those who fit now."""
        self.inside -= 1
        while self._waiters and self._room():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.inside += 1
                waiter.set_result(None)
