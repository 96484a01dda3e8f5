"""A hostile HTTP server from raw asyncio sockets, the attacks it plays, and a meter.

Each connection runs a *script*: a coroutine that reads requests (counting the
ones that arrived whole) and answers them however it likes, from a TCP reset
before reading to a gibibyte packed in 1,827 bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator

from tests._servers import listen, read_request

Script = Callable[["Conn"], Awaitable[None]]

INIT_OK = b'{"code":0,"msg":"ok","data":{"requestId":"r1","url":"https://u/r1"}}'
VERIFY_OK = b'{"code":0,"msg":"ok","data":{"requestId":"r1","status":"SUCCESS"}}'


class Conn:
    """One accepted connection, as a script sees it."""

    def __init__(
        self, server: HostileServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.request = b""

    async def read(self) -> bool:
        """Read one whole request (counted by the server); False at the end of the stream."""
        try:
            self.request = await read_request(self.reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return False
        self.server.requests.append(self.request)
        return True

    def ok_body(self) -> bytes:
        """A valid answer to the request just read (init or verify)."""
        return VERIFY_OK if b"\r\naction: verify\r\n" in self.request else INIT_OK

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def drip(self, data: bytes, interval: float) -> None:
        """Send one byte every ``interval`` seconds."""
        for i in range(len(data)):
            await self.send(data[i : i + 1])
            await asyncio.sleep(interval)

    def reset(self) -> None:
        """Close with a TCP reset (RST) instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.close()


class HostileServer:
    """Runs ``script`` on every connection; ``requests`` holds each request read whole."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(self, reader, writer)
        try:
            while not writer.is_closing() and not reader.at_eof():
                await self.script(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # a drip still going when the test's loop ends
            pass
        finally:
            writer.close()


def hostile(script: Script) -> contextlib.AbstractAsyncContextManager[HostileServer]:
    """Serve ``script`` on a free loopback port."""
    return listen(HostileServer(script))


def head(status: bytes, *lines: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    """A response head: status line, header lines, blank line."""
    return b"\r\n".join([version + b" " + status, *lines, b"", b""])


def length(body: bytes) -> bytes:
    return b"Content-Length: " + str(len(body)).encode()


# --- bombs ---------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _zeros_deflated(mebibytes: int) -> tuple[bytes, int, int]:
    """Raw deflate of ``mebibytes`` MiB of zeros, with their CRC-32 and Adler-32."""
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts, crc, adler = [], 0, 1
    for _ in range(mebibytes):
        parts.append(compressor.compress(block))
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    parts.append(compressor.flush())
    return b"".join(parts), crc, adler


def gzip_bomb(mebibytes: int = 1024) -> bytes:
    """gzip of ``mebibytes`` MiB of zeros (1 GiB: about 1 MB on the wire)."""
    raw, crc, _ = _zeros_deflated(mebibytes)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + raw + struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)


def deflate_bomb(mebibytes: int = 1024) -> bytes:
    """zlib-wrapped deflate of ``mebibytes`` MiB of zeros."""
    raw, _, adler = _zeros_deflated(mebibytes)
    return b"\x78\xda" + raw + struct.pack(">I", adler)


@functools.lru_cache(maxsize=1)
def gzip_gzip_bomb() -> bytes:
    """``Content-Encoding: gzip, gzip``: 1 GiB of zeros in 1,827 bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return compressor.compress(gzip_bomb()) + compressor.flush()


# --- the meter -------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Meter:
    """Wall time and peak growth of the process's resident memory over a block.

    A thread samples the resident set size every millisecond, so a gibibyte that
    lives for a few milliseconds is seen.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.peak_growth_mb = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[Meter]:
        baseline = peak = _rss()
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.wait(0.001):
                peak = max(peak, _rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        try:
            yield self
        finally:
            self.seconds = time.perf_counter() - started
            stop.set()
            sampler.join()
            self.peak_growth_mb = (max(peak, _rss()) - baseline) / 1e6
