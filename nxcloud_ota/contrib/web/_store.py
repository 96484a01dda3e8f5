"""The logins this application started: the only ones it asks the provider about."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from ..._errors import NxCloudError
from ..._models import VerifyStatus
from ..._validation import mask_phone
from ._expiring import ExpiringMap

__all__ = ["LoginStore", "MemoryLoginStore", "StartedLogin", "UnknownLoginError"]


@attrs.frozen
class StartedLogin:
    """A login this application started: its ``request_id``, the ``phone`` it was
    started for, and its ``status`` (``PENDING`` until ``verify`` says otherwise).

    >>> StartedLogin("989d535f", "8615800001795").phone  # masked in the repr
    '8615800001795'

    Args:
        request_id: The id ``init`` returned.
        phone: The number the login was started for, normalised.
        status: The last status ``verify`` gave.
    """

    request_id: str
    phone: str = attrs.field(repr=lambda p: repr(mask_phone(p)))
    status: VerifyStatus = VerifyStatus.PENDING


class UnknownLoginError(NxCloudError, LookupError):
    """A ``request_id`` this application did not start, or has forgotten.

    Nothing was asked of the provider. Web backends answer it with 404.

    Args:
        request_id: The id asked about, kept as ``request_id``.
    """

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(f"no login {request_id!r} was started here, or it has expired")


@runtime_checkable
class LoginStore(Protocol):
    """Where the logins an application started are kept, each for a time to live.

    :class:`MemoryLoginStore` serves one process and
    :class:`~nxcloud_ota.contrib.redis.RedisLoginStore` many; implement these
    three methods over your own database to use that instead. A login is saved
    when ``init`` returns it (``PENDING``, for ``login_ttl``) and again once
    ``verify`` gives its final status (for ``final_ttl``).
    """

    async def save(self, login: StartedLogin, ttl: float) -> None:
        """Keep ``login`` (replacing what is kept under its ``request_id``) for ``ttl`` seconds.

        Args:
            login: The login to keep.
            ttl: Seconds to keep it.
        """
        ...

    async def get(self, request_id: str) -> StartedLogin | None:
        """The login kept under ``request_id``, or ``None`` if none is (any more).

        Args:
            request_id: The id of the login.
        """
        ...

    async def discard(self, request_id: str) -> None:
        """Forget ``request_id`` (the provider no longer knows it).

        Args:
            request_id: The id of the login.
        """
        ...


class MemoryLoginStore:
    """A :class:`LoginStore` in this process's memory; expired logins are swept.

    Args:
        clock: Monotonic time in seconds, for the times to live; exists for tests.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._logins: ExpiringMap[StartedLogin] = ExpiringMap(clock)

    def __repr__(self) -> str:
        return f"MemoryLoginStore(logins={len(self._logins)})"

    async def save(self, login: StartedLogin, ttl: float) -> None:
        """Keep ``login`` for ``ttl`` seconds.

        Args:
            login: The login to keep.
            ttl: Seconds to keep it.
        """
        self._logins.put(login.request_id, login, ttl)

    async def get(self, request_id: str) -> StartedLogin | None:
        """The login kept under ``request_id``, or ``None``.

        Args:
            request_id: The id of the login.
        """
        return self._logins.get(request_id)

    async def discard(self, request_id: str) -> None:
        """Forget ``request_id``.

        Args:
            request_id: The id of the login.
        """
        self._logins.pop(request_id)
