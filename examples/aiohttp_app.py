"""One-click login in an aiohttp.web backend: start a login, report its outcome, take the callback.

Run it from the repository's root::

    NXCLOUD_ACCESS_KEY=... NXCLOUD_ACCESS_SECRET=... NXCLOUD_APP_KEY=... \\
    TRUSTED_PROXIES=10.0.0.0/8 python -m aiohttp.web -H 127.0.0.1 -P 8080 \\
    examples.aiohttp_app:init_app

or ``python -m examples.aiohttp_app`` (the same, on 127.0.0.1:8080).

- ``POST /login/start`` with ``{"phone": "8615800001795"}`` starts a login and
  answers ``{"request_id": ..., "url": ...}``: hand ``url`` to the user's phone.
- ``GET /login/{request_id}`` answers ``{"request_id", "status", "final"}``.
- ``POST /nxcloud/callback`` is the URL to register in NXCloud's console for the
  status callback; every callback is confirmed with ``verify`` before it counts.

One :class:`AsyncOtaClient` serves the whole process: a ``cleanup_ctx`` creates
it at startup, stores it under :data:`OTA_CLIENT` and closes it on shutdown.
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
    TrustedProxies,
    client_ip,
    error_reply,
    receive_callback,
)

log = logging.getLogger("examples.aiohttp_app")

Outcomes = dict[str, VerifyStatus]
"""``request_id`` -> final status, as ``verify`` confirmed it. A real app uses its database."""

OTA_CLIENT = web.AppKey("ota_client", AsyncOtaClient)
"""The process's client, set while the app runs."""
TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
"""The proxies whose ``X-Forwarded-For`` is believed."""
OUTCOMES: web.AppKey[Outcomes] = web.AppKey("outcomes")
"""The confirmed outcomes."""

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
    """Start a login for the number the user typed (billed: one call, one login)."""
    phone = await _phone(request)
    started = await request.app[OTA_CLIENT].init(phone=phone, user_ip=user_ip(request))
    log.info("login %s started for %s", started.request_id, mask_phone(phone))
    return web.json_response({"request_id": started.request_id, "url": started.url})


@routes.get("/login/{request_id}")
async def login_outcome(request: web.Request) -> web.Response:
    """Report a login's status: a recorded final outcome, else what ``verify`` says now."""
    request_id = request.match_info["request_id"]
    outcomes = request.app[OUTCOMES]
    status = outcomes.get(request_id)
    if status is None:
        status = (await request.app[OTA_CLIENT].verify(request_id)).status
        if status.is_final:  # a final status never changes: keep it
            outcomes[request_id] = status
    return web.json_response(
        {"request_id": request_id, "status": status.value, "final": status.is_final}
    )


@routes.post("/nxcloud/callback")
async def nxcloud_callback(request: web.Request) -> web.Response:
    """Take the provider's status callback; record only what ``verify`` confirms."""
    reply = await receive_callback(request.app[OTA_CLIENT], request.query)
    if reply.request_id is not None and reply.confirmed is not None:
        request.app[OUTCOMES][reply.request_id] = reply.confirmed
    return web.Response(text=reply.text, status=reply.status)


@web.middleware
async def nxcloud_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer the package's errors: 422 bad input (naming the field), 502 provider
    error, 503 no answer (see :func:`nxcloud_ota.contrib.web.error_reply`)."""
    try:
        return await handler(request)
    except NxCloudError as exc:
        reply = error_reply(exc)
        log.warning("%s %s failed: %s", request.method, request.path, exc)
        return web.json_response(reply.body, status=reply.status)


def create_app(
    *,
    client_factory: Callable[[], AsyncOtaClient] = AsyncOtaClient.from_env,
    trusted_proxies: TrustedProxies | None = None,
    outcomes: Outcomes | None = None,
) -> web.Application:
    """Build the app.

    ``client_factory`` makes the client at startup (by default from the
    ``NXCLOUD_*`` variables); ``trusted_proxies`` defaults to the comma-separated
    ``TRUSTED_PROXIES`` variable (unset: trust no proxy); ``outcomes`` is the
    store of confirmed outcomes, also reachable as ``app[OUTCOMES]``.
    """
    if trusted_proxies is None:
        trusted_proxies = TrustedProxies.parse(os.environ.get("TRUSTED_PROXIES", ""))

    async def ota_client(app: web.Application) -> AsyncIterator[None]:
        # The callback's query string holds the full phone number: keep it out of the log.
        logging.getLogger("aiohttp.access").addFilter(HIDE_QUERY_STRINGS)
        # One client per process: one connection pool and rate limit for every request.
        async with client_factory() as client:
            app[OTA_CLIENT] = client
            yield
        # Leaving the block closed the client's connections.

    app = web.Application(middlewares=[nxcloud_errors])
    app[TRUSTED_PROXIES] = trusted_proxies
    app[OUTCOMES] = {} if outcomes is None else outcomes
    app.cleanup_ctx.append(ota_client)
    app.add_routes(routes)
    return app


def init_app(argv: list[str] | None = None) -> web.Application:
    """The entry point of ``python -m aiohttp.web ... examples.aiohttp_app:init_app``."""
    return create_app()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    web.run_app(create_app(), host="127.0.0.1", port=8080)
