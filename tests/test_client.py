from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

import nxcloud_ota as ota
from tests._support import (
    ACCESS_KEY,
    ACCESS_SECRET,
    APP_KEY,
    NoLimit,
    Recorder,
    envelope,
    init_ok,
)

pytestmark = pytest.mark.anyio


def ticking_clock(start: float = 1_700_000_000.0, step: float = 1.0) -> Iterator[float]:
    t = start
    while True:
        yield t
        t += step


def make_client(recorder: Recorder, **overrides: object) -> ota.AsyncOtaClient:
    options: dict[str, object] = {
        "access_key": ACCESS_KEY,
        "access_secret": ACCESS_SECRET,
        "app_key": APP_KEY,
        "transport": recorder.transport,
        "retry": ota.RetryPolicy.no_wait(),
    }
    options.update(overrides)
    return ota.AsyncOtaClient(**options)  # type: ignore[arg-type]


async def test_init_round_trip_is_signed_and_sends_the_documented_request() -> None:
    """init sends a correctly signed POST with the documented headers and compact JSON body."""
    recorder = Recorder(init_ok("abc"))
    async with make_client(recorder) as client:
        result = await client.init("+86 158 0000 1795", "203.0.113.7")
    assert result == ota.InitResult(request_id="abc", url="https://auth.example/abc")
    (request,) = recorder.requests
    assert recorder.bad_signatures == 0
    assert request.method == "POST"
    assert str(request.url) == "https://api2.nxcloud.com/api/ota/init"
    assert request.headers["bizType"] == "6"
    assert request.headers["action"] == "init"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["accessKey"] == ACCESS_KEY
    assert len(request.headers["ts"]) == 13
    assert "algorithm" not in request.headers
    assert request.content == (
        b'{"appkey":"test-app","phone":"8615800001795","userIp":"203.0.113.7"}'
    )


async def test_verify_round_trip() -> None:
    """verify posts appkey and requestId to /api/ota/verify and returns the status."""
    recorder = Recorder(envelope(0, {"requestId": "abc", "status": "SUCCESS"}))
    async with make_client(recorder, base_url="https://gw.example/") as client:
        result = await client.verify("abc")
    assert result == ota.VerifyResult(request_id="abc", status=ota.VerifyStatus.SUCCESS)
    (request,) = recorder.requests
    assert str(request.url) == "https://gw.example/api/ota/verify"
    assert request.headers["action"] == "verify"
    assert json.loads(request.content) == {"appkey": APP_KEY, "requestId": "abc"}
    assert recorder.bad_signatures == 0


async def test_sha256_sends_algorithm_header_and_signs_with_sha256() -> None:
    """With algorithm='sha256' the request carries 'algorithm: sha256' and a SHA-256 sign."""
    recorder = Recorder(init_ok())
    async with make_client(recorder, algorithm="sha256") as client:
        await client.init("8615800001795", "203.0.113.7")
    (request,) = recorder.requests
    assert request.headers["algorithm"] == "sha256"
    assert len(request.headers["sign"]) == 64
    assert recorder.bad_signatures == 0


async def test_non_ascii_body_is_sent_as_signed_utf8() -> None:
    """Non-ASCII text is kept (not \\u-escaped) and the signature covers those UTF-8 bytes."""
    recorder = Recorder(init_ok())
    async with make_client(recorder, app_key="应用-1") as client:
        await client.init("8615800001795", "203.0.113.7")
    (request,) = recorder.requests
    assert '"appkey":"应用-1"'.encode() in request.content
    assert recorder.bad_signatures == 0


async def test_each_attempt_gets_a_fresh_ts_and_signature() -> None:
    """A retried request is re-signed with a new ts (a stale signature would be refused)."""
    ticks = ticking_clock()
    recorder = Recorder(envelope(2206), envelope(99), init_ok())
    async with make_client(recorder, clock=lambda: next(ticks)) as client:
        await client.init("8615800001795", "203.0.113.7")
    stamps = [r.headers["ts"] for r in recorder.requests]
    assert len(stamps) == 3
    assert len(set(stamps)) == 3
    assert len({r.headers["sign"] for r in recorder.requests}) == 3
    assert recorder.bad_signatures == 0


# code -> how many requests init sends before giving up, with max_attempts=4
RETRY_TABLE = [
    (2206, 4, ota.RateLimitedError),
    (99, 4, ota.InternalServerError),
    (1004, 2, ota.TimestampExpiredError),
    (88, 1, ota.RequestFailedError),
    (1001, 1, ota.AuthError),
    (1003, 1, ota.SignatureError),
    (1005, 1, ota.PermissionDeniedError),
    (2205, 1, ota.RecordNotFoundError),
    (9901, 1, ota.InvalidParameterError),
    (9906, 1, ota.AppUnavailableError),
    (9907, 1, ota.AppNotPricedError),
    (9908, 1, ota.InsufficientBalanceError),
    (4242, 1, ota.ApiError),
]


@pytest.mark.parametrize(("code", "sent", "cls"), RETRY_TABLE)
async def test_retry_table_for_init(code: int, sent: int, cls: type[ota.ApiError]) -> None:
    """Each code is retried (or not) exactly as the API table says, counted in requests."""
    recorder = Recorder(envelope(code))
    async with make_client(recorder) as client:
        with pytest.raises(cls):
            await client.init("8615800001795", "203.0.113.7")
    assert len(recorder.requests) == sent


async def test_retry_recovers_after_rate_limit() -> None:
    """After 2206 answers, init succeeds once the provider accepts."""
    recorder = Recorder(envelope(2206), envelope(2206), init_ok("late"))
    async with make_client(recorder) as client:
        result = await client.init("8615800001795", "203.0.113.7")
    assert result.request_id == "late"
    assert len(recorder.requests) == 3


async def test_init_is_not_retried_after_read_timeout() -> None:
    """A read timeout may mean a billed login started: init raises RequestMaybeSentError, once."""
    recorder = Recorder(httpx.ReadTimeout("timed out"), init_ok())
    async with make_client(recorder) as client:
        with pytest.raises(ota.RequestMaybeSentError) as info:
            await client.init("8615800001795", "203.0.113.7")
    assert len(recorder.requests) == 1
    error = info.value
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert error.phone_masked == "8615800****95"
    assert error.ts == recorder.requests[0].headers["ts"]
    assert "may have started" in str(error)
    assert "8615800001795" not in str(error)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("t"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.WriteTimeout("t"),
    ],
)
async def test_verify_retries_maybe_sent_failures(failure: Exception) -> None:
    """verify is safe to repeat, so it retries failures after the request may have been sent."""
    recorder = Recorder(failure, envelope(0, {"requestId": "r", "status": "PENDING"}))
    async with make_client(recorder) as client:
        result = await client.verify("r")
    assert result.status is ota.VerifyStatus.PENDING
    assert len(recorder.requests) == 2


async def test_connect_errors_are_retried_for_init() -> None:
    """A connect error means nothing was sent, so even init retries it."""
    recorder = Recorder(httpx.ConnectError("refused"), httpx.ConnectTimeout("t"), init_ok())
    async with make_client(recorder) as client:
        await client.init("8615800001795", "203.0.113.7")
    assert len(recorder.requests) == 3


async def test_connect_errors_give_up_with_cause() -> None:
    """When connecting keeps failing, the error says so and keeps httpx's error as cause."""
    recorder = Recorder(httpx.ConnectError("refused"))
    async with make_client(recorder) as client:
        with pytest.raises(ota.ConnectionFailedError) as info:
            await client.verify("r")
    assert len(recorder.requests) == 4
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_pool_timeout_is_not_retried() -> None:
    """A pool timeout is local saturation: raised at once, with advice on what to change."""
    recorder = Recorder(httpx.PoolTimeout("pool"))
    async with make_client(recorder) as client:
        with pytest.raises(ota.PoolTimeoutError, match="pool"):
            await client.verify("r")
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(("status", "init_sent"), [(503, 2), (429, 2), (502, 1), (504, 1)])
async def test_non_json_gateway_answers(status: int, init_sent: int) -> None:
    """A non-JSON 429/503 is retried; a 502/504 page may follow a processed init: not retried."""
    recorder = Recorder(httpx.Response(status, text="<html>gateway</html>"), init_ok())
    async with make_client(recorder) as client:
        if init_sent == 1:
            with pytest.raises(ota.ProtocolError) as info:
                await client.init("8615800001795", "203.0.113.7")
            assert info.value.status_code == status
        else:
            await client.init("8615800001795", "203.0.113.7")
    assert len(recorder.requests) == init_sent


async def test_timestamp_expired_corrects_clock_from_date_header() -> None:
    """On 1004 the client takes the provider's time from Date, re-signs and succeeds."""
    local = 1_700_000_000.0
    server_date = "Tue, 14 Nov 2023 22:15:20 GMT"  # local + 120 s
    rejected = envelope(1004)
    rejected.headers["Date"] = server_date
    recorder = Recorder(rejected, init_ok())
    async with make_client(recorder, clock=lambda: local) as client:
        await client.init("8615800001795", "203.0.113.7")
        # Date truncates to the second: the provider's time is taken as 20.5 s past.
        assert client.clock_offset_ms == 120_500
    first, second = (int(r.headers["ts"]) for r in recorder.requests)
    assert first == 1_700_000_000_000
    assert second == 1_700_000_120_500


async def test_max_attempts_bounds_retries() -> None:
    """max_attempts caps the requests of one call."""
    recorder = Recorder(envelope(99))
    async with make_client(recorder, retry=ota.RetryPolicy.no_wait(max_attempts=2)) as client:
        with pytest.raises(ota.InternalServerError):
            await client.init("8615800001795", "203.0.113.7")
    assert len(recorder.requests) == 2


async def test_waits_use_full_jitter_and_the_injected_sleep() -> None:
    """Waits are random * min(max_wait, initial * 2**(n-1)), slept through the injected sleep."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    recorder = Recorder(envelope(2206))
    policy = ota.RetryPolicy(max_attempts=5, initial_wait=1.0, max_wait=3.0, deadline=None)
    async with make_client(
        recorder, retry=policy, sleep=sleep, random=lambda: 0.5, rate_limiter=NoLimit()
    ) as client:
        with pytest.raises(ota.RateLimitedError):
            await client.init("8615800001795", "203.0.113.7")
    assert slept == [0.5, 1.0, 1.5, 1.5]


async def test_no_wait_starts_that_would_overrun_the_deadline() -> None:
    """The deadline stops retrying before a wait that would end past it."""
    slept: list[float] = []
    now = [100.0]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    recorder = Recorder(envelope(99))
    policy = ota.RetryPolicy(max_attempts=10, initial_wait=4.0, max_wait=4.0, deadline=10.0)
    async with make_client(
        recorder, retry=policy, sleep=sleep, random=lambda: 0.99, monotonic=lambda: now[0]
    ) as client:
        with pytest.raises(ota.InternalServerError):
            await client.init("8615800001795", "203.0.113.7")
    # 3.96 s waits: two fit in 10 s, a third would end at 11.88 s
    assert slept == [pytest.approx(3.96), pytest.approx(3.96)]
    assert len(recorder.requests) == 3


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.init("12", "203.0.113.7"), "phone"),
        (lambda c: c.init("8615800001795", "0.0.0.0"), "user_ip"),
        (lambda c: c.verify(""), "request_id"),
        (lambda c: c.verify(" abc"), "request_id"),
        (lambda c: c.verify("abc\r\nX-Evil: 1"), "request_id"),
    ],
)
async def test_bad_input_is_refused_before_sending(call, field: str) -> None:  # type: ignore[no-untyped-def]
    """Invalid arguments raise InvalidInputError naming the field, and nothing is sent."""
    recorder = Recorder(init_ok())
    async with make_client(recorder) as client:
        with pytest.raises(ota.InvalidInputError) as info:
            await call(client)
    assert info.value.field == field
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"access_key": ""}, "access_key"),
        ({"access_key": "ak\n"}, "access_key"),
        ({"access_key": "ключ"}, "access_key"),
        ({"access_secret": ""}, "access_secret"),
        ({"access_secret": " padded "}, "access_secret"),
        ({"app_key": "a\x00b"}, "app_key"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"algorithm": "sha1"}, "algorithm"),
    ],
)
def test_bad_constructor_arguments_name_the_field(overrides: dict[str, str], field: str) -> None:
    """Bad keys, URL or algorithm raise InvalidInputError naming the argument."""
    with pytest.raises(ota.InvalidInputError) as info:
        make_client(Recorder(), **overrides)
    assert info.value.field == field


def test_secret_never_in_error_for_bad_secret() -> None:
    """An error about a bad secret does not quote the secret."""
    with pytest.raises(ota.InvalidInputError) as info:
        make_client(Recorder(), access_secret=" my-secret-value")
    assert "my-secret-value" not in str(info.value)


async def test_secret_absent_from_repr_logs_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    """The secret and the sign appear in no repr, DEBUG/WARNING log record or error text."""
    caplog.set_level(logging.DEBUG, logger="nxcloud_ota")
    recorder = Recorder(envelope(2206), init_ok(), envelope(1003), httpx.ReadTimeout("t"))
    client = make_client(recorder)
    texts = [repr(client), str(client), repr(client._exchange), repr(client._exchange.auth)]
    async with client:
        await client.init("8615800001795", "203.0.113.7")
        for _ in range(2):
            with pytest.raises(ota.NxCloudError) as info:
                await client.init("8615800001795", "203.0.113.7")
            texts += [str(info.value), repr(info.value)]
    texts += [r.getMessage() for r in caplog.records]
    signs = {r.headers["sign"] for r in recorder.requests}
    assert any("attempt=" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    for text in texts:
        assert ACCESS_SECRET not in text
        assert "8615800001795" not in text
        assert not any(sign in text for sign in signs)
    assert any("8615800****95" in r.getMessage() for r in caplog.records)


def test_from_env_reads_the_documented_variables() -> None:
    """from_env takes keys and the optional base URL from NXCLOUD_* variables."""
    env = {
        "NXCLOUD_ACCESS_KEY": "ak",
        "NXCLOUD_ACCESS_SECRET": "sk",
        "NXCLOUD_APP_KEY": "app",
        "NXCLOUD_BASE_URL": "https://gw.example",
    }
    client = ota.AsyncOtaClient.from_env(env)
    assert (client.access_key, client.app_key, client.base_url) == (
        "ak",
        "app",
        "https://gw.example",
    )
    assert ota.AsyncOtaClient.from_env({**env, "NXCLOUD_BASE_URL": ""}).base_url == (
        "https://api2.nxcloud.com"
    )


def test_from_env_names_the_missing_variable() -> None:
    """A missing variable is named in the error."""
    with pytest.raises(ota.InvalidInputError, match="NXCLOUD_APP_KEY"):
        ota.AsyncOtaClient.from_env({"NXCLOUD_ACCESS_KEY": "ak", "NXCLOUD_ACCESS_SECRET": "s"})


async def test_injected_http_client_is_used_and_not_closed() -> None:
    """A shared httpx.AsyncClient is used for calls and stays open after aclose()."""
    recorder = Recorder(init_ok())
    async with httpx.AsyncClient(transport=recorder.transport) as shared:
        client = ota.AsyncOtaClient(
            access_key=ACCESS_KEY, access_secret=ACCESS_SECRET, app_key=APP_KEY, http_client=shared
        )
        await client.init("8615800001795", "203.0.113.7")
        await client.aclose()
        assert not shared.is_closed
        assert recorder.bad_signatures == 0


async def test_own_http_client_is_closed() -> None:
    """aclose() closes the pool the client created."""
    client = make_client(Recorder())
    await client.aclose()
    assert client._http.is_closed


def test_transport_and_http_client_are_exclusive() -> None:
    """Giving both a transport and an http_client is refused: one would be ignored."""
    with pytest.raises(ota.InvalidInputError, match="transport"):
        make_client(Recorder(), http_client=httpx.AsyncClient())


@pytest.mark.parametrize("timeout", [2.0, httpx.Timeout(2.0), None])
def test_a_timeout_beside_an_http_client_is_refused_not_ignored(
    timeout: float | httpx.Timeout | None,
) -> None:
    """timeout= next to http_client= would never apply: it is refused, naming the field."""
    with pytest.raises(ota.InvalidInputError, match="timeout"):
        ota.AsyncOtaClient(
            access_key=ACCESS_KEY,
            access_secret=ACCESS_SECRET,
            app_key=APP_KEY,
            http_client=httpx.AsyncClient(),
            timeout=timeout,
        )
    from_env = {"NXCLOUD_ACCESS_KEY": "ak", "NXCLOUD_ACCESS_SECRET": "s", "NXCLOUD_APP_KEY": "a"}
    with pytest.raises(ota.InvalidInputError, match="timeout"):
        ota.AsyncOtaClient.from_env(from_env, http_client=httpx.AsyncClient(), timeout=timeout)
    assert ota.AsyncOtaClient.from_env(from_env, http_client=httpx.AsyncClient())
