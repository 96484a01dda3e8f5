"""``OtaClient``: the blocking client, for Django, Flask, Celery and scripts.

It owns one :class:`AsyncOtaClient` and one event loop, run by a daemon thread
of its own; every call runs there and the calling thread blocks for the result.
"""

from __future__ import annotations

import asyncio
import os
import random as _random
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType

import httpx

from ._bulk import BulkItem, BulkStats, InitOutcome
from ._client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, AsyncOtaClient, credentials_from_env
from ._errors import EventLoopError
from ._hooks import Hooks
from ._loop_thread import LoopThread
from ._models import InitResult, VerifyResult
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy
from ._signing import Algorithm

__all__ = ["OtaClient"]

_LIVE: weakref.WeakSet[OtaClient] = weakref.WeakSet()
# What a forked child inherited from its parent: kept referenced and never used,
# so that no finaliser closes (or writes to) a socket the parent still uses.
_INHERITED: list[object] = []


class OtaClient:
    """The blocking client of NXCloud's OTA one-click-login API.

    It takes the same keywords as :class:`AsyncOtaClient` (validated here, so bad
    input raises :class:`InvalidInputError` at once), offers the same calls without
    ``await``, and raises the same exception classes. It runs one
    :class:`AsyncOtaClient` on an event loop in a thread it starts on the first
    call; any number of threads may call one client at once (their calls run
    concurrently on that loop). Create one per process, share it, and
    :meth:`close` it (or use ``with``). ``sleep`` and ``hooks`` run on the
    client's loop thread.

    **Fork**: a client used in a child process made by ``os.fork`` (a prefork
    server, ``multiprocessing``) never touches the parent's loop or connections:
    on its first call in the child it makes a fresh :class:`AsyncOtaClient` from
    the same arguments. That needs arguments it can recreate: a client given a
    ``transport``, an ``http_client`` or a ``rate_limiter`` (objects bound to the
    parent's connections) raises :class:`EventLoopError` in the child instead;
    create such a client in the child (Celery: in ``worker_process_init``).

    Args:
        access_key: The account's access key (``accessKey``).
        access_secret: The account's secret; it signs requests, is never sent, and
            never appears in a ``repr``, a log line or an error.
        app_key: The OTA application's key (``appkey``).
        base_url: The API host; ``https``, except for this machine and ``*.test``.
        algorithm: The signature's hash, ``"md5"`` or ``"sha256"``.
        timeout: Seconds for each request, or an :class:`httpx.Timeout` for each
            phase; ``None`` waits forever. Refused beside ``http_client``.
        retry: What is retried, how often and how long (:class:`RetryPolicy`);
            ``None``: the defaults.
        transport: An :class:`httpx.AsyncBaseTransport` to send through; by
            default an :class:`AiohttpTransport`.
        http_client: An :class:`httpx.AsyncClient` of yours to send through,
            instead of ``transport``; :meth:`close` leaves it open.
        rate_limiter: Paces every call; by default an
            :class:`AdaptiveRateLimiter`.
        clock: Wall time in seconds, for the ``ts`` header.
        sleep: Waits between retries and for the rate limiter (a coroutine
            function, run on the client's loop).
        random: Numbers in [0, 1) for the jitter of waits.
        monotonic: Time for deadlines and durations.
        allow_insecure_http: Permit a plain ``http`` ``base_url`` on another
            machine, which sends signed requests unencrypted.
        hooks: Callbacks on attempts, retries, throttling and clock corrections
            (:class:`Hooks`); ``None``: no hooks.
    """

    def __init__(
        self,
        *,
        access_key: str,
        access_secret: str,
        app_key: str,
        base_url: str = DEFAULT_BASE_URL,
        algorithm: Algorithm = "md5",
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        rate_limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        monotonic: Callable[[], float] = time.monotonic,
        allow_insecure_http: bool = False,
        hooks: Hooks | None = None,
    ) -> None:
        def make() -> AsyncOtaClient:
            return AsyncOtaClient(
                access_key=access_key,
                access_secret=access_secret,
                app_key=app_key,
                base_url=base_url,
                algorithm=algorithm,
                timeout=timeout,
                retry=retry,
                transport=transport,
                http_client=http_client,
                rate_limiter=rate_limiter,
                clock=clock,
                sleep=sleep,
                random=random,
                monotonic=monotonic,
                allow_insecure_http=allow_insecure_http,
                hooks=hooks or Hooks(),
            )

        self._make = make
        self._async = make()
        self._recreatable = transport is None and http_client is None and rate_limiter is None
        self._runner: LoopThread | None = None
        self._lock = threading.Lock()
        self._forked = False
        self._closed = False
        _LIVE.add(self)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        rate_limiter: RateLimiter | None = None,
        hooks: Hooks | None = None,
    ) -> OtaClient:
        """Create a client from the variables :meth:`AsyncOtaClient.from_env` reads.

        Args:
            environ: Where to read the variables; ``None``: ``os.environ``.
            timeout: As for the constructor.
            retry: As for the constructor.
            transport: As for the constructor.
            http_client: As for the constructor.
            rate_limiter: As for the constructor.
            hooks: As for the constructor.
        """
        access_key, access_secret, app_key, base_url = credentials_from_env(environ)
        return cls(
            access_key=access_key,
            access_secret=access_secret,
            app_key=app_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            transport=transport,
            http_client=http_client,
            rate_limiter=rate_limiter,
            hooks=hooks,
        )

    def __repr__(self) -> str:
        inner = self._async
        return (
            f"OtaClient(access_key={inner.access_key!r}, app_key={inner.app_key!r}, "
            f"base_url={inner.base_url!r})"
        )

    @property
    def rate_limiter(self) -> RateLimiter:
        """The limiter every call of this client goes through."""
        return self._async.rate_limiter

    def __enter__(self) -> OtaClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the loop thread. Calling it again does nothing.

        Calls still running in other threads are cancelled.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            runner, self._runner = self._runner, None
        if runner is not None and not self._forked:
            runner.stop(self._async.aclose())

    def init(self, phone: str, user_ip: str) -> InitResult:
        """Start a login; see :meth:`AsyncOtaClient.init` (billed, never retried blindly).

        Args:
            phone: The number the user typed, with its country code.
            user_ip: The public IP address of the user's phone, as your server sees it.
        """
        runner, client = self._ready()
        return runner.run(client.init(phone=phone, user_ip=user_ip))

    def verify(self, request_id: str) -> VerifyResult:
        """Return the state of the login ``request_id``; see :meth:`AsyncOtaClient.verify`.

        Args:
            request_id: The id that :meth:`init` returned.
        """
        runner, client = self._ready()
        return runner.run(client.verify(request_id))

    def wait(
        self,
        request_id: str,
        *,
        timeout: float,
        interval: float = 0.5,
        max_interval: float = 5.0,
    ) -> VerifyResult:
        """Poll until the login ends; see :meth:`AsyncOtaClient.wait`.

        Raises :class:`WaitTimeoutError` (also a ``TimeoutError``) after ``timeout``
        seconds, with the last result as ``last``.

        Args:
            request_id: The id that :meth:`init` returned.
            timeout: Seconds to wait in all before raising :class:`WaitTimeoutError`.
            interval: The first pause between two ``verify`` calls, in seconds.
            max_interval: The longest pause, in seconds.
        """
        runner, client = self._ready()
        return runner.run(
            client.wait(request_id, timeout=timeout, interval=interval, max_interval=max_interval)
        )

    def init_many(
        self,
        items: Iterable[BulkItem],
        *,
        concurrency: int = 100,
        ordered: bool = False,
        stats: BulkStats | None = None,
    ) -> Iterator[InitOutcome]:
        """Start many logins; yield one :class:`InitOutcome` per item, as a plain iterator.

        Same arguments and behaviour as :meth:`AsyncOtaClient.init_many`; ``items``
        is read lazily on the client's loop thread. The logins keep running while
        your loop body does; leaving the loop early (or ``close()`` on the
        iterator) cancels the calls still in flight.

        Args:
            items: ``(phone, user_ip)`` pairs or :class:`InitRequest` objects.
            concurrency: The most calls in flight at once.
            ordered: Yield in input order instead of as calls complete.
            stats: A :class:`BulkStats` to keep current, for progress reports.
        """
        runner, client = self._ready()

        async def start() -> AsyncGenerator[InitOutcome, None]:
            return client.init_many(items, concurrency=concurrency, ordered=ordered, stats=stats)

        return _iterate(runner, runner.run(start()))

    def _ready(self) -> tuple[LoopThread, AsyncOtaClient]:
        """The running loop and the client, started on first use (and after a fork)."""
        with self._lock:
            if self._closed:
                raise EventLoopError("this OtaClient is closed; create a new one")
            if self._forked:
                self._adopt_after_fork()
            if self._runner is None:
                self._runner = LoopThread(name=f"nxcloud-ota-{id(self):x}")
            runner, client = self._runner, self._async
        if runner.in_loop_thread:
            raise EventLoopError(
                "an OtaClient was called from its own event loop (from a hook?), where "
                "blocking would deadlock; await the AsyncOtaClient there instead"
            )
        return runner, client

    def _adopt_after_fork(self) -> None:
        if not self._recreatable:
            raise EventLoopError(
                "this OtaClient was made in a parent process with a transport, http_client "
                "or rate_limiter of its own, which cannot be recreated after a fork; create "
                "the client in the child process (Celery: in worker_process_init)"
            )
        _INHERITED.append((self._async, self._runner))
        self._async = self._make()
        self._runner = None
        self._forked = False

    def _after_fork_in_child(self) -> None:
        # The loop thread does not exist in the child, and the lock may have been
        # held by one of the parent's threads: start over with a fresh lock.
        self._lock = threading.Lock()
        self._forked = True


def _iterate(
    runner: LoopThread, outcomes: AsyncGenerator[InitOutcome, None]
) -> Iterator[InitOutcome]:
    async def following() -> InitOutcome:
        return await outcomes.__anext__()

    try:
        while True:
            try:
                yield runner.run(following())
            except StopAsyncIteration:
                return
    finally:
        # Not from the loop's own thread (a generator collected there), which would
        # wait on itself; the loop's shutdown closes such a generator instead.
        if not runner.loop.is_closed() and not runner.in_loop_thread:
            runner.run(outcomes.aclose())


def _after_fork_in_child() -> None:
    for client in list(_LIVE):
        client._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
