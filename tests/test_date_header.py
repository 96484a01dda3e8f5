"""A hostile or broken ``Date`` header never breaks a call nor drags the clock correction."""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import formatdate

import pytest

from nxcloud_ota._clock import ClockSync
from tests._servers import OK_BODY, client_at, http_response, read_request, serve

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
PHONE, IP = "8615800001795", "203.0.113.7"
WINDOW = 60.0  # the provider's ts window, in seconds

HOSTILE_DATES = {
    "year past any datetime": "Tue, 14 Nov 99999999999999999999 22:13:20 GMT",
    "year 9999": "Fri, 31 Dec 9999 23:59:59 GMT",
    "twelve hours ahead": "in 12 h",  # filled in with the server's clock at answer time
    "twelve hours behind": "12 h ago",
    "hour 25": "Tue, 14 Nov 2023 25:13:20 GMT",
    "not a date": "soon",
}


def _date(label: str) -> str:
    value = HOSTILE_DATES[label]
    if value == "in 12 h":
        return formatdate(time.time() + 12 * 3600, usegmt=True)
    if value == "12 h ago":
        return formatdate(time.time() - 12 * 3600, usegmt=True)
    return value


class RightClockServer:
    """Answers the first init with a hostile Date, then judges ts like the provider.

    Each request's ``ts`` must be within 60 s of this machine's clock (which is
    right, by definition of the test); a request outside it gets 1004 and a
    correct Date, as the provider answers.
    """

    def __init__(self, first_date: str) -> None:
        self.first_date = first_date
        self.verdicts: list[int] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                ts = next(
                    int(line.split(b":", 1)[1])
                    for line in request.split(b"\r\n")
                    if line.lower().startswith(b"ts:")
                )
                now = time.time()
                if not self.verdicts:
                    code, date = 0, self.first_date
                elif abs(ts / 1000 - now) > WINDOW:
                    code, date = 1004, formatdate(now, usegmt=True)
                else:
                    code, date = 0, formatdate(now, usegmt=True)
                self.verdicts.append(code)
                body = OK_BODY if code == 0 else b'{"code":1004,"msg":"ts expired","data":null}'
                writer.write(http_response(body, extra=b"Date: " + date.encode() + b"\r\n"))
                await writer.drain()
        finally:
            writer.close()


@pytest.mark.parametrize("label", list(HOSTILE_DATES))
async def test_a_hostile_date_neither_fails_the_billed_call_nor_the_next(
    label: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A billed code-0 answer with a bad Date returns its result; the next ts is accepted."""
    caplog.set_level(logging.DEBUG, logger="nxcloud_ota")
    server = RightClockServer(_date(label))
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with (
        listener,
        client_at(f"http://127.0.0.1:{port}") as client,
    ):
        first = await client.init(PHONE, IP)
        assert first.request_id == "r1"
        assert abs(client.clock_offset_ms) <= 30_000
        await client.init(PHONE, IP)
    assert server.verdicts == [0, 0]  # the second call's first request was accepted
    if label in ("year past any datetime", "year 9999", "hour 25", "not a date"):
        assert any(
            r.levelno == logging.DEBUG and "ignoring" in r.getMessage() for r in caplog.records
        )


async def test_a_hostile_date_does_not_abort_a_bulk_run() -> None:
    """Every answer's Date overflowing a datetime still gives one outcome per input."""
    date = HOSTILE_DATES["year past any datetime"].encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(OK_BODY, extra=b"Date: " + date + b"\r\n"))
        await writer.drain()

    async with (
        serve(answer) as server,
        client_at(server.url) as client,
    ):
        outcomes = [o async for o in client.init_many([(PHONE, IP)] * 20, concurrency=4)]
    assert sorted(o.index for o in outcomes) == list(range(20))
    assert all(o.ok for o in outcomes)
    assert server.requests == 20


def test_one_outlier_moves_the_estimate_by_max_step_at_most() -> None:
    """After agreeing clocks, one answer 6 hours ahead moves the estimate by 30 s at most."""
    sync = ClockSync()
    for _ in range(5):
        sync.observe("Tue, 14 Nov 2023 22:13:20 GMT", T0, T0)
    sync.observe("Wed, 15 Nov 2023 04:13:20 GMT", T0, T0)
    assert sync.estimate is not None
    assert 0 < sync.estimate <= 30.5
    assert sync.offset_ms <= 30_500


def test_a_first_outlier_is_bounded_too() -> None:
    """The first sample, 6 hours behind, sets the estimate to -30 s, not -6 h."""
    sync = ClockSync()
    sync.observe("Tue, 14 Nov 2023 16:13:20 GMT", T0, T0)
    assert sync.estimate == -30.0
    assert sync.offset_ms == -30_000


def test_a_date_more_than_a_day_away_is_no_evidence_even_after_1004() -> None:
    """A 1004 trusts its Date at once, but not one two days away: it is ignored."""
    sync = ClockSync()
    assert not sync.expired("Thu, 16 Nov 2023 22:13:20 GMT", T0, T0)
    assert (sync.estimate, sync.offset_ms) == (None, 0)
    assert sync.expired("Tue, 14 Nov 2023 22:15:20 GMT", T0, T0)  # 2 min: trusted at once
    assert sync.offset_ms == 120_500
