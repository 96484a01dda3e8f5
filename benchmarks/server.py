"""A minimal loopback HTTP/1.1 server for benchmarks, run in its own process.

It answers every POST with a fixed successful ``init`` envelope, keeps
connections alive, and spends a few microseconds per request so that it is never
the bottleneck. Modes: ``--latency-ms`` delays each answer; ``--rate`` answers
2206 beyond a token bucket of that many requests per second.

    python benchmarks/server.py [--port 0] [--latency-ms 20] [--rate 200]  # prints 'ready PORT'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time

OK = (
    b'{"code":0,"msg":"ok","data":{"requestId":"989d535f78338411f7de07c028ddee4b",'
    b'"url":"https://auth.example/989d535f78338411f7de07c028ddee4b"}}'
)
THROTTLED = b'{"code":2206,"msg":"Request is too frequent","data":null}'


def response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: keep-alive\r\n\r\n"
        + body
    )


OK_RESPONSE = response(OK)
THROTTLED_RESPONSE = response(THROTTLED)


class Bucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate / 20)  # 50 ms of burst
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Http(asyncio.Protocol):
    latency = 0.0
    bucket: Bucket | None = None
    served = 0
    throttled = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(
                    head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]
                )
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            self.answer()

    def answer(self) -> None:
        Http.served += 1
        payload = OK_RESPONSE
        if Http.bucket is not None and not Http.bucket.take():
            Http.throttled += 1
            payload = THROTTLED_RESPONSE
        if Http.latency:
            asyncio.get_running_loop().call_later(Http.latency, self.write, payload)
        else:
            self.write(payload)

    def write(self, payload: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(payload)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    Http.latency = args.latency_ms / 1000
    Http.bucket = Bucket(args.rate) if args.rate else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", args.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"ready {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
