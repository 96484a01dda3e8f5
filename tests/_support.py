"""Test helpers written from the provider's documentation, independent of the package."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable

import httpx

ACCESS_KEY = "test-ak"
ACCESS_SECRET = "s3cr3t-DO-NOT-LEAK-7f1c"
APP_KEY = "test-app"


def expected_sign(request: httpx.Request, secret: str = ACCESS_SECRET) -> str:
    """The recipe from the docs, written out by hand: headers, &body=, &accessSecret=."""
    h = request.headers
    text = (
        f"accessKey={h['accessKey']}&action={h['action']}&bizType={h['bizType']}&ts={h['ts']}"
    ).encode()
    if request.content:
        text += b"&body=" + request.content
    text += f"&accessSecret={secret}".encode()
    if h.get("algorithm") == "sha256":
        return hashlib.sha256(text).hexdigest()
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def envelope(code: int = 0, data: object = None, msg: str = "") -> httpx.Response:
    """An API answer: always HTTP 200, the outcome in ``code``."""
    body = json.dumps({"code": code, "msg": msg or ("ok" if code == 0 else "error"), "data": data})
    return httpx.Response(200, content=body.encode(), headers={"Content-Type": "application/json"})


def init_ok(request_id: str = "989d535f78338411f7de07c028ddee4b") -> httpx.Response:
    """A successful init answer."""
    return envelope(0, {"requestId": request_id, "url": f"https://auth.example/{request_id}"})


class Recorder:
    """A MockTransport handler that checks every signature and answers from a script.

    ``answers`` is consumed in order; the last one repeats. Each entry is a
    response, an exception to raise, or a callable taking the request.
    """

    def __init__(
        self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]
    ) -> None:
        self.answers = list(answers) or [init_ok()]
        self.requests: list[httpx.Request] = []
        self.bad_signatures = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        # A snapshot: the client re-sends one Request object, re-signed in place.
        self.requests.append(
            httpx.Request(
                request.method,
                request.url,
                headers=request.headers.copy(),
                content=request.content,
            )
        )
        if request.headers.get("sign") != expected_sign(request):
            self.bad_signatures += 1
            return envelope(1003, msg="invalid signature")
        answer = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


class NoLimit:
    """A rate limiter that never waits: isolates retry behaviour from pacing."""

    async def acquire(self) -> int:
        return 0

    def on_success(self, ticket: int) -> None:
        pass

    def on_throttle(self, ticket: int) -> None:
        pass


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` in a fresh process; its output as text."""
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False
    )
