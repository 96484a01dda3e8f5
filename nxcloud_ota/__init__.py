"""nxcloud_ota: the asyncio client of NXCloud's OTA one-click-login API.

>>> from nxcloud_ota import AsyncOtaClient
>>> client = AsyncOtaClient(access_key="ak", access_secret="s3cret", app_key="app")
>>> client
AsyncOtaClient(access_key='ak', app_key='app', base_url='https://api2.nxcloud.com')
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._bulk import BulkItem, BulkStats, InitOutcome
from ._client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, AsyncOtaClient
from ._errors import (
    ApiError,
    AppNotPricedError,
    AppUnavailableError,
    AuthError,
    ConnectionFailedError,
    EventLoopError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidInputError,
    InvalidParameterError,
    NxCloudError,
    PermissionDeniedError,
    PoolTimeoutError,
    ProtocolError,
    RateLimitedError,
    RecordNotFoundError,
    RequestFailedError,
    RequestMaybeSentError,
    ServerError,
    SignatureError,
    TimestampExpiredError,
    TransportError,
    UnreadableAnswerError,
    WaitTimeoutError,
)
from ._hooks import AttemptEvent, ClockEvent, Hooks, RetryEvent, ThrottleEvent
from ._models import CallbackEvent, InitRequest, InitResult, VerifyResult, VerifyStatus
from ._ratelimit import AdaptiveRateLimiter, RateLimiter, RetryBudget
from ._retry import RetryPolicy
from ._signing import Algorithm, compute_sign
from ._sync import OtaClient
from ._validation import mask_phone
from ._version import __version__

if TYPE_CHECKING:
    from ._aiohttp_transport import AiohttpTransport

# A library configures no logging output of its own; the application decides.
logging.getLogger("nxcloud_ota").addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "AdaptiveRateLimiter",
    "AiohttpTransport",
    "Algorithm",
    "ApiError",
    "AppNotPricedError",
    "AppUnavailableError",
    "AsyncOtaClient",
    "AttemptEvent",
    "AuthError",
    "BulkItem",
    "BulkStats",
    "CallbackEvent",
    "ClockEvent",
    "ConnectionFailedError",
    "EventLoopError",
    "Hooks",
    "InitOutcome",
    "InitRequest",
    "InitResult",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidInputError",
    "InvalidParameterError",
    "NxCloudError",
    "OtaClient",
    "PermissionDeniedError",
    "PoolTimeoutError",
    "ProtocolError",
    "RateLimitedError",
    "RateLimiter",
    "RecordNotFoundError",
    "RequestFailedError",
    "RequestMaybeSentError",
    "RetryBudget",
    "RetryEvent",
    "RetryPolicy",
    "ServerError",
    "SignatureError",
    "ThrottleEvent",
    "TimestampExpiredError",
    "TransportError",
    "UnreadableAnswerError",
    "VerifyResult",
    "VerifyStatus",
    "WaitTimeoutError",
    "__version__",
    "compute_sign",
    "mask_phone",
]


if not TYPE_CHECKING:  # hidden from type checkers, which would accept any name through it

    def __getattr__(name: str) -> object:
        # aiohttp costs more to import than the rest of the package together: it is
        # loaded when the default transport is first made, or when asked for by name.
        if name == "AiohttpTransport":
            from ._aiohttp_transport import AiohttpTransport  # noqa: PLC0415

            return AiohttpTransport
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | {"AiohttpTransport"})
