"""LoginGuard: the public endpoints' way to the provider, so they cannot be turned
against the account."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import attrs
from attrs.validators import and_, ge, gt, le

from ..._client import AsyncOtaClient
from ..._errors import RecordNotFoundError
from ..._models import InitRequest, InitResult, VerifyStatus
from ..._validation import validate_token
from ._address import address_key
from ._budgets import BudgetExceededError, Budgets, Limit, MemoryBudgets
from ._callback import CallbackReply, confirm_callback, describe, parse_callback
from ._expiring import ExpiringMap
from ._store import LoginStore, MemoryLoginStore, StartedLogin, UnknownLoginError

__all__ = ["LoginGuard", "LoginPolicy"]

_log = logging.getLogger("nxcloud_ota.contrib.web")


PER_PHONE = Limit(5, 600.0)
"""The default budget per phone number: 5 logins per 10 minutes."""
PER_ADDRESS = Limit(20, 60.0)
"""The default budget per client address: 20 logins per minute."""


@attrs.frozen(kw_only=True)
class LoginPolicy:
    """The settings of a :class:`LoginGuard`; the defaults suit a login form.

    Args:
        per_phone: The budget on starting logins (each a billed ``init``) per
            phone number.
        per_address: The budget on starting logins per client address (an
            IPv6 address counted by its ``/ipv6_prefix`` network).
        ipv6_prefix: The length of the IPv6 network counted as one address
            (1 to 128).
        verify_share: The share of the account's rate that ``verify`` calls
            driven by callbacks and status polls may take, per second (above 0,
            at most 1); the rest is left to ``init``.
        account_rate: The account's rate in requests per second, used when the
            client's rate limiter has no current rate of its own (learnt from
            2206 answers, or its ``max_rate``).
        pending_ttl: Seconds this process reuses an answer of ``verify``
            (``PENDING`` above all) for further polls and callbacks of that
            login (0: not at all).
        login_ttl: Seconds a started login is kept while pending.
        final_ttl: Seconds a login's final status is kept once ``verify`` gave it.
    """

    per_phone: Limit = PER_PHONE
    per_address: Limit = PER_ADDRESS
    ipv6_prefix: int = attrs.field(default=64, validator=and_(ge(1), le(128)))
    verify_share: float = attrs.field(default=0.25, validator=and_(gt(0), le(1)))
    account_rate: float = attrs.field(default=100.0, validator=gt(0))
    pending_ttl: float = attrs.field(default=2.0, validator=ge(0))
    login_ttl: float = attrs.field(default=900.0, validator=gt(0))
    final_ttl: float = attrs.field(default=3600.0, validator=gt(0))


@runtime_checkable
class _Paced(Protocol):
    @property
    def rate(self) -> float | None: ...


def _phone_key(phone: str) -> str:
    # Budgets are keyed by a digest, so their store holds no phone numbers.
    return "phone:" + hashlib.sha256(phone.encode()).hexdigest()[:32]


@attrs.define(eq=False)
class LoginGuard:
    """Starts logins and answers for them, spending the account only on its own.

    - :meth:`start` checks the client address's and the phone's budgets before
      it sends the billed ``init``, and keeps the started login in ``store``.
    - :meth:`status` and :meth:`receive_callback` answer only for logins in
      ``store`` (anything else costs a lookup, never a provider call); a final
      status is answered from the store; otherwise one ``verify`` at a time per
      login (concurrent askers share it), its ``PENDING`` answer reused for
      ``pending_ttl``, all within the ``verify`` budget.

    ``budgets`` counts the start budgets and the ``verify`` budget; with
    :class:`~nxcloud_ota.contrib.redis.RedisBudgets` and
    :class:`~nxcloud_ota.contrib.redis.RedisLoginStore` every process shares
    them. The one-``verify``-at-a-time rule and the ``PENDING`` cache are per
    process.

    Args:
        client: The client that sends ``init`` and ``verify``.
        store: Where started logins are kept; by default a
            :class:`MemoryLoginStore`.
        budgets: Where the budgets are counted; by default a
            :class:`MemoryBudgets`.
        policy: The budgets and times to live (:class:`LoginPolicy`).
        clock: Monotonic time in seconds, for the ``PENDING`` cache; exists for
            tests.
    """

    client: AsyncOtaClient
    store: LoginStore = attrs.field(factory=MemoryLoginStore)
    budgets: Budgets = attrs.field(factory=MemoryBudgets)
    policy: LoginPolicy = attrs.field(factory=LoginPolicy)
    _clock: Callable[[], float] = attrs.field(default=time.monotonic, alias="clock")
    _recent: ExpiringMap[VerifyStatus] = attrs.field(init=False)
    _inflight: dict[str, asyncio.Future[VerifyStatus]] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._recent = ExpiringMap(self._clock)

    async def start(self, phone: str, user_ip: str) -> InitResult:
        """Start a login (``init``) if the budgets of ``user_ip`` and ``phone`` allow.

        Raises :class:`InvalidInputError` for bad input and
        :class:`BudgetExceededError` (``scope`` ``"address"`` or ``"phone"``)
        when a budget refuses, both before anything is sent; then whatever
        ``init`` raises. A start counts against both budgets once they let it
        through, whatever ``init`` answers.

        Args:
            phone: The number the user typed, with its country code.
            user_ip: The end user's IP address (see :func:`client_ip`); an IPv6
                address is budgeted by its ``/ipv6_prefix`` network.
        """
        request = InitRequest(phone=phone, user_ip=user_ip)
        policy = self.policy
        address = "address:" + address_key(request.user_ip, policy.ipv6_prefix)
        for scope, key, limit in [
            ("address", address, policy.per_address),
            ("phone", _phone_key(request.phone), policy.per_phone),
        ]:
            wait = await self.budgets.spend(key, limit)
            if wait > 0:
                raise BudgetExceededError(scope, wait)
        started = await self.client.init(phone=request.phone, user_ip=request.user_ip)
        await self.store.save(StartedLogin(started.request_id, request.phone), policy.login_ttl)
        return started

    async def status(self, request_id: str) -> VerifyStatus:
        """The status of a login this application started.

        Raises :class:`InvalidInputError` for a malformed id,
        :class:`UnknownLoginError` for one not in the store, and
        :class:`BudgetExceededError` (``scope`` ``"verify"``) when ``verify``
        would exceed its share; nothing is sent in those cases. A login the
        provider has forgotten raises :class:`RecordNotFoundError` once, and is
        forgotten here too.

        Args:
            request_id: The id that :meth:`start` returned.
        """
        request_id = validate_token(request_id, "request_id")
        login = await self.store.get(request_id)
        if login is None:
            raise UnknownLoginError(request_id)
        return await self._status_of(login)

    async def receive_callback(self, query: Mapping[str, str]) -> CallbackReply:
        """Handle one status callback, as :func:`receive_callback` does, but ask
        ``verify`` only for a login this application started for the phone the
        callback names, and only as :meth:`status` would.

        A callback for any other login is acknowledged (``success``) and
        ignored; one refused by the ``verify`` budget is answered 429 ``error``
        with ``Retry-After``.

        Args:
            query: The callback's query parameters, as the web framework parsed
                them.
        """
        event = parse_callback(query)
        if isinstance(event, CallbackReply):
            return event
        login = await self.store.get(event.request_id)
        if login is None or login.phone != event.phone:
            why = "no such login was started here" if login is None else "the phone differs"
            _log.info("%s: %s; ignored", describe(event), why)
            return CallbackReply(200, "success", event.request_id)
        return await confirm_callback(event, lambda: self._status_of(login))

    def verify_limit(self) -> Limit:
        """The ``verify`` budget now: ``verify_share`` of the account's rate, per second."""
        limiter = self.client.rate_limiter
        rate = limiter.rate if isinstance(limiter, _Paced) else None
        rate = self.policy.account_rate if rate is None else rate
        return Limit(max(1, math.floor(self.policy.verify_share * rate)), 1.0)

    async def _status_of(self, login: StartedLogin) -> VerifyStatus:
        if login.status.is_final:
            return login.status
        cached = self._recent.get(login.request_id)
        if cached is not None:
            return cached
        shared = self._inflight.get(login.request_id)
        if shared is None:
            shared = asyncio.ensure_future(self._verify(login))
            self._inflight[login.request_id] = shared
            shared.add_done_callback(lambda done: self._settled(login.request_id, done))
        # A caller that goes away does not cancel the others' verify.
        return await asyncio.shield(shared)

    def _settled(self, request_id: str, done: asyncio.Future[VerifyStatus]) -> None:
        del self._inflight[request_id]
        if not done.cancelled():
            done.exception()  # retrieved: every asker may have gone

    async def _verify(self, login: StartedLogin) -> VerifyStatus:
        wait = await self.budgets.spend(f"verify:{self.client.access_key}", self.verify_limit())
        if wait > 0:
            raise BudgetExceededError("verify", wait)
        try:
            checked = await self.client.verify(login.request_id)
        except RecordNotFoundError:
            await self.store.discard(login.request_id)
            raise
        if checked.status.is_final:
            final = attrs.evolve(login, status=checked.status)
            await self.store.save(final, self.policy.final_ttl)
        if self.policy.pending_ttl > 0:
            # Also a final answer: an asker who read the store before it was
            # saved finds it here instead of asking again.
            self._recent.put(login.request_id, checked.status, self.policy.pending_ttl)
        return checked.status
