"""Start logins from Celery workers, with one blocking ``OtaClient`` per worker process.

Celery runs tasks as plain functions, so the recipe uses :class:`OtaClient`: one per
worker process, made when the process starts (``worker_process_init`` in the
``prefork`` pool's children; ``worker_init`` for the ``threads`` and ``solo``
pools, which run tasks in the worker process itself) and closed when it stops.
Its tasks share it, from any number of threads. Needs
``pip install 'celery[redis]' nxcloud-ota``.

    export NXCLOUD_ACCESS_KEY=... NXCLOUD_ACCESS_SECRET=... NXCLOUD_APP_KEY=...
    export REDIS_URL=redis://127.0.0.1:6379/0       # broker and result backend
    cd examples && celery -A worker_celery worker --pool prefork --concurrency 4
    cd examples && celery -A worker_celery worker --pool threads --concurrency 32

    >>> from worker_celery import start_login
    >>> start_login.delay("8615800001795", "203.0.113.7").get(timeout=30)
    {'request_id': '...', 'url': '...', 'maybe_sent': False, ...}

``init`` is billed and has no idempotency key, so nothing here lets Celery run it
twice: no ``autoretry_for``, no ``retry()``, and ``task_acks_late`` off (the
message is acknowledged before the task runs, so a worker that dies mid-call
never has it delivered again). A ``RequestMaybeSentError`` (a login may have
started) is recorded in the task's result and logged, for reconciliation by
``verify`` or the status callback; it is never retried. Against the simulator:
``nxcloud-ota fake-server`` prints the ``NXCLOUD_*`` variables to export.
"""

from __future__ import annotations

import logging
import os

from celery import Celery, signals
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool

from nxcloud_ota import OtaClient, RequestMaybeSentError, TransportError

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

app = Celery("nxcloud_logins", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    # Acknowledge before running: a lost worker must not make Celery run a billed
    # init again (with late acks, Redis redelivers unacknowledged messages).
    task_acks_late=False,
    task_reject_on_worker_lost=False,
    broker_connection_retry_on_startup=True,
    result_expires=24 * 3600,
)

log = logging.getLogger("worker_celery")
_client: OtaClient | None = None


def client() -> OtaClient:
    """This process's client (made when the process started)."""
    if _client is None:
        raise RuntimeError("no OtaClient in this process: run the tasks in a Celery worker")
    return _client


def _open() -> None:
    global _client  # noqa: PLW0603 - one client per process, by design
    if _client is None:
        _client = OtaClient.from_env()
        log.info("nxcloud client opened in process %d", os.getpid())


def _close() -> None:
    global _client  # noqa: PLW0603
    if _client is not None:
        _client.close()
        _client = None
        log.info("nxcloud client closed in process %d", os.getpid())


@signals.worker_process_init.connect
def open_in_pool_process(**_: object) -> None:
    """prefork: each child process of the pool makes its own client."""
    _open()


@signals.worker_process_shutdown.connect
def close_in_pool_process(**_: object) -> None:
    """prefork: a child process closes its client as it exits."""
    _close()


@signals.worker_init.connect
def open_in_worker(sender: object, **_: object) -> None:
    """threads and solo: the tasks run in the worker process, so it makes the client."""
    pool = get_implementation(getattr(sender, "pool_cls", "prefork"))
    if not issubclass(pool, PreforkPool):
        _open()


@signals.worker_shutdown.connect
def close_in_worker(**_: object) -> None:
    """threads and solo: the worker closes its client as it stops."""
    _close()


@app.task(name="nxcloud.start_login", acks_late=False, max_retries=0)
def start_login(phone: str, user_ip: str) -> dict[str, object]:
    """Start a login; return its ``request_id`` and ``url``.

    A login that may have started (``RequestMaybeSentError``) is recorded in the
    result (``maybe_sent``, with the masked phone and the attempt's ``ts``) and
    logged; the task never runs the call again. Other errors fail the task: they
    mean no login started (bad input, a refused connection, an API error).
    """
    try:
        started = client().init(phone=phone, user_ip=user_ip)
    except RequestMaybeSentError as exc:
        log.warning(
            "a login may have started for %s (ts %s): reconcile it, do not retry",
            exc.phone_masked,
            exc.ts,
        )
        return {"request_id": None, "maybe_sent": True, "phone": exc.phone_masked, "ts": exc.ts}
    return {"request_id": started.request_id, "url": started.url, "maybe_sent": False}


@app.task(
    name="nxcloud.check_login",
    autoretry_for=(TransportError,),
    retry_backoff=True,
    max_retries=3,
)
def check_login(request_id: str) -> str:
    """Return the status of a login. ``verify`` is free and idempotent: retrying it is safe."""
    return client().verify(request_id).status.value
