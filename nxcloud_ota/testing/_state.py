"""The simulator's state, and the rules that answer one API call from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from ._bucket import TokenBucket
from ._checks import Rejection, authenticate, parse_body, rejection
from ._faults import Faults
from ._logins import Logins
from ._records import Account, App

__all__ = ["LOGIN_PATH", "State"]

LOGIN_PATH = "/ota/auth/"
"""Login urls are ``{scheme}://{host}/ota/auth/{requestId}``."""


@attrs.define
class State:
    """Accounts, apps, logins, owed faults and the rate limit's bucket.

    ``clock`` (seconds) stamps logins and refills the bucket; ``ttl`` is how long
    a login lives. Both are read on every use, so their owner may change them.
    """

    clock: Callable[[], float]
    ttl: Callable[[], float]
    seed: int | None
    accounts: dict[str, Account] = attrs.field(init=False, factory=dict)
    apps: dict[str, App] = attrs.field(init=False, factory=dict)
    logins: Logins = attrs.field(init=False)
    faults: Faults = attrs.field(init=False)
    bucket: TokenBucket = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.logins = Logins(clock=self.clock, ttl=self.ttl)
        self.faults = Faults(seed=self.seed)
        self.bucket = TokenBucket(clock=self.clock)

    def answer(
        self,
        action: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_ms: int,
        base_url: str,
        rate: float | None,
        burst: int | None,
        fail_rate: float,
    ) -> Rejection | dict[str, str]:
        """Return the ``data`` of a successful call, or why it is refused.

        The checks run in the order the ``_fake`` module's docstring lists (after
        the latency and the drops, which the ASGI side handles).

        ``headers`` has lower-case names, ``now_ms`` is the simulator's clock and
        ``base_url`` the ``{scheme}://{host}`` login urls start with.
        """
        scripted = self.faults.take_code()
        if scripted is not None:
            return rejection(scripted)
        account = authenticate(headers, body, action=action, accounts=self.accounts, now_ms=now_ms)
        if isinstance(account, Rejection):
            return account
        if rate is not None and not self.bucket.take(rate=rate, burst=burst):
            return rejection(2206)
        if self.faults.roll(fail_rate):
            return rejection(99)
        fields = parse_body(body, action)
        if isinstance(fields, Rejection):
            return fields
        app = self.apps.get(fields["appkey"])
        if app is None or not app.enabled:
            return rejection(9906)
        if not app.priced:
            return rejection(9907)
        if action == "init":
            if not account.debit():
                return rejection(9908)
            login = self.logins.start(
                access_key=account.access_key, app_key=app.app_key, phone=fields["phone"]
            )
            return {"requestId": login.request_id, "url": base_url + LOGIN_PATH + login.request_id}
        record = self.logins.get(fields["requestId"])
        if record is None or (record.access_key, record.app_key) != (
            account.access_key,
            app.app_key,
        ):
            return rejection(2205)
        return {"requestId": record.request_id, "status": record.status.value}
