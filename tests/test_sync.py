"""``OtaClient``: the blocking client, over a real loopback socket to the simulator."""

from __future__ import annotations

import inspect
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterator

import httpx
import pytest

from nxcloud_ota import (
    AppUnavailableError,
    AsyncOtaClient,
    EventLoopError,
    Hooks,
    InitOutcome,
    InvalidInputError,
    OtaClient,
    RetryPolicy,
    VerifyStatus,
    WaitTimeoutError,
)
from nxcloud_ota.testing import FakeNxCloud

PHONE = "8615800001795"
IP = "203.0.113.7"


@pytest.fixture
def make(served_simulator: tuple[FakeNxCloud, str]) -> Iterator[Callable[..., OtaClient]]:
    """Makes clients for the served simulator and closes them after the test."""
    fake, base_url = served_simulator
    made: list[OtaClient] = []

    def factory(**overrides: object) -> OtaClient:
        kwargs: dict[str, object] = {
            "access_key": fake.access_key,
            "access_secret": fake.access_secret,
            "app_key": fake.app_key,
            "base_url": base_url,
            "retry": RetryPolicy.no_wait(),
            **overrides,
        }
        client = OtaClient(**kwargs)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nxcloud-ota-")]


def test_init_verify_and_wait_block_and_return_results(make: Callable[..., OtaClient]) -> None:
    """A login goes from init through wait to SUCCESS with plain calls, no await."""
    with make() as client:
        started = client.init(phone=PHONE, user_ip=IP)
        assert started.request_id
        assert client.verify(started.request_id).request_id == started.request_id
        final = client.wait(started.request_id, timeout=30, interval=0.01)
    assert final.status is VerifyStatus.SUCCESS


def test_errors_are_the_async_clients_classes(
    make: Callable[..., OtaClient], served_simulator: tuple[FakeNxCloud, str]
) -> None:
    """Bad input, an API error and a wait timeout raise the same classes as the async client."""
    fake, _ = served_simulator
    with pytest.raises(InvalidInputError) as bad:
        make(app_key="")
    assert bad.value.field == "app_key"
    client = make()
    before = len(fake.requests)
    with pytest.raises(InvalidInputError) as info:
        client.init(phone="12", user_ip=IP)
    assert info.value.field == "phone"
    assert len(fake.requests) == before
    with pytest.raises(AppUnavailableError) as api:
        make(app_key="no-such-app").init(phone=PHONE, user_ip=IP)
    assert api.value.code == 9906
    fake.set_outcome("8615800000001", VerifyStatus.PENDING)
    started = client.init(phone="8615800000001", user_ip=IP)
    with pytest.raises(WaitTimeoutError) as timeout:
        client.wait(started.request_id, timeout=0.05, interval=0.01)
    assert isinstance(timeout.value, TimeoutError)
    assert timeout.value.last.status is VerifyStatus.PENDING


def test_many_threads_share_one_client_and_one_loop(make: Callable[..., OtaClient]) -> None:
    """Eight threads calling one client at once all get their own answers, on one loop thread."""
    client = make()
    before = len(_loop_threads())
    results: dict[int, list[str]] = {}
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            ids = []
            for i in range(20):
                started = client.init(phone=f"86158{n:04d}{i:04d}", user_ip=IP)
                assert client.verify(started.request_id).request_id == started.request_id
                ids.append(started.request_id)
            results[n] = ids
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    all_ids = [rid for ids in results.values() for rid in ids]
    assert len(all_ids) == len(set(all_ids)) == 160
    assert len(_loop_threads()) == before + 1


def test_init_many_is_a_plain_iterator(make: Callable[..., OtaClient]) -> None:
    """init_many yields one InitOutcome per item, in order when asked, from a normal for loop."""
    client = make()
    items = [(f"86158{i:08d}", IP) for i in range(30)] + [("bad", IP)]
    outcomes = list(client.init_many(items, concurrency=8, ordered=True))
    assert all(isinstance(o, InitOutcome) for o in outcomes)
    assert [o.index for o in outcomes] == list(range(31))
    assert [o.ok for o in outcomes] == [True] * 30 + [False]
    assert isinstance(outcomes[-1].error, InvalidInputError)


def test_leaving_init_many_early_leaves_the_client_usable(make: Callable[..., OtaClient]) -> None:
    """Breaking out of init_many cancels the rest; the client's next call works."""
    client = make()
    items = ((f"86159{i:08d}", IP) for i in range(1000))
    for seen, _ in enumerate(client.init_many(items, concurrency=4), start=1):
        if seen == 3:
            break
    assert client.verify(client.init(phone=PHONE, user_ip=IP).request_id)


def test_bad_concurrency_raises_at_the_call(make: Callable[..., OtaClient]) -> None:
    """A bad concurrency is refused when init_many is called, not at the first next()."""
    with pytest.raises(InvalidInputError) as info:
        make().init_many([(PHONE, IP)], concurrency=0)
    assert info.value.field == "concurrency"


def test_close_stops_the_thread_and_later_calls_fail_clearly(
    make: Callable[..., OtaClient],
) -> None:
    """close() ends the loop thread; a call after it raises EventLoopError; close is idempotent."""
    before = len(_loop_threads())
    client = make()
    client.init(phone=PHONE, user_ip=IP)
    assert len(_loop_threads()) == before + 1
    client.close()
    client.close()
    assert len(_loop_threads()) == before
    with pytest.raises(EventLoopError, match="closed"):
        client.verify("r1")


def test_a_call_from_its_own_loop_raises_instead_of_deadlocking(
    make: Callable[..., OtaClient],
) -> None:
    """A hook that calls the blocking client from its loop thread gets EventLoopError."""
    raised: list[BaseException] = []
    holder: list[OtaClient] = []

    def on_attempt(_event: object) -> None:
        try:
            holder[0].verify("r1")
        except EventLoopError as exc:
            raised.append(exc)

    client = make(hooks=Hooks(on_attempt=on_attempt))
    holder.append(client)
    client.init(phone=PHONE, user_ip=IP)
    assert raised
    assert "deadlock" in str(raised[0])


def test_from_env_reads_the_variables(served_simulator: tuple[FakeNxCloud, str]) -> None:
    """from_env takes the NXCLOUD_* variables and names the one that is missing."""
    fake, base_url = served_simulator
    env = {
        "NXCLOUD_ACCESS_KEY": fake.access_key,
        "NXCLOUD_ACCESS_SECRET": fake.access_secret,
        "NXCLOUD_APP_KEY": fake.app_key,
        "NXCLOUD_BASE_URL": base_url,
    }
    with OtaClient.from_env(env) as client:
        assert client.init(phone=PHONE, user_ip=IP).request_id
        assert repr(client) == (
            f"OtaClient(access_key={fake.access_key!r}, app_key={fake.app_key!r}, "
            f"base_url={base_url!r})"
        )
        assert fake.access_secret not in repr(client)
        assert client.rate_limiter is not None
    del env["NXCLOUD_APP_KEY"]
    with pytest.raises(InvalidInputError, match="NXCLOUD_APP_KEY"):
        OtaClient.from_env(env)


def _in_child(work: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run ``work`` in a forked child; return what it reported (or its error)."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Forking a process with threads is the very case under test.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; coverage does not follow it
        code = 0
        try:
            reported = work()
        except BaseException as exc:
            reported = {"error": type(exc).__name__, "message": str(exc)}
            code = 1
        try:
            os.write(write_end, json.dumps(reported).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    report: dict[str, object] = json.loads(data)
    report["exit"] = os.waitstatus_to_exitcode(status)
    return report


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_loop_and_connections(
    make: Callable[..., OtaClient], served_simulator: tuple[FakeNxCloud, str]
) -> None:
    """After os.fork the child's calls run on a new loop; the parent's client keeps working."""
    fake, _ = served_simulator
    client = make()
    client.init(phone=PHONE, user_ip=IP)  # the parent's loop and a pooled connection exist
    parent_loop = _loop_threads()

    def child() -> dict[str, object]:
        started = client.init(phone="8615800009999", user_ip=IP)
        final = client.wait(started.request_id, timeout=30, interval=0.01)
        threads = [t.native_id for t in _loop_threads()]
        client.close()
        return {"request_id": started.request_id, "status": final.status.value, "threads": threads}

    report = _in_child(child)
    assert report["exit"] == 0, report
    assert report["status"] == "SUCCESS"
    child_threads = report["threads"]
    assert isinstance(child_threads, list)
    assert child_threads
    assert not set(child_threads) & {t.native_id for t in parent_loop}
    verified = [json.loads(r.body)["requestId"] for r in fake.requests if r.action == "verify"]
    assert report["request_id"] in verified
    # The parent's loop and connections were not touched: its next calls still work.
    again = client.init(phone=PHONE, user_ip=IP)
    assert client.wait(again.request_id, timeout=30, interval=0.01).status is VerifyStatus.SUCCESS


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_with_a_given_transport_gets_a_clear_error(
    make: Callable[..., OtaClient], served_simulator: tuple[FakeNxCloud, str]
) -> None:
    """A client given its own transport cannot be remade in a child: it says so, sends nothing."""
    fake, _ = served_simulator
    client = make(transport=httpx.AsyncHTTPTransport())
    client.init(phone=PHONE, user_ip=IP)

    def child() -> dict[str, object]:
        try:
            client.init(phone=PHONE, user_ip=IP)
        except EventLoopError as exc:
            return {"message": str(exc)}
        return {"message": "no error"}

    before = len(fake.requests)
    report = _in_child(child)
    assert report["exit"] == 0, report
    assert "worker_process_init" in str(report["message"])
    assert len(fake.requests) == before
    assert client.init(phone=PHONE, user_ip=IP).request_id


def test_the_constructor_takes_every_keyword_of_the_async_client() -> None:
    """OtaClient accepts every constructor keyword of AsyncOtaClient."""
    sync_params = set(inspect.signature(OtaClient).parameters)
    async_params = {a.alias for a in AsyncOtaClient.__attrs_attrs__ if a.init}
    assert async_params <= sync_params
