"""One-click login in an aiohttp.web backend: start a login, report its outcome, take the callback.

Run it from the repository's root::

    NXCLOUD_ACCESS_KEY=... NXCLOUD_ACCESS_SECRET=... NXCLOUD_APP_KEY=... \\
    TRUSTED_PROXIES=10.0.0.0/8 REDIS_URL=redis://localhost:6379/0 \\
    python -m aiohttp.web -H 127.0.0.1 -P 8080 examples.aiohttp_app:init_app

or ``python -m examples.aiohttp_app`` (the same, on 127.0.0.1:8080).

- ``POST /login/start`` with ``{"phone": "8615800001795"}`` starts a login and
  answers ``{"request_id": ..., "url": ...}``: hand ``url`` to the user's phone.
  Each client address and each phone may start only so many (429 beyond).
- ``GET /login/{request_id}`` answers ``{"request_id", "status", "final"}`` for a
  login this app started (404 for any other).
- ``POST /nxcloud/callback`` is the URL to register in NXCloud's console for the
  status callback; a callback counts only for a login this app started, once
  ``verify`` confirms it.

One :class:`AsyncOtaClient` serves the whole process, and one
:class:`~nxcloud_ota.contrib.web.LoginGuard` stands between it and the public
endpoints: a ``cleanup_ctx`` creates both at startup, stores them under
:data:`OTA_CLIENT` and :data:`LOGIN_GUARD` and closes them on shutdown. With
``REDIS_URL`` set, the started logins and the budgets live in that Redis,
shared by every process; without it, in this process's memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from nxcloud_ota import AsyncOtaClient, InvalidInputError, NxCloudError, VerifyStatus, mask_phone
from nxcloud_ota.contrib.web import (
    HIDE_QUERY_STRINGS,
    LoginGuard,
    LoginPolicy,
    LoginStore,
    TrustedProxies,
    client_ip,
    error_reply,
    open_login_guard,
)

log = logging.getLogger("examples.aiohttp_app")

OTA_CLIENT = web.AppKey("ota_client", AsyncOtaClient)
"""The process's client, set while the app runs."""
LOGIN_GUARD = web.AppKey("login_guard", LoginGuard)
"""The guard in front of the client, set while the app runs."""
TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
"""The proxies whose ``X-Forwarded-For`` is believed."""

routes = web.RouteTableDef()


async def _phone(request: web.Request) -> str:
    """The ``phone`` of the JSON body; :class:`InvalidInputError` if there is none."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInputError("body", "must be a JSON object") from None
    phone = body.get("phone") if isinstance(body, dict) else None
    if not isinstance(phone, str):
        raise InvalidInputError("phone", "is required, as a string")
    return phone


def user_ip(request: web.Request) -> str:
    """The end user's IP: the peer's, or ``X-Forwarded-For``'s if the peer is a trusted proxy.

    The header is read from the right, skipping trusted proxies; see
    :func:`nxcloud_ota.contrib.web.client_ip`.
    """
    forwarded = request.headers.getall("X-Forwarded-For", [])
    return client_ip(request.remote, forwarded, request.app[TRUSTED_PROXIES])


@routes.post("/login/start")
async def start_login(request: web.Request) -> web.Response:
    """Start a login for the number the user typed (billed: one call, one login),
    within the budgets of the user's address and of the phone (else 429)."""
    phone = await _phone(request)
    started = await request.app[LOGIN_GUARD].start(phone=phone, user_ip=user_ip(request))
    log.info("login %s started for %s", started.request_id, mask_phone(phone))
    return web.json_response({"request_id": started.request_id, "url": started.url})


@routes.get("/login/{request_id}")
async def login_outcome(request: web.Request) -> web.Response:
    """Report the status of a login this app started: a final one as it was
    confirmed, a pending one as ``verify`` says (asked once at a time)."""
    request_id = request.match_info["request_id"]
    status = await request.app[LOGIN_GUARD].status(request_id)
    return web.json_response(
        {"request_id": request_id, "status": status.value, "final": status.is_final}
    )


@routes.post("/nxcloud/callback")
async def nxcloud_callback(request: web.Request) -> web.Response:
    """Take the provider's status callback; only ``verify`` decides, and only
    for a login this app started."""
    reply = await request.app[LOGIN_GUARD].receive_callback(request.query)
    if reply.confirmed is VerifyStatus.SUCCESS:
        log.info("login %s confirmed: log the user in", reply.request_id)
    return web.Response(text=reply.text, status=reply.status, headers=reply.headers)


@web.middleware
async def nxcloud_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer the package's errors: 422 bad input (naming the field), 404 not ours,
    429 over a budget (with Retry-After), 502 provider error, 503 no answer (see
    :func:`nxcloud_ota.contrib.web.error_reply`)."""
    try:
        return await handler(request)
    except NxCloudError as exc:
        reply = error_reply(exc)
        log.warning("%s %s failed: %s", request.method, request.path, exc)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)


def create_app(
    *,
    client_factory: Callable[[], AsyncOtaClient] = AsyncOtaClient.from_env,
    trusted_proxies: TrustedProxies | None = None,
    policy: LoginPolicy | None = None,
    store: LoginStore | None = None,
    redis_url: str | None = None,
) -> web.Application:
    """Build the app.

    ``client_factory`` makes the client at startup (by default from the
    ``NXCLOUD_*`` variables); ``trusted_proxies`` defaults to the comma-separated
    ``TRUSTED_PROXIES`` variable (unset: trust no proxy). ``policy`` sets the
    budgets and caches (default: :class:`~nxcloud_ota.contrib.web.LoginPolicy`'s);
    ``store`` keeps the started logins (your database; by default Redis or
    memory); ``redis_url`` defaults to the ``REDIS_URL`` variable.
    """
    if trusted_proxies is None:
        trusted_proxies = TrustedProxies.parse(os.environ.get("TRUSTED_PROXIES", ""))
    if redis_url is None:
        redis_url = os.environ.get("REDIS_URL")

    async def ota_client(app: web.Application) -> AsyncIterator[None]:
        # The callback's query string holds the full phone number: keep it out of the log.
        logging.getLogger("aiohttp.access").addFilter(HIDE_QUERY_STRINGS)
        # One client per process: one connection pool and rate limit for every
        # request, behind one guard: budgets, started logins, one verify at a time.
        async with (
            client_factory() as client,
            open_login_guard(client, redis_url=redis_url, policy=policy, store=store) as guard,
        ):
            app[OTA_CLIENT] = client
            app[LOGIN_GUARD] = guard
            yield
        # Leaving the block closed the client's and Redis's connections.

    app = web.Application(middlewares=[nxcloud_errors])
    app[TRUSTED_PROXIES] = trusted_proxies
    app.cleanup_ctx.append(ota_client)
    app.add_routes(routes)
    return app


def init_app(argv: list[str] | None = None) -> web.Application:
    """The entry point of ``python -m aiohttp.web ... examples.aiohttp_app:init_app``."""
    return create_app()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    web.run_app(create_app(), host="127.0.0.1", port=8080)
