"""The signing hook: an :class:`httpx.Auth` that signs each attempt as it is sent."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator

import httpx

from ._signing import Algorithm, compute_sign

__all__ = ["SIGNED_AS", "Secret", "SigningAuth"]

SIGNED_AS = "nxcloud_ota.signed_as"
"""The request extension naming what a request is signed as: ``(action, bizType)``."""


class Secret:
    """A string that never shows itself: ``repr`` and ``str`` print a mask.

    >>> Secret("abciiiko2k3")
    Secret('********')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself, for signing only."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.reveal() == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SigningAuth(httpx.Auth):
    """Stamp a fresh ``ts`` and ``sign`` on every request, right before it is sent.

    The request must carry its ``accessKey``, ``bizType`` and ``action`` headers
    (and ``algorithm`` for SHA-256: the values the hook is made with), and
    ``action`` and ``bizType`` again in its :data:`SIGNED_AS` extension, where
    the hook reads them without a header lookup. The signature covers
    ``request.content``, the exact bytes httpx sends, so the signed text and the
    body on the wire cannot differ.
    Because httpx runs the auth flow on each ``send``, a retried request is
    re-signed with a new ``ts``.

    ``clock_ms`` returns the current time in milliseconds as the provider should see
    it (the client adds its clock-offset correction there).
    """

    requires_request_body = True

    def __init__(
        self,
        *,
        access_key: str,
        access_secret: Secret,
        algorithm: Algorithm,
        clock_ms: Callable[[], int],
    ) -> None:
        self._access_key = access_key
        self._secret = access_secret
        self._algorithm: Algorithm = algorithm
        self._clock_ms = clock_ms

    def __repr__(self) -> str:
        return f"SigningAuth(access_key={self._access_key!r}, algorithm={self._algorithm!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set ``ts`` and ``sign``."""
        self.sign(request)
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Set ``ts`` and ``sign`` (without running :meth:`auth_flow` in a wrapper)."""
        await request.aread()  # the content signed is the content sent
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Stamp ``request`` with a fresh ``ts`` and the ``sign`` over it."""
        action, biz_type = request.extensions[SIGNED_AS]
        headers = request.headers
        ts = str(self._clock_ms())
        headers["ts"] = ts
        headers["sign"] = compute_sign(
            access_key=self._access_key,
            action=action,
            biz_type=biz_type,
            ts=ts,
            body=request.content,
            access_secret=self._secret.reveal(),
            algorithm=self._algorithm,
        )
