"""The commands that talk to the API one call at a time: ``init`` and ``verify``."""

from __future__ import annotations

import click

from .._errors import InvalidInputError, WaitTimeoutError
from .._models import InitRequest, VerifyResult
from .._validation import validate_token
from ._common import (
    credential_options,
    execute,
    fail_usage,
    get_state,
    print_json,
    resolve_credentials,
)
from ._report import EXIT_OK

__all__ = ["init_command", "verify_command"]


@click.command("init", short_help="Start a login; print its request id and url.")
@click.option("--phone", required=True, help="Country code and number, e.g. 8615800001795.")
@click.option("--user-ip", required=True, help="Public IP of the end user's phone.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@credential_options
@click.pass_context
def init_command(
    ctx: click.Context,
    *,
    phone: str,
    user_ip: str,
    as_json: bool,
    access_key: str | None,
    access_secret: str | None,
    app_key: str | None,
    base_url: str | None,
) -> None:
    """Start a login: print the request id and the url to open on the phone."""
    state = get_state(ctx)
    creds = resolve_credentials(ctx, access_key, access_secret, app_key, base_url)
    secrets = (creds.access_secret,)
    try:
        request = InitRequest(phone=phone, user_ip=user_ip)
        creds.require()
    except InvalidInputError as exc:
        fail_usage(ctx, exc, secrets, as_json=as_json)

    async def work() -> int:
        async with state.client_factory(creds) as client:
            result = await client.init(phone=request.phone, user_ip=request.user_ip)
        if as_json:
            print_json({"request_id": result.request_id, "url": result.url})
        else:
            click.echo(f"request_id: {result.request_id}")
            click.echo(f"url: {result.url}")
        return EXIT_OK

    execute(ctx, work(), secrets, as_json=as_json)


def _echo_verify(result: VerifyResult, as_json: bool) -> None:
    if as_json:
        print_json({"request_id": result.request_id, "status": result.status.value})
    else:
        click.echo(f"request_id: {result.request_id}")
        click.echo(f"status: {result.status.value}")


@click.command("verify", short_help="Print the status of a login (optionally wait).")
@click.argument("request_id")
@click.option("--wait", is_flag=True, help="Poll (0.5 s doubling to 5 s) until not PENDING.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="With --wait: give up after this many seconds (exit 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@credential_options
@click.pass_context
def verify_command(
    ctx: click.Context,
    *,
    request_id: str,
    wait: bool,
    timeout: float,
    as_json: bool,
    access_key: str | None,
    access_secret: str | None,
    app_key: str | None,
    base_url: str | None,
) -> None:
    """Print the status of a login: SUCCESS, PENDING, MISMATCH, FAILURE or UNKNOWN."""
    state = get_state(ctx)
    creds = resolve_credentials(ctx, access_key, access_secret, app_key, base_url)
    secrets = (creds.access_secret,)
    try:
        validate_token(request_id, "request_id")
        creds.require()
    except InvalidInputError as exc:
        fail_usage(ctx, exc, secrets, as_json=as_json)

    async def work() -> int:
        async with state.client_factory(creds) as client:
            if not wait:
                result = await client.verify(request_id)
            else:
                try:
                    result = await client.wait(request_id, timeout=timeout)
                except WaitTimeoutError as exc:
                    _echo_verify(exc.last, as_json)
                    raise
        _echo_verify(result, as_json)
        return EXIT_OK

    execute(ctx, work(), secrets, as_json=as_json)
