"""``AsyncOtaClient``: one shared ``httpx.AsyncClient``, a signing hook, a retry policy."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random as _random
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

import attrs
import httpx

from ._auth import Secret
from ._bulk import BulkItem, BulkStats, InitOutcome, run_init_many
from ._errors import InvalidInputError
from ._exchange import Exchange
from ._hooks import Hooks
from ._httpclient import CookielessAsyncClient
from ._models import InitRequest, InitResult, VerifyResult
from ._ratelimit import AdaptiveRateLimiter, RateLimiter
from ._retry import Attempts, RetryPolicy
from ._signing import ALGORITHMS, Algorithm
from ._validation import is_local_host, validate_token
from ._wait import backoff_delays, poll_until_final, validate_schedule
from ._warmup import open_connections

if TYPE_CHECKING:
    from ._aiohttp_transport import AiohttpTransport

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "AsyncOtaClient", "credentials_from_env"]

DEFAULT_BASE_URL = "https://api2.nxcloud.com"
"""The provider's API host."""

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=10.0)
"""10 s to read, 5 s to connect, 10 s to wait for a pooled connection: each well
inside the provider's 60 s timestamp window."""


def _access_key(value: str) -> str:
    return validate_token(value, "access_key", ascii_only=True)


def _app_key(value: str) -> str:
    return validate_token(value, "app_key")


def _secret(value: str) -> Secret:
    return Secret(validate_token(value, "access_secret"))


def _base_url(value: str) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise InvalidInputError("base_url", "must be an http(s) URL")
    return value.rstrip("/")


def _algorithm(value: Algorithm) -> Algorithm:
    for name in ALGORITHMS:
        if value == name:
            return name
    raise InvalidInputError("algorithm", "must be 'md5' or 'sha256'")


def credentials_from_env(environ: Mapping[str, str] | None) -> tuple[str, str, str, str]:
    """``(access_key, access_secret, app_key, base_url)`` from the ``NXCLOUD_*`` variables.

    A missing variable raises :class:`InvalidInputError` naming it.
    """
    env = os.environ if environ is None else environ

    def need(name: str) -> str:
        value = env.get(name)
        if not value:
            raise InvalidInputError(name, "is not set")
        return value

    return (
        need("NXCLOUD_ACCESS_KEY"),
        need("NXCLOUD_ACCESS_SECRET"),
        need("NXCLOUD_APP_KEY"),
        env.get("NXCLOUD_BASE_URL") or DEFAULT_BASE_URL,
    )


def _policy(value: RetryPolicy | None) -> RetryPolicy:
    return RetryPolicy() if value is None else value


@attrs.define(kw_only=True, eq=False, repr=False)
class AsyncOtaClient:
    """The asyncio client of NXCloud's OTA one-click-login API.

    Create one per process (for example in a FastAPI lifespan) and share it: it
    holds one connection pool. Use it as an async context manager, or call
    :meth:`aclose`. Every argument is validated here, and every call validates its
    own, so bad input fails before anything is sent.

    Args:
        access_key: The account's access key (``accessKey``).
        access_secret: The account's secret; it signs requests, is never sent, and
            never appears in a ``repr``, a log line or an error.
        app_key: The OTA application's key (``appkey``).
        base_url: The API host. It must be ``https``, except for this machine
            (loopback, ``localhost``) and reserved test names (``*.test``).
        algorithm: The signature's hash, ``"md5"`` or ``"sha256"``.
        timeout: Seconds for each request, or an :class:`httpx.Timeout` for each
            phase; ``None`` waits forever. Refused beside ``http_client``, whose
            own timeout applies (rather than silently ignored).
        retry: What is retried, how often and how long (:class:`RetryPolicy`);
            ``None``: the defaults.
        transport: Any :class:`httpx.AsyncBaseTransport`, for example
            ``httpx.ASGITransport(app=FakeNxCloud())`` in tests. By default an
            :class:`AiohttpTransport` (aiohttp's connection pool under httpx), which
            holds up under bulk concurrency where httpx's own pool does not; TLS
            certificates are always verified.
        http_client: An :class:`httpx.AsyncClient` of yours to send through,
            instead of ``transport``; :meth:`aclose` leaves it open. It is used as
            given (its headers, cookies, hooks), but never follows a redirect.
        rate_limiter: Paces every call of the client; by default an
            :class:`AdaptiveRateLimiter` that learns the provider's limit from its
            2206 answers. Share one between clients to share the limit. With
            the default transport (or ``httpx.AsyncHTTPTransport``), a request
            takes its turn once its connection is open, right before it is
            written, if the limiter has a ``rate`` (not ``None``): see
            :doc:`/scaling`.
        clock: Wall time in seconds, for the ``ts`` header.
        sleep: Waits between retries and for the rate limiter.
        random: Numbers in [0, 1) for the jitter of waits.
        monotonic: Time for deadlines and durations.
        allow_insecure_http: Permit a plain ``http`` ``base_url`` on another
            machine, which sends signed requests unencrypted.
        hooks: Callbacks on attempts, retries, throttling and clock corrections
            (:class:`Hooks`).

    ``clock``, ``sleep``, ``random`` and ``monotonic`` exist so that tests can be
    deterministic.
    """

    access_key: str = attrs.field(converter=_access_key)
    _access_secret: Secret = attrs.field(converter=_secret, alias="access_secret")
    app_key: str = attrs.field(converter=_app_key)
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, converter=_base_url)
    algorithm: Algorithm = attrs.field(default="md5", converter=_algorithm)
    timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT
    retry: RetryPolicy = attrs.field(default=None, converter=_policy)
    _transport: httpx.AsyncBaseTransport | None = attrs.field(default=None, alias="transport")
    _http_client: httpx.AsyncClient | None = attrs.field(default=None, alias="http_client")
    _rate_limiter: RateLimiter | None = attrs.field(default=None, alias="rate_limiter")
    _clock: Callable[[], float] = attrs.field(default=time.time, alias="clock")
    _sleep: Callable[[float], Awaitable[None]] = attrs.field(default=asyncio.sleep, alias="sleep")
    _random: Callable[[], float] = attrs.field(default=_random.random, alias="random")
    _monotonic: Callable[[], float] = attrs.field(default=time.monotonic, alias="monotonic")
    allow_insecure_http: bool = False
    hooks: Hooks = attrs.field(factory=Hooks)

    _http: httpx.AsyncClient = attrs.field(init=False)
    _owns_http: bool = attrs.field(init=False)
    _exchange: Exchange = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        url = httpx.URL(self.base_url)
        if url.scheme == "http" and not self.allow_insecure_http and not is_local_host(url.host):
            raise InvalidInputError(
                "base_url",
                "plain http would send signed requests unencrypted to another machine; "
                "use https, or pass allow_insecure_http=True if you mean it",
            )
        if self._http_client is not None:
            if self._transport is not None:
                raise InvalidInputError("transport", "give either transport or http_client")
            if self.timeout != DEFAULT_TIMEOUT:  # it would be silently ignored
                raise InvalidInputError(
                    "timeout", "set it on the http_client you pass: httpx.AsyncClient(timeout=...)"
                )
            self._http, self._owns_http = self._http_client, False
        else:
            if self._transport is None:
                # Imported here: aiohttp's import is costly, and not every process sends.
                from ._aiohttp_transport import AiohttpTransport  # noqa: PLC0415

                self._transport = AiohttpTransport()
            self._http = CookielessAsyncClient(timeout=self.timeout, transport=self._transport)
            self._owns_http = True
        ours = self._aiohttp_transport()
        self._exchange = Exchange(
            http=self._http,
            base_url=self.base_url,
            access_key=self.access_key,
            access_secret=self._access_secret,
            algorithm=self.algorithm,
            policy=self.retry,
            limiter=self._rate_limiter
            or AdaptiveRateLimiter(clock=self._monotonic, sleep=self._sleep, random=self._random),
            clock=self._clock,
            monotonic=self._monotonic,
            sleep=self._sleep,
            random=self._random,
            hooks=self.hooks,
            owned_http=self._owns_http,
            # Transports known to call a request's trace right before writing it.
            pace_at_send=ours is not None or type(self._transport) is httpx.AsyncHTTPTransport,
            pool_size=None if ours is None else lambda: ours.max_connections,
            transport_bounds_read=ours is not None,
        )

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
    ) -> AsyncOtaClient:
        """Create a client from ``NXCLOUD_ACCESS_KEY``, ``NXCLOUD_ACCESS_SECRET``,
        ``NXCLOUD_APP_KEY`` and, optionally, ``NXCLOUD_BASE_URL``.

        A missing variable raises :class:`InvalidInputError` naming it.

        Args:
            environ: Where to read the variables; ``None``: ``os.environ``.
            timeout: As for the constructor.
            retry: As for the constructor.
            transport: As for the constructor.
            http_client: As for the constructor.
            rate_limiter: As for the constructor.
            hooks: As for the constructor; ``None``: no hooks.
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
            hooks=hooks or Hooks(),
        )

    def __repr__(self) -> str:
        return (
            f"AsyncOtaClient(access_key={self.access_key!r}, app_key={self.app_key!r}, "
            f"base_url={self.base_url!r})"
        )

    @property
    def rate_limiter(self) -> RateLimiter:
        """The limiter every call of this client goes through (``.rate`` for the
        current rate of an :class:`AdaptiveRateLimiter`)."""
        return self._exchange.limiter

    @property
    def clock_offset_ms(self) -> int:
        """The correction added to the local clock for ``ts``, in milliseconds.

        Learnt from the provider's ``Date`` headers: 0 while the clocks agree within
        2 s (see :doc:`/reliability`).
        """
        return self._exchange.clock_sync.offset_ms

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncOtaClient:
        """A client for one use, with its own ``timeout`` and ``retry`` policy.

        It shares this client's connection pool, rate limiter, clock correction,
        retry budget and hooks, and costs microseconds to make, so a handler
        with a tight budget can make one per request::

            quick = client.with_options(timeout=2.0, retry=RetryPolicy(max_attempts=1))
            result = await quick.verify(request_id)

        Closing the new client closes nothing: the pool stays this client's, and
        the new one works as long as this one is open.

        Args:
            timeout: Seconds for each request, or an :class:`httpx.Timeout`;
                ``None`` keeps this client's (``httpx.Timeout(None)`` turns
                timeouts off).
            retry: The :class:`RetryPolicy` of the new client's calls; ``None``
                keeps this client's.
        """
        twin = copy.copy(self)
        twin.retry = self.retry if retry is None else retry
        twin.timeout = self.timeout if timeout is None else timeout
        twin._owns_http = False
        twin._exchange = self._exchange.derive(
            policy=twin.retry,
            timeout=None if timeout is None else httpx.Timeout(timeout),
        )
        return twin

    async def __aenter__(self) -> AsyncOtaClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless the ``http_client`` was given to us)."""
        if self._owns_http:
            await self._http.aclose()

    async def warm_up(self, *, connections: int = 10) -> int:
        """Open ``connections`` connections to the API host ahead of the first calls;
        return how many answered. Unsigned ``HEAD`` requests to ``base_url``: nothing
        billed or rate limited. It saves the first calls the time of connecting;
        pacing does not need it, since a request takes its turn of the rate limit
        once its connection is open (see :doc:`/scaling`). Call it at start-up,
        with the ``concurrency`` you will use (the default pool grows to it). An
        unreachable host is logged, not raised.

        Args:
            connections: How many connections to open at once (>= 1).
        """
        if not isinstance(connections, int) or isinstance(connections, bool) or connections < 1:
            raise InvalidInputError("connections", "must be a whole number >= 1")
        self._exchange.check_loop()
        self._grow_pool(connections)
        return await open_connections(self._http, self.base_url + "/", connections)

    def _grow_pool(self, connections: int) -> None:
        """Let the default transport's pool hold ``connections`` at once."""
        transport = self._aiohttp_transport()
        if transport is not None:
            transport.grow_to(connections)

    def _aiohttp_transport(self) -> AiohttpTransport | None:
        """The transport, if it is an :class:`AiohttpTransport`."""
        # Not loaded: the transport cannot be an AiohttpTransport (nor need aiohttp).
        if "nxcloud_ota._aiohttp_transport" in sys.modules:
            from ._aiohttp_transport import AiohttpTransport  # noqa: PLC0415

            if isinstance(self._transport, AiohttpTransport):
                return self._transport
        return None

    async def init(self, phone: str, user_ip: str) -> InitResult:
        """Start a login for ``phone`` from the end user's ``user_ip``.

        Returns the ``url`` to open on the phone (over mobile data) and the
        ``request_id`` for :meth:`verify`. This call is billed and has no
        idempotency key: it is retried only when the provider certainly did not
        start a login (see :doc:`/errors`); otherwise a
        :class:`RequestMaybeSentError` says a login may have started (see
        :doc:`/maybe-started`).

        Args:
            phone: The number the user typed, with its country code; ``+``,
                spaces, dashes, dots and parentheses are removed.
            user_ip: The public IPv4 or IPv6 address of the user's phone, as your
                server sees it.
        """
        return await self._init_request(InitRequest(phone=phone, user_ip=user_ip), Attempts())

    async def verify(self, request_id: str) -> VerifyResult:
        """Return the state of the login ``request_id`` (``PENDING`` until it ends).

        Safe to repeat: retried on any transport error.

        Args:
            request_id: The id that :meth:`init` returned.
        """
        request_id = validate_token(request_id, "request_id")
        body = self._body({"appkey": self.app_key, "requestId": request_id})
        return await self._exchange.call(
            "verify", body, VerifyResult.from_data, idempotent=True, attempts=Attempts()
        )

    async def wait(
        self,
        request_id: str,
        *,
        timeout: float,
        interval: float = 0.5,
        max_interval: float = 5.0,
    ) -> VerifyResult:
        """Poll :meth:`verify` until the login ``request_id`` ends; return that result.

        The pauses start at ``interval`` seconds and double up to ``max_interval``.
        After ``timeout`` seconds a login still ``PENDING`` raises
        :class:`WaitTimeoutError` (an :class:`NxCloudError` and a ``TimeoutError``)
        whose ``last`` is the last result. Errors of ``verify`` propagate as they are.

        Args:
            request_id: The id that :meth:`init` returned.
            timeout: Seconds to wait in all before raising :class:`WaitTimeoutError`.
            interval: The first pause between two ``verify`` calls, in seconds.
            max_interval: The longest pause, in seconds.
        """
        request_id = validate_token(request_id, "request_id")
        validate_schedule(timeout, interval, max_interval)
        return await poll_until_final(
            lambda: self.verify(request_id),
            timeout=timeout,
            sleep=self._sleep,
            monotonic=self._monotonic,
            delays=backoff_delays(interval, 2.0, max_interval),
        )

    def init_many(
        self,
        items: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        concurrency: int = 100,
        ordered: bool = False,
        stats: BulkStats | None = None,
    ) -> AsyncGenerator[InitOutcome, None]:
        """Start many logins, at most ``concurrency`` at a time; yield one outcome each.

        ``items`` are ``(phone, user_ip)`` pairs or :class:`InitRequest` objects,
        from any iterable or async iterable; they are read lazily, so memory stays
        bounded by ``concurrency``. A failing item yields an outcome with its error
        and never stops the run. Outcomes come as they complete, or in input order
        with ``ordered=True``. Leaving the loop early cancels the calls in flight
        (use ``contextlib.aclosing`` to do it at once).

        Args:
            items: ``(phone, user_ip)`` pairs or :class:`InitRequest` objects.
            concurrency: The most calls in flight at once (the default transport's
                pool grows to it).
            ordered: Yield in input order instead of as calls complete.
            stats: A :class:`BulkStats` to keep current, for progress reports.
        """
        if not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidInputError("concurrency", "must be a whole number >= 1")
        # Calls beyond the pool's size would queue for a connection, and could
        # time out waiting, instead of running concurrently.
        self._grow_pool(concurrency)
        return run_init_many(
            self._init_request,
            items,
            concurrency=concurrency,
            ordered=ordered,
            monotonic=self._monotonic,
            stats=stats,
        )

    async def _init_request(self, request: InitRequest, attempts: Attempts) -> InitResult:
        body = self._body(
            {"appkey": self.app_key, "phone": request.phone, "userIp": request.user_ip}
        )
        return await self._exchange.call(
            "init",
            body,
            InitResult.from_data,
            idempotent=False,
            attempts=attempts,
            phone=request.phone,
        )

    @staticmethod
    def _body(fields: dict[str, str]) -> bytes:
        # Encoded once; these exact bytes are signed and sent.
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
