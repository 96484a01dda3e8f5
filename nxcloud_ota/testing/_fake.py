"""FakeNxCloud: an ASGI application that behaves like NXCloud's OTA API.

An API call (``POST /api/ota/init`` or ``POST /api/ota/verify``) goes through
these steps, in this order; the first that answers wins:

1. ``latency``: the simulator sleeps that long (with the injected ``sleep``).
2. ``drop_next``: no answer at all (see :func:`~._asgi.drop_connection`). A dropped
   call changes nothing: no record, no debit, no token.
3. ``fail_next``: the scripted code, whatever the request holds.
4. Authentication, like the provider: headers 1001, ``bizType``/``action`` 1002,
   access key 1005, ``ts`` 1004, signature and Content-Type 1003.
5. Rate limit: authenticated calls take a token from one bucket; none left: 2206.
6. ``fail_rate``: with that probability, 99 (drawn from ``random.Random(seed)``).
7. The body: a JSON object with the required string fields, else 9901.
8. The app: unknown or disabled 9906, no price 9907.
9. The action: ``init`` debits the account (empty: 9908) and starts a login;
   ``verify`` answers its status, or 2205 for an unknown or expired ``requestId``.

Every call, dropped or not, is appended to :attr:`FakeNxCloud.requests`.
Other paths: ``GET /ota/auth/{requestId}`` (the login url) completes a login and
answers a small HTML page; anything else is a plain 404.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

import attrs
import httpx
from attrs.validators import ge, gt, le, optional

from .._models import VerifyStatus
from ._asgi import (
    Receive,
    Scope,
    Send,
    base_url,
    drop_connection,
    header_items,
    lifespan,
    read_body,
    send_json,
    send_text,
)
from ._callback import deliver_callback
from ._checks import MESSAGES, Rejection
from ._logins import callback_params
from ._records import Account, App, RecordedHeaders, RecordedRequest
from ._state import LOGIN_PATH, State

__all__ = ["FAKE_ACCESS_KEY", "FAKE_ACCESS_SECRET", "FAKE_APP_KEY", "FakeNxCloud"]

FAKE_ACCESS_KEY = "fake-access-key"
"""The access key of the simulator's default account."""
FAKE_ACCESS_SECRET = "fake-access-secret"  # noqa: S105 - a published test credential
"""The access secret of the simulator's default account."""
FAKE_APP_KEY = "fake-app-key"
"""The app key of the simulator's default (enabled, priced) application."""

API_PATHS = {"/api/ota/init": "init", "/api/ota/verify": "verify"}


@attrs.define(kw_only=True)
class FakeNxCloud:
    """A behavioural simulator of the NXCloud OTA API, as an ASGI application.

    Use it in process with ``httpx.ASGITransport(app=fake)``, or on a port with
    :func:`~nxcloud_ota.testing.serve`. Every answer is HTTP 200 with the JSON
    envelope, and a ``Date`` header from the simulator's clock (``clock()`` plus
    ``clock_offset_ms``). ``clock`` (seconds) also drives the rate limit's refill
    and the records' ``record_ttl``; ``sleep`` serves ``latency``. ``rate``,
    ``burst``, ``fail_rate``, ``latency``, ``clock_offset_ms``, ``record_ttl``,
    ``callback_url``, ``clock`` and ``sleep`` may be changed at any time;
    ``balance`` reads and sets the default account's balance (``None`` is unlimited).
    Out-of-range values (``rate <= 0``, ``burst < 1``, ``fail_rate`` outside
    [0, 1], negative ``latency``, ``record_ttl <= 0``) raise ``ValueError``, at
    construction and on assignment alike.

    :attr:`requests` lists the API calls received, as :class:`RecordedRequest`
    values. When a login completes and ``callback_url`` is set, the status callback is
    POSTed there (through ``callback_transport`` if given) before the login page
    or :meth:`open_url` returns; failures are only logged. With ``auto_open``, every
    phone opens its url by itself that many seconds after ``init`` (for code that
    polls ``verify``; ``None``, the default, waits for someone to open it).

    ``access_key``, ``access_secret`` and ``app_key`` are the default account and
    app (``FAKE_ACCESS_KEY``, ``FAKE_ACCESS_SECRET``, ``FAKE_APP_KEY``); ``seed``
    makes the calls that ``fail_rate`` fails the same on every run.

    Args:
        access_key: The default account's access key.
        access_secret: The default account's secret.
        app_key: The default application's key (enabled and priced).
        balance: The logins the default account can pay for (each accepted
            ``init`` debits one; then 9908); ``None``: unlimited.
        rate: API calls per second allowed before 2206 (a token bucket);
            ``None``: no limit.
        burst: The bucket's size; ``None``: ``rate`` rounded down, at least 1.
        fail_rate: The share of API calls answered 99 at random, in [0, 1].
        latency: Seconds every API call waits before its answer.
        clock_offset_ms: How far the simulator's clock is from ``clock``, in
            milliseconds (for timestamp checks and the ``Date`` header).
        record_ttl: Seconds a login is kept; ``verify`` of an older one answers
            2205.
        callback_url: Where the status callback is POSTed; ``None``: nowhere.
        auto_open: Seconds after ``init`` at which every phone opens its url by
            itself; ``None``: only when someone opens it.
        seed: Makes the random failures of ``fail_rate`` repeatable.
        clock: Wall time in seconds.
        sleep: Waits for ``latency`` and ``auto_open``.
        callback_transport: The :class:`httpx.AsyncBaseTransport` the callback
            goes through; ``None``: the network.
    """

    access_key: str = FAKE_ACCESS_KEY
    access_secret: str = attrs.field(default=FAKE_ACCESS_SECRET, repr=False)
    app_key: str = FAKE_APP_KEY
    _initial_balance: int | None = attrs.field(default=None, alias="balance", repr=False)
    rate: float | None = attrs.field(default=None, validator=optional(gt(0)))
    burst: int | None = attrs.field(default=None, validator=optional(ge(1)))
    fail_rate: float = attrs.field(default=0.0, validator=[ge(0), le(1)])
    latency: float = attrs.field(default=0.0, validator=ge(0))
    clock_offset_ms: int = 0
    record_ttl: float = attrs.field(default=600.0, validator=gt(0))
    callback_url: str | None = None
    auto_open: float | None = attrs.field(default=None, validator=optional(ge(0)))
    seed: int | None = None
    clock: Callable[[], float] = attrs.field(default=time.time, repr=False)
    sleep: Callable[[float], Awaitable[None]] = attrs.field(default=asyncio.sleep, repr=False)
    callback_transport: httpx.AsyncBaseTransport | None = attrs.field(default=None, repr=False)
    requests: list[RecordedRequest] = attrs.field(init=False, factory=list, repr=False)
    _state: State = attrs.field(init=False, repr=False)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _phones: set[asyncio.Task[None]] = attrs.field(init=False, factory=set, repr=False)

    def __attrs_post_init__(self) -> None:
        # Indirect, so that a clock or ttl replaced at run time is used.
        self._state = State(clock=self._wall, ttl=lambda: self.record_ttl, seed=self.seed)
        self.add_account(self.access_key, self.access_secret, balance=self._initial_balance)
        self.add_app(self.app_key)

    @property
    def balance(self) -> int | None:
        """The default account's balance; ``None`` is unlimited."""
        return self._state.accounts[self.access_key].balance

    @balance.setter
    def balance(self, value: int | None) -> None:
        self._state.accounts[self.access_key].balance = value

    def add_account(
        self, access_key: str, access_secret: str, *, balance: int | None = None
    ) -> None:
        """Register (or replace) an account; each accepted ``init`` debits its balance.

        Args:
            access_key: The account's key.
            access_secret: The secret its requests must be signed with.
            balance: The logins it can pay for; ``None``: unlimited.
        """
        self._state.accounts[access_key] = Account(access_key, access_secret, balance)

    def add_app(self, app_key: str, *, enabled: bool = True, priced: bool = True) -> None:
        """Register (or replace) an application: disabled answers 9906, unpriced 9907.

        Args:
            app_key: The application's key.
            enabled: ``False``: every call for it answers 9906.
            priced: ``False``: every call for it answers 9907.
        """
        self._state.apps[app_key] = App(app_key, enabled, priced)

    def set_outcome(self, phone: str, status: VerifyStatus | str) -> None:
        """Make opening the url of a login for ``phone`` end in ``status`` (default SUCCESS).

        ``PENDING`` leaves such logins pending for good, as if the carrier never answered.

        Args:
            phone: The phone number, as the login's ``init`` gives it.
            status: The status to end in, a :class:`~nxcloud_ota.VerifyStatus` or
                its name.
        """
        self._state.logins.outcomes[phone] = VerifyStatus(status)

    def fail_next(self, n: int, code: int = 99) -> None:
        """Answer ``code`` to the next ``n`` API calls, before any other check.

        Args:
            n: How many calls.
            code: The envelope code to answer (99: a transient system error).
        """
        self._state.faults.fail_next(n, code)

    def drop_next(self, n: int) -> None:
        """Give no answer at all to the next ``n`` API calls (the connection drops).

        Args:
            n: How many calls.
        """
        self._state.faults.drop_next(n)

    def _wall(self) -> float:
        return self.clock()

    def now(self) -> float:
        """The simulator's wall clock, in seconds: ``clock()`` plus ``clock_offset_ms``."""
        return self.clock() + self.clock_offset_ms / 1000

    async def open_url(self, url: str) -> VerifyStatus:
        """Complete a login as if the phone had opened ``url``; return its status.

        Raises ``ValueError`` if ``url`` is not a login url of this simulator and
        ``LookupError`` if the login is unknown or has expired.

        Args:
            url: The ``url`` that ``init`` returned.
        """
        path = httpx.URL(url).path
        if not path.startswith(LOGIN_PATH):
            raise ValueError(f"not a login url of the simulator: {url!r}")
        status = await self._open(path.removeprefix(LOGIN_PATH))
        if status is None:
            raise LookupError("unknown or expired login")
        return status

    async def _open(self, request_id: str) -> VerifyStatus | None:
        with self._lock:
            record, completed = self._state.logins.open(request_id)
        if record is None:
            return None
        if completed and self.callback_url is not None:
            params = callback_params(record, self.now())
            await deliver_callback(self.callback_url, params, transport=self.callback_transport)
        return record.status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (``http``; ``lifespan`` is acknowledged)."""
        if scope.get("type") == "lifespan":
            await lifespan(receive, send)
            return
        if scope.get("type") != "http":
            return
        path = str(scope.get("path", ""))
        method = scope.get("method")
        action = API_PATHS.get(path)
        if action is not None and method == "POST":
            await self._api(action, scope, receive, send)
        elif action is not None:
            await send_text(
                send, 405, "Method Not Allowed", date=self.now(), extra=[(b"allow", b"POST")]
            )
        elif path.startswith(LOGIN_PATH) and method == "GET":
            await self._login_page(path.removeprefix(LOGIN_PATH), send)
        else:
            await send_text(send, 404, "Not Found", date=self.now())

    async def _login_page(self, request_id: str, send: Send) -> None:
        status = await self._open(request_id)
        if status is None:
            text = "This link is unknown or has expired."
        else:
            text = f"Verification finished: {status.value}"
        page = f"<!doctype html><title>NXCloud OTA (simulated)</title><p>{text}</p>\n"
        await send_text(send, 404 if status is None else 200, page, date=self.now(), html=True)

    async def _api(self, action: str, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        received_at = time.monotonic()
        items = header_items(scope)
        if self.latency > 0:
            await self.sleep(self.latency)
        code: int | None = None
        msg, data = "", None
        with self._lock:  # serve_in_thread shares the state with the test's thread
            if not self._state.faults.take_drop():
                outcome = self._state.answer(
                    action,
                    dict(reversed(items)),
                    body,
                    now_ms=round(self.now() * 1000),
                    base_url=base_url(scope),
                    rate=self.rate,
                    burst=self.burst,
                    fail_rate=self.fail_rate,
                )
                if isinstance(outcome, Rejection):
                    code, msg = outcome.code, outcome.msg
                else:
                    code, msg, data = 0, MESSAGES[0], outcome
            self.requests.append(
                RecordedRequest(
                    action=action,
                    path=str(scope.get("path", "")),
                    headers=RecordedHeaders(items),
                    body=body,
                    code=code,
                    received_at=received_at,
                )
            )
        if code is None:
            await drop_connection(receive, send)
            return
        if action == "init" and code == 0 and data is not None and self.auto_open is not None:
            self._open_later(str(data["requestId"]), self.auto_open)
        await send_json(send, {"code": code, "msg": msg, "data": data}, date=self.now())

    def _open_later(self, request_id: str, delay: float) -> None:
        async def phone() -> None:
            await self.sleep(delay)
            await self._open(request_id)

        task = asyncio.get_running_loop().create_task(phone())
        self._phones.add(task)  # keep a reference until it is done
        task.add_done_callback(self._phones.discard)
