"""Bulk initiation: many ``init`` calls with bounded concurrency, one outcome each."""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
)
from typing import TypeAlias

import attrs

from ._errors import InvalidInputError
from ._models import InitRequest, InitResult
from ._retry import Attempts
from ._validation import mask_phone

__all__ = ["BulkItem", "BulkStats", "InitOutcome", "run_init_many"]

BulkItem: TypeAlias = "InitRequest | tuple[str, str]"
"""One input of :meth:`AsyncOtaClient.init_many`: a ``(phone, user_ip)`` pair or a request."""


def _masked_item(item: object) -> str:
    """The ``repr`` of an input item with its phone number masked."""
    if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
        masked = [mask_phone(item[0]), item[1]]
        return repr(tuple(masked) if isinstance(item, tuple) else masked)
    return repr(item)  # an InitRequest masks its own phone


@attrs.frozen
class InitOutcome:
    """What became of one input of :meth:`AsyncOtaClient.init_many`.

    Exactly one of ``result`` and ``error`` is set. The ``repr`` masks the
    phone number.

    Args:
        index: The item's position in the input, from 0.
        item: The item as given.
        result: The started login; ``None`` when it failed.
        error: An :class:`NxCloudError`, or whatever exception code outside the
            package raised for this item (a transport, a rate limiter): the run
            goes on either way. ``None`` when the login was started.
        attempts: The requests sent for it (0 when it failed validation).
        elapsed: The seconds it took.
    """

    index: int
    item: object = attrs.field(repr=_masked_item)
    result: InitResult | None
    error: Exception | None
    attempts: int
    elapsed: float

    @property
    def ok(self) -> bool:
        """``True`` when the login was started."""
        return self.error is None


@attrs.define
class BulkStats:
    """Live counters of an :meth:`AsyncOtaClient.init_many` run, for progress reports.

    Pass one as ``stats=`` and read it from anywhere (another task, a progress bar,
    a status endpoint) while the run goes on. Make it with no arguments: the
    run counts.

    Args:
        read: Items taken from the input so far.
        completed: Outcomes produced (``succeeded`` + ``failed``).
        succeeded: Logins started.
        failed: Items that ended in an error.
        requests: Requests sent for the completed items, retries included.
        retries: Requests beyond the first of each completed item.
    """

    read: int = 0
    completed: int = 0
    succeeded: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0

    @property
    def in_flight(self) -> int:
        """Items read whose outcome is not out yet."""
        return self.read - self.completed


def _as_request(item: object) -> InitRequest:
    if isinstance(item, InitRequest):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return InitRequest(phone=item[0], user_ip=item[1])
    raise InvalidInputError("item", "must be a (phone, user_ip) pair or an InitRequest")


async def _aiter(items: AsyncIterable[BulkItem]) -> AsyncGenerator[object, None]:
    async for item in items:
        yield item


async def _one(
    init: Callable[[InitRequest, Attempts], Awaitable[InitResult]],
    index: int,
    item: object,
    counts: BulkStats,
    monotonic: Callable[[], float],
) -> InitOutcome:
    """Run one item to its outcome; any error becomes part of the outcome."""
    started = monotonic()
    attempts = Attempts()
    try:
        result = await init(_as_request(item), attempts)
    except Exception as exc:  # the outcome carries it; one item never ends the run
        outcome = InitOutcome(index, item, None, exc, attempts.count, monotonic() - started)
        counts.failed += 1
    else:
        outcome = InitOutcome(index, item, result, None, attempts.count, monotonic() - started)
        counts.succeeded += 1
    counts.completed += 1
    counts.requests += outcome.attempts
    counts.retries += max(0, outcome.attempts - 1)
    return outcome


async def run_init_many(
    init: Callable[[InitRequest, Attempts], Awaitable[InitResult]],
    items: Iterable[BulkItem] | AsyncIterable[BulkItem],
    *,
    concurrency: int,
    ordered: bool,
    monotonic: Callable[[], float],
    stats: BulkStats | None = None,
) -> AsyncGenerator[InitOutcome, None]:
    """Yield one :class:`InitOutcome` per item; see :meth:`AsyncOtaClient.init_many`.

    At most ``concurrency`` items are in flight, and in ordered mode the finished
    ones waiting for an earlier item count against that bound too, so memory stays
    bounded whatever the input's length. On exit (normal, ``break`` or
    cancellation) every call still in flight is cancelled and awaited.
    """

    counts = stats if stats is not None else BulkStats()

    # A plain iterable is read with next(): an async generator around it would
    # cost a step of its own per item.
    if isinstance(items, AsyncIterable):
        source, iterator = _aiter(items), None
    else:
        source, iterator = None, iter(items)
    loop = asyncio.get_running_loop()
    in_flight: set[asyncio.Task[InitOutcome]] = set()
    # Each task reports itself here when done: O(1) per completion, where
    # asyncio.wait() over the whole in-flight set would be O(concurrency).
    completed: asyncio.Queue[asyncio.Task[InitOutcome]] = asyncio.Queue()
    finished: dict[int, InitOutcome] = {}  # ordered mode: done, waiting for an earlier one
    next_index = 0  # the next input position to read
    next_out = 0  # ordered mode: the next position to yield
    exhausted = False
    try:
        while True:
            while not exhausted and len(in_flight) + len(finished) < concurrency:
                try:
                    if iterator is not None:
                        item: object = next(iterator)
                    else:
                        assert source is not None
                        item = await source.__anext__()
                except (StopIteration, StopAsyncIteration):
                    exhausted = True
                    break
                counts.read += 1
                task = loop.create_task(_one(init, next_index, item, counts, monotonic))
                task.add_done_callback(completed.put_nowait)
                in_flight.add(task)
                next_index += 1
            if not in_flight:
                return
            done = await completed.get()
            in_flight.discard(done)
            outcome = done.result()
            if not ordered:
                yield outcome
                continue
            finished[outcome.index] = outcome
            while next_out in finished:
                yield finished.pop(next_out)
                next_out += 1
    finally:
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.wait(in_flight)
        if source is not None:
            await source.aclose()
