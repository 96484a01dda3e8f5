"""Start logins from taskiq workers, with one ``AsyncOtaClient`` per worker process.

taskiq runs tasks as coroutines on one event loop per worker process, so the
recipe uses :class:`AsyncOtaClient` directly: made in the worker's startup event,
kept in the worker's state, closed in its shutdown event. Needs
``pip install taskiq taskiq-redis nxcloud-ota``.

    export NXCLOUD_ACCESS_KEY=... NXCLOUD_ACCESS_SECRET=... NXCLOUD_APP_KEY=...
    export REDIS_URL=redis://127.0.0.1:6379/0       # broker and result backend
    cd examples && taskiq worker worker_taskiq:broker --workers 2

    >>> task = await start_login.kiq("8615800001795", "203.0.113.7")
    >>> (await task.wait_result(timeout=30)).return_value
    {'request_id': '...', 'url': '...', 'maybe_sent': False}

``init`` is billed and has no idempotency key, so nothing here lets taskiq run it
twice: no retry middleware on the broker, and a list queue, which hands each
message out once (a stream broker would deliver unacknowledged messages again
after a crash). A ``RequestMaybeSentError`` (a login may have started) is recorded
in the task's result and logged, for reconciliation by ``verify`` or the status
callback; it is never retried. Against the simulator: ``nxcloud-ota fake-server``
prints the ``NXCLOUD_*`` variables to export.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

from taskiq import Context, TaskiqDepends, TaskiqEvents, TaskiqState
from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

from nxcloud_ota import AsyncOtaClient, RequestMaybeSentError

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

broker = ListQueueBroker(REDIS_URL).with_result_backend(
    RedisAsyncResultBackend(REDIS_URL, result_ex_time=24 * 3600)
)
log = logging.getLogger("worker_taskiq")


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def open_client(state: TaskiqState) -> None:
    """Each worker process makes its client inside its own event loop."""
    state.nxcloud = AsyncOtaClient.from_env()
    log.info("nxcloud client opened in process %d", os.getpid())


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def close_client(state: TaskiqState) -> None:
    """Close the client (its connection pool) as the worker process stops."""
    await state.nxcloud.aclose()
    log.info("nxcloud client closed in process %d", os.getpid())


@broker.task(task_name="nxcloud.start_login")
async def start_login(
    phone: str, user_ip: str, context: Annotated[Context, TaskiqDepends()]
) -> dict[str, object]:
    """Start a login; return its ``request_id`` and ``url``.

    A login that may have started (``RequestMaybeSentError``) is recorded in the
    result (``maybe_sent``, with the masked phone and the attempt's ``ts``) and
    logged; the task never runs the call again. Other errors fail the task: they
    mean no login started (bad input, a refused connection, an API error).
    """
    client: AsyncOtaClient = context.state.nxcloud
    try:
        started = await client.init(phone=phone, user_ip=user_ip)
    except RequestMaybeSentError as exc:
        log.warning(
            "a login may have started for %s (ts %s): reconcile it, do not retry",
            exc.phone_masked,
            exc.ts,
        )
        return {"request_id": None, "maybe_sent": True, "phone": exc.phone_masked, "ts": exc.ts}
    return {"request_id": started.request_id, "url": started.url, "maybe_sent": False}


@broker.task(task_name="nxcloud.check_login")
async def check_login(request_id: str, context: Annotated[Context, TaskiqDepends()]) -> str:
    """Return the status of a login (``verify`` is free and idempotent)."""
    client: AsyncOtaClient = context.state.nxcloud
    return (await client.verify(request_id)).status.value
