"""One-click login in a FastAPI backend: start a login, report its outcome, take the callback.

Run it from the repository's root (``pip install fastapi uvicorn`` first)::

    NXCLOUD_ACCESS_KEY=... NXCLOUD_ACCESS_SECRET=... NXCLOUD_APP_KEY=... \\
    TRUSTED_PROXIES=10.0.0.0/8 REDIS_URL=redis://localhost:6379/0 \\
    uvicorn examples.fastapi_app:app --no-proxy-headers

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
endpoints: the lifespan creates both and closes them on shutdown. With
``REDIS_URL`` set, the started logins and the budgets live in that Redis,
shared by every process; without it, in this process's memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from nxcloud_ota import AsyncOtaClient, NxCloudError, VerifyStatus, mask_phone
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

log = logging.getLogger("examples.fastapi_app")


class StartLogin(BaseModel):
    """The body of ``POST /login/start``: the number the user typed."""

    phone: str


class LoginStarted(BaseModel):
    """A started login: open ``url`` on the phone, over mobile data."""

    request_id: str
    url: str


class LoginOutcome(BaseModel):
    """Where a login stands; ``final`` is false only while it is ``PENDING``."""

    request_id: str
    status: VerifyStatus
    final: bool


def get_guard(request: Request) -> LoginGuard:
    """The process's guard in front of its client, created by the lifespan."""
    guard: LoginGuard = request.app.state.login_guard
    return guard


def get_user_ip(request: Request) -> str:
    """The end user's IP: the peer's, or ``X-Forwarded-For``'s if the peer is a trusted proxy.

    The header is read from the right, skipping trusted proxies; see
    :func:`nxcloud_ota.contrib.web.client_ip`.
    """
    trusted: TrustedProxies = request.app.state.trusted_proxies
    peer = request.client.host if request.client is not None else None
    return client_ip(peer, request.headers.getlist("x-forwarded-for"), trusted)


GuardDep = Annotated[LoginGuard, Depends(get_guard)]
UserIpDep = Annotated[str, Depends(get_user_ip)]

router = APIRouter()


@router.post("/login/start")
async def start_login(body: StartLogin, guard: GuardDep, user_ip: UserIpDep) -> LoginStarted:
    """Start a login for the number the user typed (billed: one call, one login),
    within the budgets of the user's address and of the phone (else 429)."""
    started = await guard.start(phone=body.phone, user_ip=user_ip)
    log.info("login %s started for %s", started.request_id, mask_phone(body.phone))
    return LoginStarted(request_id=started.request_id, url=started.url)


@router.get("/login/{request_id}")
async def login_outcome(request_id: str, guard: GuardDep) -> LoginOutcome:
    """Report the status of a login this app started: a final one as it was
    confirmed, a pending one as ``verify`` says (asked once at a time)."""
    status = await guard.status(request_id)
    return LoginOutcome(request_id=request_id, status=status, final=status.is_final)


@router.post("/nxcloud/callback", response_class=PlainTextResponse, include_in_schema=False)
async def nxcloud_callback(request: Request, guard: GuardDep) -> PlainTextResponse:
    """Take the provider's status callback; only ``verify`` decides, and only
    for a login this app started."""
    reply = await guard.receive_callback(request.query_params)
    if reply.confirmed is VerifyStatus.SUCCESS:
        log.info("login %s confirmed: log the user in", reply.request_id)
    return PlainTextResponse(reply.text, status_code=reply.status, headers=reply.headers)


def create_app(
    *,
    client_factory: Callable[[], AsyncOtaClient] = AsyncOtaClient.from_env,
    trusted_proxies: TrustedProxies | None = None,
    policy: LoginPolicy | None = None,
    store: LoginStore | None = None,
    redis_url: str | None = None,
) -> FastAPI:
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The callback's query string holds the full phone number: keep it out of the log.
        logging.getLogger("uvicorn.access").addFilter(HIDE_QUERY_STRINGS)
        # One client per process: one connection pool and rate limit for every
        # request, behind one guard: budgets, started logins, one verify at a time.
        async with (
            client_factory() as client,
            open_login_guard(client, redis_url=redis_url, policy=policy, store=store) as guard,
        ):
            app.state.ota_client = client
            app.state.login_guard = guard
            yield
        # Leaving the block closed the client's and Redis's connections.

    app = FastAPI(title="NXCloud one-click login", lifespan=lifespan)
    app.state.trusted_proxies = trusted_proxies
    app.include_router(router)

    @app.exception_handler(NxCloudError)
    async def nxcloud_error(request: Request, exc: NxCloudError) -> JSONResponse:
        # 422 bad input (naming the field), 404 not ours, 429 over a budget
        # (with Retry-After), 502 provider error, 503 no answer.
        reply = error_reply(exc)
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The same 422 as InvalidInputError's, naming the field (or "body").
        error = exc.errors()[0]
        names = [part for part in error["loc"][1:] if isinstance(part, str)]
        field = names[0] if names else "body"
        body = {"error": "invalid_input", "field": field, "detail": f"{field}: {error['msg']}"}
        return JSONResponse(body, status_code=422)

    return app


app = create_app()
