"""One-click login in a FastAPI backend: start a login, report its outcome, take the callback.

Run it from the repository's root (``pip install fastapi uvicorn`` first)::

    NXCLOUD_ACCESS_KEY=... NXCLOUD_ACCESS_SECRET=... NXCLOUD_APP_KEY=... \\
    TRUSTED_PROXIES=10.0.0.0/8 uvicorn examples.fastapi_app:app --no-proxy-headers

- ``POST /login/start`` with ``{"phone": "8615800001795"}`` starts a login and
  answers ``{"request_id": ..., "url": ...}``: hand ``url`` to the user's phone.
- ``GET /login/{request_id}`` answers ``{"request_id", "status", "final"}``.
- ``POST /nxcloud/callback`` is the URL to register in NXCloud's console for the
  status callback; every callback is confirmed with ``verify`` before it counts.

One :class:`AsyncOtaClient` serves the whole process: the lifespan creates it and
closes it on shutdown, and the :func:`get_client` dependency hands it to handlers.
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
    TrustedProxies,
    client_ip,
    error_reply,
    receive_callback,
)

log = logging.getLogger("examples.fastapi_app")

Outcomes = dict[str, VerifyStatus]
"""``request_id`` -> final status, as ``verify`` confirmed it. A real app uses its database."""


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


def get_client(request: Request) -> AsyncOtaClient:
    """The process's client, created by the lifespan."""
    client: AsyncOtaClient = request.app.state.ota_client
    return client


def get_outcomes(request: Request) -> Outcomes:
    """The confirmed outcomes."""
    outcomes: Outcomes = request.app.state.outcomes
    return outcomes


def get_user_ip(request: Request) -> str:
    """The end user's IP: the peer's, or ``X-Forwarded-For``'s if the peer is a trusted proxy.

    The header is read from the right, skipping trusted proxies; see
    :func:`nxcloud_ota.contrib.web.client_ip`.
    """
    trusted: TrustedProxies = request.app.state.trusted_proxies
    peer = request.client.host if request.client is not None else None
    return client_ip(peer, request.headers.getlist("x-forwarded-for"), trusted)


ClientDep = Annotated[AsyncOtaClient, Depends(get_client)]
OutcomesDep = Annotated[Outcomes, Depends(get_outcomes)]
UserIpDep = Annotated[str, Depends(get_user_ip)]

router = APIRouter()


@router.post("/login/start")
async def start_login(body: StartLogin, client: ClientDep, user_ip: UserIpDep) -> LoginStarted:
    """Start a login for the number the user typed (billed: one call, one login)."""
    started = await client.init(phone=body.phone, user_ip=user_ip)
    log.info("login %s started for %s", started.request_id, mask_phone(body.phone))
    return LoginStarted(request_id=started.request_id, url=started.url)


@router.get("/login/{request_id}")
async def login_outcome(request_id: str, client: ClientDep, outcomes: OutcomesDep) -> LoginOutcome:
    """Report a login's status: a recorded final outcome, else what ``verify`` says now."""
    status = outcomes.get(request_id)
    if status is None:
        status = (await client.verify(request_id)).status
        if status.is_final:  # a final status never changes: keep it
            outcomes[request_id] = status
    return LoginOutcome(request_id=request_id, status=status, final=status.is_final)


@router.post("/nxcloud/callback", response_class=PlainTextResponse, include_in_schema=False)
async def nxcloud_callback(
    request: Request, client: ClientDep, outcomes: OutcomesDep
) -> PlainTextResponse:
    """Take the provider's status callback; record only what ``verify`` confirms."""
    reply = await receive_callback(client, request.query_params)
    if reply.request_id is not None and reply.confirmed is not None:
        outcomes[reply.request_id] = reply.confirmed
    return PlainTextResponse(reply.text, status_code=reply.status)


def create_app(
    *,
    client_factory: Callable[[], AsyncOtaClient] = AsyncOtaClient.from_env,
    trusted_proxies: TrustedProxies | None = None,
    outcomes: Outcomes | None = None,
) -> FastAPI:
    """Build the app.

    ``client_factory`` makes the client at startup (by default from the
    ``NXCLOUD_*`` variables); ``trusted_proxies`` defaults to the comma-separated
    ``TRUSTED_PROXIES`` variable (unset: trust no proxy); ``outcomes`` is the
    store of confirmed outcomes, also reachable as ``app.state.outcomes``.
    """
    if trusted_proxies is None:
        trusted_proxies = TrustedProxies.parse(os.environ.get("TRUSTED_PROXIES", ""))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The callback's query string holds the full phone number: keep it out of the log.
        logging.getLogger("uvicorn.access").addFilter(HIDE_QUERY_STRINGS)
        # One client per process: one connection pool and rate limit for every request.
        async with client_factory() as client:
            app.state.ota_client = client
            yield
        # Leaving the block closed the client's connections.

    app = FastAPI(title="NXCloud one-click login", lifespan=lifespan)
    app.state.trusted_proxies = trusted_proxies
    app.state.outcomes = {} if outcomes is None else outcomes
    app.include_router(router)

    @app.exception_handler(NxCloudError)
    async def nxcloud_error(request: Request, exc: NxCloudError) -> JSONResponse:
        # 422 bad input (naming the field), 502 provider error, 503 no answer.
        reply = error_reply(exc)
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(reply.body, status_code=reply.status)

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
