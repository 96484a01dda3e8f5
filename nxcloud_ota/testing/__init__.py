"""A behavioural simulator of the NXCloud OTA API, for tests and demos.

:class:`FakeNxCloud` is a plain ASGI application: use it in process through
``httpx.ASGITransport(app=fake)``, or on a loopback port with :func:`serve`
(an async context manager) or :func:`run_server` (blocking); both need uvicorn,
from the ``cli`` extra. The pytest plugin adds the fixtures ``nxcloud_fake``,
``nxcloud_client`` and ``nxcloud_server``.
"""

from __future__ import annotations

from ._fake import FAKE_ACCESS_KEY, FAKE_ACCESS_SECRET, FAKE_APP_KEY, FakeNxCloud
from ._records import RecordedHeaders, RecordedRequest
from ._server import run_server, serve

__all__ = [
    "FAKE_ACCESS_KEY",
    "FAKE_ACCESS_SECRET",
    "FAKE_APP_KEY",
    "FakeNxCloud",
    "RecordedHeaders",
    "RecordedRequest",
    "run_server",
    "serve",
]
