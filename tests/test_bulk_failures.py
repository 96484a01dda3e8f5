"""``init_many`` never aborts: whatever one item raises, it becomes that item's outcome."""

from __future__ import annotations

import httpx
import pytest

import nxcloud_ota as ota
from tests._servers import answer_ok, client_at, serve

pytestmark = pytest.mark.anyio

IP = "203.0.113.7"
PHONES = [f"86158000017{n:02d}" for n in range(20)]
TRANSPORT_FAILS = PHONES[7]
LIMITER_FAILS_ON = 12  # the 12th acquire: PHONES[11], the items being sent in order


class FlakyTransport(httpx.AsyncBaseTransport):
    """The default transport, except that one phone's request raises a non-httpx error."""

    def __init__(self) -> None:
        self.inner = ota.AiohttpTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if TRANSPORT_FAILS.encode() in request.content:
            raise OSError("a transport bug")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class FlakyLimiter:
    """A limiter that never waits, but raises a plain RuntimeError on one acquire."""

    def __init__(self) -> None:
        self.acquired = 0

    async def acquire(self) -> int:
        self.acquired += 1
        if self.acquired == LIMITER_FAILS_ON:
            raise RuntimeError("the limiter's backend is down")
        return 0

    def on_success(self, ticket: int) -> None:
        pass

    def on_throttle(self, ticket: int) -> None:
        pass


def raising_hook(event: ota.AttemptEvent) -> None:
    raise ZeroDivisionError("a hook with a bug")


@pytest.mark.parametrize("ordered", [False, True])
async def test_every_input_yields_one_outcome_whatever_an_item_raises(ordered: bool) -> None:
    """Validation, a transport's OSError, a limiter's RuntimeError: each is one outcome."""
    items: list[object] = [("not a phone", IP), *((phone, IP) for phone in PHONES)]
    async with (
        serve(answer_ok) as server,
        client_at(
            server.url,
            transport=FlakyTransport(),
            rate_limiter=FlakyLimiter(),
            hooks=ota.Hooks(on_attempt=raising_hook),
        ) as client,
    ):
        stats = ota.BulkStats()
        outcomes = [
            o
            async for o in client.init_many(
                items,  # type: ignore[arg-type]
                concurrency=1,
                ordered=ordered,
                stats=stats,
            )
        ]
    assert sorted(o.index for o in outcomes) == list(range(21))
    failed = {o.index: o.error for o in outcomes if not o.ok}
    assert {i: type(e) for i, e in failed.items()} == {
        0: ota.InvalidInputError,
        1 + 7: OSError,
        1 + 11: RuntimeError,
    }
    assert all(o.result is not None for o in outcomes if o.ok)
    assert server.requests == 18
    assert (stats.completed, stats.succeeded, stats.failed) == (21, 18, 3)


async def test_an_outcome_repr_masks_the_phone() -> None:
    """repr(InitOutcome) shows the phone masked, for a pair, a list and a request."""
    async with (
        serve(answer_ok) as server,
        client_at(server.url) as client,
    ):
        items: list[object] = [
            (PHONES[0], IP),
            [PHONES[1], IP],
            ota.InitRequest(phone=PHONES[2], user_ip=IP),
        ]
        shown = [
            repr(o)
            async for o in client.init_many(items, ordered=True)  # type: ignore[arg-type]
        ]
    for phone, text in zip(PHONES[:3], shown, strict=True):
        assert phone not in text
        assert ota.mask_phone(phone) in text
