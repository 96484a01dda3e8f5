"""Errors tell the truth: how many requests were tried, across processes, without phones."""

from __future__ import annotations

import asyncio
import inspect
import pickle
from typing import TypeVar

import pytest

import nxcloud_ota as ota
from nxcloud_ota._errors import NxCloudError
from tests._servers import client_at, free_port_refusing, hang_up, http_response, serve

pytestmark = pytest.mark.anyio

E = TypeVar("E", bound=BaseException)
PHONE, IP = "8615800001795", "203.0.113.7"

# A sample value for every parameter name a public exception's __init__ takes.
SAMPLES: dict[str, object] = {
    "message": "it failed",
    "problem": "not JSON",
    "field": "phone",
    "code": 2206,
    "msg": "too frequent",
    "action": "init",
    "attempts": 3,
    "status_code": 502,
    "excerpt": "<html>bad gateway</html>",
    "phone_masked": "8615800****95",
    "ts": "1700000000000",
    "args": "plain",
    "last": ota.VerifyResult(request_id="r9", status=ota.VerifyStatus.PENDING),
    "timeout": 2.0,
}

PUBLIC_ERRORS = [
    getattr(ota, name)
    for name in ota.__all__
    if isinstance(getattr(ota, name), type) and issubclass(getattr(ota, name), NxCloudError)
]


def build(cls: type[NxCloudError]) -> NxCloudError:
    """An instance made through the class's own __init__, from the sample values."""
    try:
        parameters = inspect.signature(cls).parameters
    except ValueError:  # Exception's own __init__, which takes any arguments
        return cls("it failed")
    positional: list[object] = []
    keywords: dict[str, object] = {}
    for name, parameter in parameters.items():
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        value = SAMPLES[name]  # a KeyError here: add the new parameter to SAMPLES
        if parameter.kind is parameter.KEYWORD_ONLY:
            keywords[name] = value
        else:
            positional.append(value)
    return cls(*positional, **keywords)


def round_trip(error: E) -> E:
    """Through pickle and back, as a process pool moves it."""
    copy: E = pickle.loads(pickle.dumps(error))  # noqa: S301  # bytes we just made
    return copy


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda c: c.__name__)
def test_every_public_error_survives_pickle_with_its_attributes(cls: type[NxCloudError]) -> None:
    """Class, message, args and every attribute come back from a pickle round trip."""
    error = build(cls)
    error.request_id = "r9"  # type: ignore[attr-defined]  # as a caller may attach one
    copy = round_trip(error)
    assert type(copy) is cls
    assert (str(copy), copy.args) == (str(error), error.args)
    assert vars(copy) == vars(error)


class WorkerError(ota.TransportError):
    """A subclass someone adds later, with an __init__ of its own."""

    def __init__(self, worker: str, *, action: str) -> None:
        super().__init__(f"worker {worker} failed", action=action, attempts=2)
        self.worker = worker


def test_a_subclass_added_later_survives_pickle_without_code_of_its_own() -> None:
    """The base class makes pickling work for any __init__, not one per class."""
    copy = round_trip(WorkerError("w1", action="verify"))
    assert (copy.worker, copy.action, copy.attempts, str(copy)) == (
        "w1",
        "verify",
        2,
        "worker w1 failed",
    )


def test_the_public_error_list_is_not_empty() -> None:
    """The parametrised pickle test covers the whole tree, not nothing."""
    assert {ota.NxCloudError, ota.RequestMaybeSentError, ota.ApiError} <= set(PUBLIC_ERRORS)


async def test_attempts_counts_the_requests_a_retried_verify_sent() -> None:
    """A verify retried until it gives up says it tried 3 times, as the server saw."""
    async with (
        serve(hang_up) as server,
        client_at(server.url, retry=ota.RetryPolicy.no_wait(3)) as client,
    ):
        with pytest.raises(ota.RequestMaybeSentError) as info:
            await client.verify("r1")
    assert info.value.attempts == server.requests == 3


async def test_attempts_counts_an_init_sent_once() -> None:
    """An init that may have started is not retried: attempts is 1, as the server saw."""
    async with (
        serve(hang_up) as server,
        client_at(server.url, retry=ota.RetryPolicy.no_wait(3)) as client,
    ):
        with pytest.raises(ota.RequestMaybeSentError) as info:
            await client.init(PHONE, IP)
    assert info.value.attempts == server.requests == 1


async def test_attempts_counts_connection_attempts_retried() -> None:
    """An init that could not connect, retried twice, says it tried 3 times."""
    async with client_at(free_port_refusing(), retry=ota.RetryPolicy.no_wait(3)) as client:
        with pytest.raises(ota.ConnectionFailedError) as info:
            await client.init(PHONE, IP)
    assert info.value.attempts == 3


async def test_a_gateway_page_echoing_the_phone_is_masked_in_the_error() -> None:
    """A 400 page quoting the request's phone: the excerpt and the message mask it."""
    page = f"<html>Bad request: phone={PHONE}</html>".encode()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(page, status=b"400 Bad Request", content_type=b"text/html"))
        await writer.drain()

    async with serve(echo) as server, client_at(server.url) as client:
        with pytest.raises(ota.ProtocolError) as info:
            await client.init(PHONE, IP)
    assert PHONE not in info.value.excerpt
    assert PHONE not in str(info.value)
    assert ota.mask_phone(PHONE) in info.value.excerpt
