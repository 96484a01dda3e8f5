"""One API call on the wire: pace, sign, send, decode, retry, correct the clock."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

import attrs
import httpx

from ._auth import Secret, SigningAuth
from ._envelope import decode_response
from ._errors import ApiError, ProtocolError, RateLimitedError, TimestampExpiredError
from ._httperrors import from_httpx_error
from ._ratelimit import RateLimiter, RetryBudget
from ._retry import Attempts, RetryPolicy, call_with_retries
from ._signing import Algorithm
from ._validation import mask_phone

__all__ = ["Exchange"]

T = TypeVar("T")

_log = logging.getLogger("nxcloud_ota")
_HEADERS = {
    action: {"Content-Type": "application/json", "bizType": "6", "action": action}
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
    clock_offset_ms: int = 0
    budget: RetryBudget = attrs.field(init=False)
    auth: SigningAuth = attrs.field(init=False)
    urls: dict[str, httpx.URL] = attrs.field(init=False)

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
        # Parsed once: parsing a URL string costs more than the rest of building a request.
        self.urls = {action: httpx.URL(f"{self.base_url}/api/ota/{action}") for action in _HEADERS}

    def now_ms(self) -> int:
        """The provider's time as we best know it, in milliseconds (for ``ts``)."""
        return int(self.clock() * 1000) + self.clock_offset_ms

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
        request = self.http.build_request(
            "POST", self.urls[action], content=body, headers=_HEADERS[action]
        )
        masked = mask_phone(phone) if phone is not None else None

        async def attempt() -> T:
            started = self.monotonic()
            outcome = "no answer"
            ticket = await self.limiter.acquire()
            try:
                try:
                    response = await self.http.send(request, auth=self.auth)
                except httpx.RequestError as exc:
                    outcome = type(exc).__name__
                    raise from_httpx_error(
                        exc, action=action, phone_masked=masked, ts=request.headers.get("ts")
                    ) from exc
                try:
                    result = decode_response(response.status_code, response.content, parse)
                except ApiError as exc:
                    outcome = f"code={exc.code}"
                    if isinstance(exc, RateLimitedError):
                        self.limiter.on_throttle(ticket)
                    else:
                        self.limiter.on_success(ticket)
                        if isinstance(exc, TimestampExpiredError):
                            self.correct_clock(response.headers.get("Date"))
                    raise
                except ProtocolError:
                    outcome = f"invalid envelope, HTTP {response.status_code}"
                    raise
                outcome = "code=0"
                self.limiter.on_success(ticket)
                return result
            finally:
                if _log.isEnabledFor(logging.DEBUG):
                    _log.debug(
                        "%s attempt=%d phone=%s %s elapsed_ms=%.1f",
                        action,
                        attempts.count,
                        masked,
                        outcome,
                        (self.monotonic() - started) * 1000,
                    )

        return await call_with_retries(
            attempt,
            policy=self.policy,
            idempotent=idempotent,
            attempts=attempts,
            sleep=self.sleep,
            random=self.random,
            monotonic=self.monotonic,
            action=action,
            budget=self.budget,
        )

    def correct_clock(self, date_header: str | None) -> None:
        """After a 1004, take the provider's clock from its ``Date`` header."""
        if not date_header:
            return
        try:
            server_ms = int(parsedate_to_datetime(date_header).timestamp() * 1000)
        except (TypeError, ValueError):
            return
        self.clock_offset_ms = server_ms - int(self.clock() * 1000)
        _log.warning("clock offset to the provider corrected to %+d ms", self.clock_offset_ms)
