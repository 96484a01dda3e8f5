"""The simulator's state as values: accounts, apps, login records and recorded requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import attrs

from .._models import VerifyStatus

__all__ = ["Account", "App", "LoginRecord", "RecordedHeaders", "RecordedRequest"]

REDACTED = "<redacted>"


class RecordedHeaders(Mapping[str, str]):
    """A read-only, case-insensitive view of the headers a request carried.

    ``headers["accessKey"]`` and ``headers["accesskey"]`` are the same entry; the
    ``sign`` header's value is replaced by ``"<redacted>"``. Iteration yields the
    names in lower case, as ASGI delivers them. The first of repeated headers wins.

    Args:
        items: ``(name, value)`` pairs, in the order received.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        collected: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            if key not in collected:
                collected[key] = REDACTED if key == "sign" else value
        self._items = collected

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"RecordedHeaders({self._items!r})"


@attrs.frozen
class RecordedRequest:
    """One API call the simulator received, for tests to inspect.

    Args:
        action: ``"init"`` or ``"verify"``, from the path.
        path: The request's path.
        headers: The headers it carried, ``sign`` redacted.
        body: The raw body.
        code: The envelope code answered; ``None`` when the call was dropped.
        received_at: A :func:`time.monotonic` reading taken when it arrived.
    """

    action: str
    path: str
    headers: RecordedHeaders = attrs.field(repr=False, hash=False)
    body: bytes = attrs.field(repr=False)
    code: int | None
    received_at: float


@attrs.define
class Account:
    """An API account: its secret and its balance (``None`` is unlimited)."""

    access_key: str
    access_secret: str = attrs.field(repr=False)
    balance: int | None = None

    def debit(self) -> bool:
        """Take one unit for an accepted ``init``; ``False`` if the balance is empty."""
        if self.balance is None:
            return True
        if self.balance <= 0:
            return False
        self.balance -= 1
        return True


@attrs.frozen
class App:
    """An OTA application: ``enabled`` (else 9906) and ``priced`` (else 9907)."""

    app_key: str
    enabled: bool = True
    priced: bool = True


@attrs.define
class LoginRecord:
    """A started login: who started it, when (simulator clock seconds), and its status."""

    request_id: str
    access_key: str
    app_key: str
    phone: str = attrs.field(repr=False)
    created_at: float
    status: VerifyStatus = VerifyStatus.PENDING
    opened: bool = False
