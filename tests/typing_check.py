"""Uses the public API the way applications do; checked by ``mypy --strict`` and by
pyright in strict mode, never run.

A change that breaks a user's typed code (a renamed argument, a widened return
type, an ``Any`` leaking out) fails the ``typing`` session here. Lines marked
``# type: ignore[...]`` must be rejected: both checkers report an ignore comment
that silences nothing, so a constructor that stops rejecting a wrong type fails too.
"""

# pyright: strict

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx

from nxcloud_ota import (
    AiohttpTransport,
    ApiError,
    AsyncOtaClient,
    CallbackEvent,
    InitOutcome,
    InitRequest,
    InitResult,
    InvalidInputError,
    OtaClient,
    RequestMaybeSentError,
    RetryPolicy,
    VerifyResult,
    VerifyStatus,
    WaitTimeoutError,
)


async def start_and_check(phone: str, ip: str) -> bool:
    async with AsyncOtaClient(
        access_key="ak",
        access_secret="sk",
        app_key="app",
        algorithm="sha256",
        timeout=httpx.Timeout(5.0),
        retry=RetryPolicy(max_attempts=3, deadline=None),
    ) as client:
        try:
            started: InitResult = await client.init(phone=phone, user_ip=ip)
        except InvalidInputError as exc:
            field: str = exc.field
            raise ValueError(field) from exc
        except RequestMaybeSentError as exc:
            masked: str | None = exc.phone_masked
            raise RuntimeError(masked) from exc
        except ApiError as exc:
            code: int = exc.code
            msg: str = exc.msg
            raise RuntimeError(f"{code} {msg}") from exc
        url: str = started.url
        checked: VerifyResult = await client.verify(started.request_id)
        final: bool = checked.status.is_final
        return bool(url) and final and checked.status is VerifyStatus.SUCCESS


async def bulk(client: AsyncOtaClient, rows: list[tuple[str, str]]) -> int:
    ok = 0
    async for outcome in client.init_many(rows, concurrency=50, ordered=True):
        typed: InitOutcome = outcome
        if typed.ok and typed.result is not None:
            ok += 1
        error: Exception | None = typed.error
        del error
    return ok


async def stop_early(client: AsyncOtaClient, rows: list[tuple[str, str]]) -> None:
    async with contextlib.aclosing(client.init_many(rows)) as outcomes:
        async for outcome in outcomes:
            if not outcome.ok:
                break


async def from_requests(client: AsyncOtaClient, source: AsyncIterator[InitRequest]) -> None:
    async for outcome in client.init_many(source):
        attempts: int = outcome.attempts
        elapsed: float = outcome.elapsed
        del attempts, elapsed


def callback(query: dict[str, str]) -> VerifyStatus:
    event = CallbackEvent.from_query(query)
    request_id: str = event.request_id
    del request_id
    return event.status


def from_env() -> AsyncOtaClient:
    return AsyncOtaClient.from_env({"NXCLOUD_ACCESS_KEY": "ak"}, retry=RetryPolicy.no_wait())


async def wait_for_login(client: AsyncOtaClient, request_id: str) -> VerifyStatus | None:
    try:
        final: VerifyResult = await client.wait(request_id, timeout=120.0, interval=1.0)
    except WaitTimeoutError as exc:
        last: VerifyResult = exc.last
        timeout: float = exc.timeout
        del last, timeout
        return None
    return final.status


def blocking(rows: list[tuple[str, str]]) -> int:
    with OtaClient(access_key="ak", access_secret="sk", app_key="app", timeout=5.0) as client:
        started: InitResult = client.init(phone="8615800001795", user_ip="203.0.113.7")
        checked: VerifyResult = client.verify(started.request_id)
        final: VerifyResult = client.wait(started.request_id, timeout=60)
        del checked, final
        outcomes: Iterator[InitOutcome] = client.init_many(rows, concurrency=10)
        return sum(1 for outcome in outcomes if outcome.ok)


def blocking_from_env() -> OtaClient:
    client = OtaClient.from_env({"NXCLOUD_ACCESS_KEY": "ak"}, retry=RetryPolicy.no_wait())
    client.close()
    return client


async def with_a_tight_budget(client: AsyncOtaClient, request_id: str) -> VerifyResult:
    quick: AsyncOtaClient = client.with_options(timeout=2.0, retry=RetryPolicy(max_attempts=1))
    return await quick.verify(request_id)


def default_transport() -> AsyncOtaClient:
    return AsyncOtaClient(
        access_key="ak", access_secret="sk", app_key="app", transport=AiohttpTransport()
    )


def rejected_at_the_call() -> None:
    AsyncOtaClient(access_key=1, access_secret="sk", app_key="app")  # type: ignore[arg-type]
    AsyncOtaClient(access_key="ak", access_secret=b"sk", app_key="app")  # type: ignore[arg-type]
    AsyncOtaClient(access_key="ak", access_secret="sk", app_key="app", algorithm="md6")  # type: ignore[arg-type]
    AsyncOtaClient(access_key="ak", access_secret="sk", app_key="app", base_url=None)  # type: ignore[arg-type]
