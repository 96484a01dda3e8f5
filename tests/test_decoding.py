"""The Content-Encoding decoder: what it decodes, what it refuses, and that it stops at the cap."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable

import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota._decoding import BodyDecoder, UndecodableBody, parse_content_encoding
from tests._hostile import deflate_bomb, gzip_bomb, gzip_gzip_bomb
from tests._support import ACCESS_KEY, ACCESS_SECRET, APP_KEY

BODY = b'{"code":0,"msg":"ok","data":{"requestId":"r1","url":"https://u/r1"}}'
LIMIT = 1 << 20


def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


DECODED = [
    ("no header", None, BODY),
    ("identity", "identity", BODY),
    ("gzip", "gzip", gzip.compress(BODY)),
    ("x-gzip, any case", "X-Gzip", gzip.compress(BODY)),
    ("deflate with the zlib header", "deflate", zlib.compress(BODY)),
    ("deflate sent raw", "deflate", deflate_raw(BODY)),
    ("gzip, gzip", "gzip, gzip", gzip.compress(gzip.compress(BODY))),
    ("deflate then gzip", "deflate,gzip", gzip.compress(zlib.compress(BODY))),
    ("identity among codings", "gzip, identity", gzip.compress(BODY)),
]


@pytest.mark.parametrize(
    ("encoding", "encoded"), [c[1:] for c in DECODED], ids=[c[0] for c in DECODED]
)
@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_decodes(encoding: str | None, encoded: bytes, chunk: int) -> None:
    """Each accepted coding, alone or stacked, gives back the body whatever the chunking."""
    decoder = BodyDecoder(encoding, limit=LIMIT)
    for start in range(0, len(encoded), chunk):
        decoder.feed(encoded[start : start + chunk])
    assert decoder.finish() == BODY


REFUSED = [
    ("brotli", "br", b"\x0b\x02\x80", "'br' is not accepted"),
    ("zstd", "zstd", b"(\xb5/\xfd", "'zstd' is not accepted"),
    ("compress", "compress", b"\x1f\x9d", "'compress' is not accepted"),
    ("unknown after gzip", "gzip, br", b"", "'br' is not accepted"),
    ("five layers", "gzip, " * 4 + "gzip", b"", "5 stacked"),
    ("corrupt gzip", "gzip", b"\x1f\x8b\x08\x00garbage-garbage", "corrupt"),
    ("gzip cut short", "gzip", gzip.compress(BODY)[:-8], "ends before its end marker"),
    ("deflate of one byte", "deflate", b"x", "ends before its end marker"),
    ("bytes after gzip", "gzip", gzip.compress(BODY) + b"junk", "bytes follow the end"),
    ("plain body over the cap", None, b"x" * (LIMIT + 1), "over the 1048576 bytes"),
]


@pytest.mark.parametrize(
    ("encoding", "encoded", "problem"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refuses(encoding: str, encoded: bytes, problem: str) -> None:
    """What cannot be decoded safely raises UndecodableBody saying why."""

    def decode() -> bytes:
        decoder = BodyDecoder(encoding, limit=LIMIT)
        decoder.feed(encoded)
        return decoder.finish()

    with pytest.raises(UndecodableBody, match=problem):
        decode()


def test_body_of_exactly_the_cap_is_accepted() -> None:
    """The cap is inclusive: a body of exactly ``limit`` decoded bytes passes."""
    decoder = BodyDecoder("gzip", limit=1000)
    decoder.feed(gzip.compress(b"a" * 1000))
    assert decoder.finish() == b"a" * 1000


def test_cap_counts_across_chunks() -> None:
    """The cap holds over the whole body, not per chunk."""
    decoder = BodyDecoder(None, limit=10)
    decoder.feed(b"123456")
    with pytest.raises(UndecodableBody, match="over the 10 bytes"):
        decoder.feed(b"78901")


@pytest.mark.parametrize(
    ("encoding", "build"),
    [("gzip", gzip_bomb), ("deflate", deflate_bomb), ("gzip, gzip", gzip_gzip_bomb)],
)
def test_bomb_stops_at_the_cap(encoding: str, build: Callable[[], bytes]) -> None:
    """A gibibyte bomb is refused after expanding no further than the cap: in well under a
    second, where expanding it whole takes seconds and a gibibyte."""
    bomb = build()
    started = time.perf_counter()
    decoder = BodyDecoder(encoding, limit=LIMIT)
    with pytest.raises(UndecodableBody, match="over the 1048576 bytes"):
        decoder.feed(bomb)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("header", "codings"),
    [
        (None, []),
        ("", []),
        ("identity", []),
        (" GZIP ,deflate", ["gzip", "deflate"]),
        ("gzip, gzip", ["gzip", "gzip"]),
    ],
)
def test_parse_content_encoding(header: str | None, codings: list[str]) -> None:
    """The header is read as the list of codings applied, identity left out."""
    assert parse_content_encoding(header) == codings


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("action", "error"), [("init", ota.UnreadableAnswerError), ("verify", ota.ProtocolError)]
)
async def test_transport_that_fails_to_decode(action: str, error: type[ota.ProtocolError]) -> None:
    """A transport of your own that fails to decode an answer gives the same error as an
    undecodable answer (for init: a login may have started), httpx's error as its cause."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.DecodingError("bad gzip", request=request)

    async with ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        transport=httpx.MockTransport(handler),
        retry=ota.RetryPolicy.no_wait(max_attempts=1),
    ) as client:
        with pytest.raises(error) as caught:
            await (
                client.init("8615800001795", "203.0.113.7")
                if action == "init"
                else client.verify("r1")
            )
    assert type(caught.value) is error
    assert isinstance(caught.value.__cause__, httpx.DecodingError)


@pytest.mark.anyio
async def test_body_in_memory_is_held_to_the_cap() -> None:
    """A transport of your own that returns the whole body in memory is held to the same
    1 MiB cap (for init, a login may have started)."""

    def handler(request: httpx.Request) -> httpx.Response:
        response = httpx.Response(200, content=b" " * (LIMIT + 1))
        del response.headers["Content-Length"]  # nothing declared: the size read decides
        return response

    async with ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        transport=httpx.MockTransport(handler),
        retry=ota.RetryPolicy.no_wait(max_attempts=1),
    ) as client:
        with pytest.raises(ota.UnreadableAnswerError, match="over the 1048576 bytes"):
            await client.init("8615800001795", "203.0.113.7")
