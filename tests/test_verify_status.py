"""A verify status the provider adds later is returned as received, not retried and refused."""

from __future__ import annotations

import asyncio
import pickle

import pytest

import nxcloud_ota as ota
from tests._servers import Behaviour, client_at, http_response, serve

pytestmark = pytest.mark.anyio


def answering_status(status: str) -> Behaviour:
    body = b'{"code":0,"msg":"ok","data":{"requestId":"r1","status":"%s"}}' % status.encode()

    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(body))
        await writer.drain()

    return behaviour


async def test_an_unknown_status_is_returned_at_once_with_its_raw_value() -> None:
    """ "EXPIRED" comes back as a final, unknown status after one request, no error."""
    async with (
        serve(answering_status("EXPIRED")) as server,
        client_at(server.url, retry=ota.RetryPolicy.no_wait()) as client,
    ):
        checked = await client.verify("r1")
    assert server.requests == 1
    assert (checked.request_id, checked.status.value, checked.status) == (
        "r1",
        "EXPIRED",
        "EXPIRED",
    )
    assert isinstance(checked.status, ota.VerifyStatus)
    assert not checked.status.is_known
    assert checked.status.is_final
    assert all(checked.status is not known for known in ota.VerifyStatus)


@pytest.mark.parametrize("known", list(ota.VerifyStatus), ids=lambda s: s.value)
async def test_known_statuses_are_still_the_members(known: ota.VerifyStatus) -> None:
    """A documented status is its enum member, so `is VerifyStatus.PENDING` holds."""
    async with (
        serve(answering_status(known.value)) as server,
        client_at(server.url) as client,
    ):
        checked = await client.verify("r1")
    assert checked.status is known
    assert checked.status.is_known


def test_an_unknown_status_survives_pickle() -> None:
    """A result with an unknown status crosses processes with its raw value."""
    result = ota.VerifyResult(request_id="r1", status=ota.VerifyStatus("EXPIRED"))
    copy = pickle.loads(pickle.dumps(result))  # noqa: S301  # bytes we just made
    assert copy == result
    assert copy.status.value == "EXPIRED"


def test_the_callback_still_accepts_only_documented_statuses() -> None:
    """The unsigned callback keeps refusing a status it cannot confirm by name."""
    query = {"requestId": "r1", "phone": "8615800001795", "drTime": "2026-11-28 16:20:00"}
    with pytest.raises(ota.InvalidInputError, match="status"):
        ota.CallbackEvent.from_query({**query, "status": "EXPIRED"})
