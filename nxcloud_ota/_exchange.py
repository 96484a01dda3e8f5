"""One API call on the wire: pace, sign, send, decode, retry, correct the clock."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import NoReturn, TypeVar

import attrs
import httpx

from ._auth import SIGNED_AS, Secret, SigningAuth
from ._clock import ClockSync
from ._deadline import ENDS_BY, Deadline, earliest, within
from ._decoding import ACCEPT_ENCODING, RAW_BODY, BodyDecoder, UndecodableBody, too_large
from ._envelope import decode_response
from ._errors import (
    ApiError,
    EventLoopError,
    ProtocolError,
    RateLimitedError,
    TimestampExpiredError,
    TransportError,
)
from ._hooks import AttemptEvent, ClockEvent, Hooks, ThrottleEvent, fire
from ._httpclient import RequestTemplate
from ._httperrors import for_init, from_httpx_error
from ._pacing import MAX_SIGNED_WAIT, SendGate, StaleSignature
from ._ratelimit import RateLimiter, RetryBudget
from ._retry import Attempts, RetryPolicy, call_with_retries
from ._signing import Algorithm
from ._validation import mask_phone
from ._version import __version__

__all__ = ["USER_AGENT", "Exchange"]

T = TypeVar("T")

_log = logging.getLogger("nxcloud_ota")

MAX_RESPONSE_BYTES = 1 << 20
"""Answers are a few hundred bytes; anything over 1 MiB is refused unread."""
USER_AGENT = (
    f"nxcloud-ota/{__version__} httpx/{httpx.__version__} "
    f"python/{'.'.join(map(str, sys.version_info[:3]))}"
)
"""Sent with every request, whatever ``httpx.AsyncClient`` sends them."""
_HEADERS = {
    action: {
        "Content-Type": "application/json",
        "bizType": "6",
        "action": action,
        "Accept-Encoding": ACCEPT_ENCODING,
        "User-Agent": USER_AGENT,
    }
    for action in ("init", "verify")
}


@attrs.define(eq=False)
class Exchange:
    """The I/O pipeline shared by every call of one client.

    Per attempt: wait for the rate limiter, let httpx send the request (the
    signing hook stamps a fresh ``ts`` and ``sign``), decode the envelope, and
    tell the limiter how it went. Around the attempts: the retry policy.
    """

    http: httpx.AsyncClient
    base_url: str
    access_key: str
    access_secret: Secret = attrs.field(repr=False)
    algorithm: Algorithm
    policy: RetryPolicy
    limiter: RateLimiter
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    random: Callable[[], float]
    hooks: Hooks = attrs.field(factory=Hooks)
    clock_sync: ClockSync = attrs.field(factory=ClockSync)
    loop: asyncio.AbstractEventLoop | None = attrs.field(default=None, repr=False)
    owned_http: bool = False
    """True when ``http`` is the client's own and nobody reconfigures it: its
    ``build_request`` then merges each action's request once, not once a call."""
    timeout: httpx.Timeout | None = None
    """Timeouts of this exchange's requests; ``None``: the ``http`` client's own."""
    pace_at_send: bool = False
    """True when ``http``'s transport calls a request's ``trace`` extension with
    ``*.send_request_headers.started`` once it holds a connection, right before it
    writes the request (httpx's own transport and :class:`AiohttpTransport` do):
    a limited rate is then applied there, when the request really leaves."""
    pool_size: Callable[[], int] | None = None
    """The most connections ``http``'s transport opens at once, if known: no more
    requests than that are signed and waiting for their turn."""
    transport_bounds_read: bool = False
    """True when ``http``'s transport itself bounds the pool wait by the pool
    timeout, connecting, sending and reading by the read timeout, and the whole
    by the request's :data:`ENDS_BY` extension (:class:`AiohttpTransport` does)."""
    budget: RetryBudget = attrs.field(init=False)
    gate: SendGate = attrs.field(init=False)
    auth: SigningAuth = attrs.field(init=False)
    urls: dict[str, httpx.URL] = attrs.field(init=False)
    requests: dict[str, RequestTemplate] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.budget = RetryBudget(
            ratio=self.policy.budget_ratio,
            min_per_second=self.policy.budget_min_per_second,
            clock=self.monotonic,
        )
        self.auth = SigningAuth(
            access_key=self.access_key,
            access_secret=self.access_secret,
            algorithm=self.algorithm,
            clock_ms=self.now_ms,
        )
        self.gate = SendGate(self.limited_rate, self.pool_size)
        # Parsed once: parsing a URL string costs more than the rest of building a request.
        self.urls = {action: httpx.URL(f"{self.base_url}/api/ota/{action}") for action in _HEADERS}
        # The signing hook adds ts and sign; the rest is the same for every request.
        signer = {"accessKey": self.access_key}
        if self.algorithm != "md5":
            signer["algorithm"] = self.algorithm
        self.requests = {
            action: RequestTemplate(
                self.http,
                self.urls[action],
                {**headers, **signer},
                {SIGNED_AS: (headers["action"], headers["bizType"])},
                merge_per_call=not self.owned_http,
            )
            for action, headers in _HEADERS.items()
        }

    def derive(self, *, policy: RetryPolicy, timeout: httpx.Timeout | None) -> Exchange:
        """A twin with another policy and timeout that shares everything else: the
        ``http`` client (its pool), the limiter, the clock correction, the retry
        budget, the hooks and the signing hook. A shallow copy: cheap per request."""
        twin = copy.copy(self)
        twin.policy, twin.timeout = policy, timeout
        return twin

    def limited_rate(self) -> float | None:
        """The limiter's current rate, requests a second; ``None`` while unlimited
        or if it does not say."""
        rate = getattr(self.limiter, "rate", None)
        if isinstance(rate, (int, float)) and not isinstance(rate, bool):
            return float(rate)
        return None

    def now_ms(self) -> int:
        """The provider's time as we best know it, in milliseconds (for ``ts``)."""
        return int(self.clock() * 1000) + self.clock_sync.offset_ms

    def check_loop(self) -> None:
        """Bind to the first running loop; refuse any other, with the fix in the message."""
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        if self.loop is None:
            self.loop = loop
            return
        # Even a closed first loop is no way out: the pool's connections died with it.
        raise EventLoopError(
            "this AsyncOtaClient is bound to another event loop (its connections live "
            "there); create one client per event loop, inside it: in FastAPI's lifespan, "
            "aiohttp's cleanup_ctx, or the coroutine that asyncio.run() runs"
        )

    async def call(
        self,
        action: str,
        body: bytes,
        parse: Callable[[Mapping[str, object]], T],
        *,
        idempotent: bool,
        attempts: Attempts,
        phone: str | None = None,
    ) -> T:
        """POST ``body`` (already encoded: these bytes are signed and sent) and
        return ``parse(data)``, retrying as the policy allows."""
        self.check_loop()
        request = self.requests[action].build(body)
        if self.timeout is not None:
            # A new dict: the requests of a template share their extensions.
            request.extensions = {**request.extensions, "timeout": self.timeout.as_dict()}
        call = _Call(
            action=action,
            request=request,
            attempts=attempts,
            phone_masked=mask_phone(phone) if phone is not None else None,
            deadline_at=None
            if self.policy.deadline is None
            else self.monotonic() + self.policy.deadline,
        )
        return await call_with_retries(
            lambda: self._attempt(call, parse),
            policy=self.policy,
            idempotent=idempotent,
            attempts=attempts,
            sleep=self.sleep,
            random=self.random,
            monotonic=self.monotonic,
            action=action,
            budget=self.budget,
            on_retry=self.hooks.on_retry,
        )

    async def _attempt(self, call: _Call, parse: Callable[[Mapping[str, object]], T]) -> T:
        """One attempt: wait for the limiter, send, decode, and learn from the answer."""
        started = self.monotonic()
        call.code, call.outcome, call.ticket = None, "no answer", None
        if self.pace_at_send and self.limited_rate() is not None:
            # Its turn comes once it has a connection (see _at_send); meanwhile its
            # ts ages, so only so many may be signed and wait (see SendGate).
            await self.gate.enter()
            call.waiting_for_turn = True
        else:
            call.ticket = await self.limiter.acquire()
        try:
            call.sent_at = self.clock()
            try:
                status, date, content = await self._send(call)
            except StaleSignature:
                # Its turn came too long after it was signed (a long shared queue):
                # take the next turn first, then sign afresh and send.
                call.ticket = await self.limiter.acquire()
                call.sent_at = self.clock()
                status, date, content = await self._send(call)
            received_at = self.clock()
            try:
                result = decode_response(status, content, parse)
            except ApiError as exc:
                call.code, call.outcome = exc.code, f"code={exc.code}"
                self._learn(call, exc, date=date, received_at=received_at)
                raise
            except ProtocolError as exc:
                call.outcome = f"invalid envelope, HTTP {status}"
                self._raise_for_action(call, exc)
                raise
            call.code, call.outcome = 0, "code=0"
            self._learn(call, None, date=date, received_at=received_at)
            return result
        except TransportError as exc:
            exc.attempts = call.attempts.count  # this call's requests so far, this one included
            raise
        finally:
            if call.waiting_for_turn:  # failed before its turn came
                call.waiting_for_turn = False
                self.gate.leave()
            self._report(call, self.monotonic() - started)

    async def _send(self, call: _Call) -> tuple[int, str | None, bytes]:
        """Send the request (signed on the way) and read the answer, capped in size
        and in time.

        Redirects are never followed, whatever the ``http_client`` says: that would
        hand the signed headers and body to another server. A 3xx comes back as
        an answer, for :func:`decode_response` to refuse.
        """
        timeouts = call.request.extensions.get("timeout") or self.http.timeout.as_dict()
        # A transport that bounds the attempt itself is told the call's deadline;
        # any other is bounded here.
        bound: contextlib.AbstractAsyncContextManager[Deadline | None] = (
            _UNBOUNDED
            if self.transport_bounds_read
            else within(self._attempt_bound(call, timeouts))
        )
        try:
            async with bound as deadline:
                self._extend(call, deadline, timeouts.get("read"))
                response = await self.http.send(
                    call.request, auth=self.auth, stream=True, follow_redirects=False
                )
                try:
                    content = await read_capped(response, MAX_RESPONSE_BYTES)
                except ProtocolError as exc:
                    self._raise_for_action(call, exc)
                    raise
                finally:
                    if RAW_BODY not in response.extensions:  # else nothing is held open
                        await response.aclose()
                    # httpx's response and its stream refer to each other: a cycle
                    # that would keep the request and response alive until the
                    # cycle collector runs. Broken, they are freed at once.
                    response.stream = _READ
        except asyncio.TimeoutError:
            timeout = httpx.ReadTimeout("no whole answer in time", request=call.request)
            self._raise_transport(call, timeout)
        except httpx.RequestError as exc:
            self._raise_transport(call, exc)
        return response.status_code, response.headers.get("Date"), content

    def _extend(self, call: _Call, deadline: Deadline | None, read: float | None) -> None:
        """Give this attempt's request the extensions it needs, and none left over
        from an earlier attempt: the ``trace`` that takes its turn or cuts its
        bound once it leaves (see :meth:`_at_send`), and for a transport that
        bounds itself, the call's deadline."""
        extensions = call.request.extensions
        trace = None
        if call.waiting_for_turn or (deadline is not None and read is not None):
            trace = self._at_send(call, deadline, read)
        ends_by = None
        if deadline is None and call.deadline_at is not None:
            left = call.deadline_at - self.monotonic()
            ends_by = asyncio.get_running_loop().time() + left
        if trace is None and ends_by is None and not extensions.keys() & _PER_ATTEMPT:
            return  # the common case: nothing to add, nothing to drop
        extensions = {k: v for k, v in extensions.items() if k not in _PER_ATTEMPT}
        if trace is not None:
            extensions["trace"] = trace
        if ends_by is not None:
            extensions[ENDS_BY] = ends_by
        call.request.extensions = extensions

    def _attempt_bound(self, call: _Call, timeouts: Mapping[str, float | None]) -> float | None:
        """How long this attempt may take before its request goes out: the pool
        wait, the connection and the read timeout, never past the call's deadline.
        Once the request goes out, :meth:`_at_send` cuts it to the read timeout."""
        phases = [timeouts.get("pool"), timeouts.get("connect"), timeouts.get("read")]
        bounds = [sum(p for p in phases if p is not None)] if None not in phases else []
        if call.deadline_at is not None:
            bounds.append(call.deadline_at - self.monotonic())
        return min(bounds, default=None)

    def _at_send(
        self, call: _Call, deadline: Deadline | None, read: float | None
    ) -> Callable[[str, Mapping[str, object]], Awaitable[None]]:
        """A ``trace`` callback (httpx's request extension) for the moment the
        request, connected, is about to go out:

        - if the request waits for its turn, the rate limiter grants it now (the
          attempt's bound is off meanwhile, and the wait is added to the call's
          deadline: nothing is sent while it waits); if that came more than
          :data:`MAX_SIGNED_WAIT` ms after the request was signed, it is not sent
          (:class:`StaleSignature`);
        - from then on the attempt takes at most ``read`` seconds: a pool wait or
          a connection may take their own timeouts first, the server no longer
          than ``read``.

        Without ``deadline`` (a transport that bounds itself) only the first.
        """
        loop = asyncio.get_running_loop()
        limit = (
            None if call.deadline_at is None else loop.time() + call.deadline_at - self.monotonic()
        )

        async def trace(event: str, info: Mapping[str, object]) -> None:
            nonlocal limit
            if not event.endswith(".send_request_headers.started"):
                return
            if call.waiting_for_turn:
                if deadline is not None:
                    deadline.reschedule(None)
                waited = loop.time()
                try:
                    call.ticket = await self.limiter.acquire()
                finally:
                    call.waiting_for_turn = False
                    self.gate.leave()
                waited = loop.time() - waited
                if limit is not None:
                    limit += waited  # the wait for a turn does not count
                call.sent_at = self.clock()
                ts = call.request.headers.get("ts")
                if ts is not None and ts.isdigit() and self.now_ms() - int(ts) > MAX_SIGNED_WAIT:
                    raise StaleSignature
            if deadline is not None:
                deadline.reschedule(earliest(limit, None if read is None else loop.time() + read))

        return trace

    def _raise_transport(self, call: _Call, exc: httpx.RequestError) -> NoReturn:
        call.outcome = type(exc).__name__
        error = from_httpx_error(
            exc,
            action=call.action,
            phone_masked=call.phone_masked,
            ts=call.request.headers.get("ts"),
        )
        if isinstance(error, ProtocolError):  # a transport that failed to decode the body
            error = self._for_action(call, error)
        raise error from exc

    def _raise_for_action(self, call: _Call, exc: ProtocolError) -> None:
        """For ``init``, raise the error that says a login may have started (if it may)."""
        error = self._for_action(call, exc)
        if error is not exc:
            raise error from None

    @staticmethod
    def _for_action(call: _Call, exc: ProtocolError) -> ProtocolError:
        if call.action != "init":
            return exc
        return for_init(exc, phone_masked=call.phone_masked, ts=call.request.headers.get("ts"))

    def _learn(
        self, call: _Call, error: ApiError | None, *, date: str | None, received_at: float
    ) -> None:
        """Tell the limiter how the answer went; take the provider's clock from it."""
        ticket = call.ticket
        sent_at = received_at if call.sent_at is None else call.sent_at
        if isinstance(error, RateLimitedError):
            if ticket is not None:
                self.limiter.on_throttle(ticket)
            rate = self.limited_rate()
            fire(self.hooks.on_throttle, ThrottleEvent(call.action, rate))
        elif ticket is not None:  # None: the transport never asked for the turn
            self.limiter.on_success(ticket)
        if isinstance(error, TimestampExpiredError):
            changed = self.clock_sync.expired(date, sent_at, received_at)
        else:
            changed = self.clock_sync.observe(date, sent_at, received_at)
        if changed:
            fire(self.hooks.on_clock_adjust, ClockEvent(self.clock_sync.offset_ms))

    def _report(self, call: _Call, elapsed: float) -> None:
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "%s attempt=%d phone=%s %s elapsed_ms=%.1f",
                call.action,
                call.attempts.count,
                call.phone_masked,
                call.outcome,
                elapsed * 1000,
            )
        if self.hooks.on_attempt is not None:
            event = AttemptEvent(
                call.action,
                call.attempts.count,
                call.code,
                call.outcome,
                elapsed,
                call.phone_masked,
            )
            fire(self.hooks.on_attempt, event)


@attrs.define
class _Call:
    """One call's request and what its latest attempt came to."""

    action: str
    request: httpx.Request
    attempts: Attempts
    phone_masked: str | None
    deadline_at: float | None = None
    code: int | None = None
    outcome: str = "no answer"
    ticket: int | None = None
    """What the rate limiter granted this attempt's turn with; ``None`` before."""
    waiting_for_turn: bool = False
    """Admitted by the send gate, its turn to come once it has a connection."""
    sent_at: float | None = None
    """Wall time at which the attempt's request went out, as well as known."""


_UNBOUNDED: contextlib.nullcontext[None] = contextlib.nullcontext()
_PER_ATTEMPT = frozenset({"trace", ENDS_BY})
"""Request extensions set anew for each attempt."""
_READ = httpx.ByteStream(b"")
"""What a response's stream becomes once read and closed."""


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """Read a streamed body and undo its ``Content-Encoding``, refusing one larger
    than ``limit`` bytes, encoded or decoded, without reading or decoding it whole."""
    raw = response.extensions.get(RAW_BODY)
    if (
        isinstance(raw, bytes)
        and 0 < len(raw) <= limit
        and response.headers.get("Content-Encoding") is None
    ):
        return raw  # read whole by the transport, and not encoded: the common case
    declared = response.headers.get("Content-Length")
    try:
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise UndecodableBody(
                f"the response declares {declared} bytes, over the {limit} accepted"
            )
        if response.is_stream_consumed:  # built from bytes in memory: decoded already
            if len(response.content) > limit:
                raise too_large(limit)
            return response.content
        decoder = BodyDecoder(response.headers.get("Content-Encoding"), limit=limit)
        if isinstance(raw, bytes):  # read whole by the transport: no streaming needed
            if len(raw) > limit:
                raise too_large(limit)
            decoder.feed(raw)
            return decoder.finish()
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            decoder.feed(chunk)
        return decoder.finish()
    except UndecodableBody as exc:
        raise ProtocolError(str(exc), status_code=response.status_code, excerpt="") from None
