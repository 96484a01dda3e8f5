"""Every exception the package raises, and the one table that maps API codes to them.

The tree::

    NxCloudError
    ├── InvalidInputError            (also a ValueError) bad input, nothing was sent
    ├── EventLoopError               (also a RuntimeError) a client used across event loops
    ├── WaitTimeoutError             (also a TimeoutError) ``wait`` gave up; ``last`` holds
    │                                the last ``VerifyResult`` (still ``PENDING``)
    ├── TransportError               the HTTP exchange failed; the httpx error is __cause__
    │   ├── ConnectionFailedError    the request never left (connect error, DNS, refused)
    │   ├── PoolTimeoutError         no free connection in time: local saturation
    │   └── RequestMaybeSentError    it may have reached the server (read timeout,
    │       │                        reset mid-response): an init may have started
    │       └── UnreadableAnswerError  (also a ProtocolError) init only: an answer came,
    │                                but not a valid envelope: a login may have started
    ├── ProtocolError                the answer is not a valid envelope (HTML, truncated JSON,
    │                                a redirect, a body over 1 MiB)
    └── ApiError                     the API answered a non-zero ``code``
        ├── AuthError                1000-1099
        │   ├── SignatureError       1003
        │   ├── TimestampExpiredError 1004
        │   └── PermissionDeniedError 1005
        ├── ServerError              the provider's side
        │   ├── RequestFailedError   88 (not retried)
        │   └── InternalServerError  99 (retried)
        ├── RecordNotFoundError      2205
        ├── RateLimitedError         2206 (retried, slows the client down)
        ├── InvalidParameterError    9901
        ├── AppUnavailableError      9906
        ├── AppNotPricedError        9907
        └── InsufficientBalanceError 9908

Codes the table does not know raise a plain :class:`ApiError` that keeps ``code``
and ``msg``. Never branch on ``msg``: the provider localises it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import VerifyResult

__all__ = [
    "ApiError",
    "AppNotPricedError",
    "AppUnavailableError",
    "AuthError",
    "ConnectionFailedError",
    "EventLoopError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidInputError",
    "InvalidParameterError",
    "NxCloudError",
    "PermissionDeniedError",
    "PoolTimeoutError",
    "ProtocolError",
    "RateLimitedError",
    "RecordNotFoundError",
    "RequestFailedError",
    "RequestMaybeSentError",
    "ServerError",
    "SignatureError",
    "TimestampExpiredError",
    "TransportError",
    "UnreadableAnswerError",
    "WaitTimeoutError",
    "error_for_code",
]


class NxCloudError(Exception):
    """Base class of every error raised by ``nxcloud_ota``.

    Every one survives ``pickle`` (process pools and task queues move errors
    between processes) with its message and attributes, whatever its
    ``__init__`` asks for: subclasses need nothing of their own for it.
    """

    def __reduce__(self) -> tuple[object, ...]:
        # Exception's own reduce calls cls(*self.args), which fails for keyword-only
        # arguments; rebuild without __init__, then restore the attributes.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[NxCloudError], args: tuple[object, ...]) -> NxCloudError:
    error = cls.__new__(cls)
    error.args = args
    return error


class InvalidInputError(NxCloudError, ValueError):
    """An argument is invalid; raised before anything is sent.

    ``field`` names the offending argument (``"phone"``, ``"user_ip"``, ...).

    Args:
        field: The argument's name, kept as ``field``.
        problem: What is wrong with it, kept as ``problem``; the message is
            ``"field: problem"``.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class EventLoopError(NxCloudError, RuntimeError):
    """A client was used from another event loop than the one it first ran in.

    Its connections belong to that loop. Create one client per event loop, inside
    it: in FastAPI's lifespan, in aiohttp's ``cleanup_ctx``, or in the coroutine
    that ``asyncio.run`` runs.
    """


class WaitTimeoutError(NxCloudError, TimeoutError):
    """``wait`` gave up: the login was not final after ``timeout`` seconds.

    ``last`` is the last :class:`VerifyResult` (``last.status`` is usually
    ``PENDING``: the phone has not opened the url yet). The login may still end
    later: :meth:`AsyncOtaClient.verify` it again, or wait for the callback.

    Args:
        last: The last result ``wait`` received, kept as ``last``.
        timeout: The seconds ``wait`` was given, kept as ``timeout``.
    """

    def __init__(self, last: VerifyResult, timeout: float) -> None:
        self.last = last
        self.timeout = timeout
        super().__init__(
            f"request {last.request_id} is still {last.status.value} after {timeout:g} s: "
            "the phone has not opened the url yet"
        )


class TransportError(NxCloudError):
    """The HTTP exchange failed; the underlying ``httpx`` error is ``__cause__``.

    ``action`` is ``"init"`` or ``"verify"``; ``attempts`` counts the requests the
    call tried, retries included.

    Args:
        message: What failed, in words.
        action: ``"init"`` or ``"verify"``, kept as ``action``.
        attempts: Requests the call sent, retries included, kept as ``attempts``.
    """

    def __init__(self, message: str, *, action: str, attempts: int = 1) -> None:
        self.action = action
        self.attempts = attempts
        super().__init__(message)


class ConnectionFailedError(TransportError):
    """The request never left this machine (connect error, DNS failure, refused)."""


class PoolTimeoutError(TransportError):
    """No pooled connection became free in time.

    This is local saturation, not a provider problem: raise the pool limits, lower
    the concurrency, or lengthen ``timeout.pool``. It is not retried.
    """


class RequestMaybeSentError(TransportError):
    """The request may have reached the provider, but no answer was read.

    For ``init`` this means a (billed) login may have started: it is never retried
    blindly. ``phone_masked`` and ``ts`` (the timestamp of the last attempt, in ms)
    identify the attempt for reconciliation.

    Args:
        message: What failed, in words.
        action: ``"init"`` or ``"verify"``, kept as ``action``.
        attempts: Requests the call sent, retries included, kept as ``attempts``.
        phone_masked: The login's phone number, masked (``init`` only; ``None``
            for ``verify``).
        ts: The ``ts`` header of the last attempt, in milliseconds (``init``
            only; ``None`` for ``verify``).
    """

    def __init__(
        self,
        message: str,
        *,
        action: str,
        attempts: int = 1,
        phone_masked: str | None = None,
        ts: str | None = None,
    ) -> None:
        super().__init__(message, action=action, attempts=attempts)
        self.phone_masked = phone_masked
        self.ts = ts


class ProtocolError(NxCloudError):
    """The response is not a valid API envelope.

    ``status_code`` is the HTTP status and ``excerpt`` a short, printable start of
    the body (for example a gateway's HTML error page), with anything that looks
    like a phone number masked.

    Args:
        problem: What is wrong with the answer, in words (``"not JSON"``, ...).
        status_code: The answer's HTTP status.
        excerpt: The start of the body; phone-like numbers in it are masked
            before it is kept.
    """

    def __init__(self, problem: str, *, status_code: int, excerpt: str) -> None:
        self.problem = problem
        self.status_code = status_code
        self.excerpt: str = _masked(excerpt)  # a gateway's page may echo the request's phone
        super().__init__(f"{problem} (HTTP {status_code}): {self.excerpt!r}")


class UnreadableAnswerError(RequestMaybeSentError, ProtocolError):
    """``init`` was answered, but not with a valid envelope: a login may have started.

    Both a :class:`RequestMaybeSentError` (reconcile before starting another
    login; ``phone_masked`` and ``ts`` identify the attempt) and a
    :class:`ProtocolError` (``status_code`` and ``excerpt`` show what came back:
    a gateway's 502 page, a body that is not JSON, a ``code`` that is not an
    integer, a redirect). Never retried.

    Args:
        problem: What is wrong with the answer, in words.
        status_code: The answer's HTTP status.
        excerpt: The start of the body, kept as given: mask it first.
        action: The call, ``"init"``: no other call raises it.
        attempts: Requests the call sent, retries included.
        phone_masked: The login's phone number, masked.
        ts: The ``ts`` header of the attempt, in milliseconds.
    """

    def __init__(
        self,
        problem: str,
        *,
        status_code: int,
        excerpt: str,
        action: str = "init",
        attempts: int = 1,
        phone_masked: str | None = None,
        ts: str | None = None,
    ) -> None:
        # The two bases take different arguments: set every attribute here.
        self.problem = problem
        self.status_code = status_code
        self.excerpt: str = excerpt
        self.action = action
        self.attempts = attempts
        self.phone_masked = phone_masked
        self.ts = ts
        where = f" for phone {phone_masked}" if phone_masked else ""
        NxCloudError.__init__(
            self,
            f"{problem} (HTTP {status_code}): {excerpt!r}; a login{where} may have started "
            f"(ts={ts}): reconcile before trying again",
        )


_PHONE_LIKE = re.compile(r"\d{7,15}")


def _masked(text: str) -> str:
    # The provider's text may quote a phone number: mask it in what gets printed.
    return _PHONE_LIKE.sub(lambda m: m[0][:-6] + "****" + m[0][-2:], text)


class ApiError(NxCloudError):
    """The API answered with a non-zero ``code``; ``msg`` is its (localised) text.

    ``str(error)`` masks anything in ``msg`` that looks like a phone number;
    ``msg`` itself is kept as received.

    Every subclass takes the same two arguments; the client picks the class
    from ``code``.

    Args:
        code: The envelope's non-zero ``code``.
        msg: The envelope's ``msg``, as received.
    """

    def __init__(self, code: int, msg: str) -> None:
        self.code = code
        self.msg = msg
        super().__init__(f"NXCloud API error {code}: {_masked(msg)}")


class AuthError(ApiError):
    """Authentication failed (codes 1000-1099): headers, signature or permission."""


class SignatureError(AuthError):
    """Code 1003: the signature does not match (wrong secret or altered body)."""


class TimestampExpiredError(AuthError):
    """Code 1004: ``ts`` is more than 60 s away from the provider's clock."""


class PermissionDeniedError(AuthError):
    """Code 1005: unknown access key, or the account lacks the OTA product."""


class ServerError(ApiError):
    """The provider failed on its side (codes 88 and 99)."""


class RequestFailedError(ServerError):
    """Code 88: the request failed; the provider asks you to contact support."""


class InternalServerError(ServerError):
    """Code 99: a transient system error; retried with backoff."""


class RecordNotFoundError(ApiError):
    """Code 2205: no such record (``verify`` of an unknown or expired ``request_id``)."""


class RateLimitedError(ApiError):
    """Code 2206: requests are too frequent; retried with backoff."""


class InvalidParameterError(ApiError):
    """Code 9901: a parameter is missing or invalid."""


class AppUnavailableError(ApiError):
    """Code 9906: the application (``app_key``) does not exist or is disabled."""


class AppNotPricedError(ApiError):
    """Code 9907: the application has no price configured."""


class InsufficientBalanceError(ApiError):
    """Code 9908: the account balance is insufficient."""


_BY_CODE: dict[int, type[ApiError]] = {
    88: RequestFailedError,
    99: InternalServerError,
    1003: SignatureError,
    1004: TimestampExpiredError,
    1005: PermissionDeniedError,
    2205: RecordNotFoundError,
    2206: RateLimitedError,
    9901: InvalidParameterError,
    9906: AppUnavailableError,
    9907: AppNotPricedError,
    9908: InsufficientBalanceError,
}


def error_for_code(code: int, msg: str) -> ApiError:
    """Return the exception for a non-zero envelope ``code`` (not raised)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = AuthError if 1000 <= code <= 1099 else ApiError
    return cls(code, msg)
