"""What the ``nxcloud-ota`` commands share: credentials, the injectable state, and
running a coroutine with expected errors turned into one line and an exit code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import NoReturn, TypeVar

import attrs
import click
from click.core import ParameterSource

from .._client import DEFAULT_BASE_URL, AsyncOtaClient
from .._errors import InvalidInputError, NxCloudError
from ._report import (
    EXIT_ERROR,
    EXIT_USAGE,
    error_line,
    error_payload,
    exit_code_for,
    redact,
)

__all__ = [
    "CliState",
    "ClientFactory",
    "Credentials",
    "credential_options",
    "default_client_factory",
    "execute",
    "fail_usage",
    "get_state",
    "print_json",
    "report_error",
    "resolve_credentials",
]

F = TypeVar("F", bound=Callable[..., object])


@attrs.frozen
class Credentials:
    """What the client needs, as given on the command line or in the environment."""

    access_key: str | None = None
    access_secret: str | None = attrs.field(default=None, repr=False)
    app_key: str | None = None
    base_url: str | None = None

    def require(self) -> Credentials:
        """Return self if the three keys are set; else one :class:`InvalidInputError`
        naming every missing one."""
        missing = [f for f in ("access_key", "access_secret", "app_key") if not getattr(self, f)]
        if len(missing) == 1:
            raise InvalidInputError(missing[0], "is missing")
        if missing:
            raise InvalidInputError("credentials", "missing " + ", ".join(missing))
        return self


ClientFactory = Callable[[Credentials], AsyncOtaClient]
"""Builds the client a command uses; tests inject one (``CliState.client_factory``)."""


def default_client_factory(credentials: Credentials) -> AsyncOtaClient:
    """Build an :class:`AsyncOtaClient` from complete credentials."""
    creds = credentials.require()
    return AsyncOtaClient(
        access_key=creds.access_key or "",
        access_secret=creds.access_secret or "",
        app_key=creds.app_key or "",
        base_url=creds.base_url or DEFAULT_BASE_URL,
    )


@attrs.define
class CliState:
    """The click context object: injectable client factory and clock."""

    client_factory: ClientFactory = default_client_factory
    clock: Callable[[], float] = time.monotonic
    credentials: Credentials = attrs.field(factory=Credentials, repr=False)


_CREDENTIALS = (
    ("access_key", "NXCLOUD_ACCESS_KEY", "KEY", "Access key from the NXCloud console."),
    ("access_secret", "NXCLOUD_ACCESS_SECRET", "SECRET", "Access secret (never printed)."),
    ("app_key", "NXCLOUD_APP_KEY", "APPKEY", "The OTA application's key."),
    ("base_url", "NXCLOUD_BASE_URL", "URL", "API base URL [default: https://api2.nxcloud.com]."),
)


def credential_options(func: F) -> F:
    """Add ``--access-key``, ``--access-secret``, ``--app-key`` and ``--base-url``."""
    for name, envvar, metavar, help_text in reversed(_CREDENTIALS):
        func = click.option(
            "--" + name.replace("_", "-"),
            name,
            envvar=envvar,
            show_envvar=True,
            show_default=False,
            default=None,
            metavar=metavar,
            help=help_text,
        )(func)
    return func


def resolve_credentials(
    ctx: click.Context,
    access_key: str | None,
    access_secret: str | None,
    app_key: str | None,
    base_url: str | None,
) -> Credentials:
    """A command's flag wins, then the group's (flag or environment), then the environment."""
    given = {
        "access_key": access_key,
        "access_secret": access_secret,
        "app_key": app_key,
        "base_url": base_url,
    }
    group = get_state(ctx).credentials
    chosen: dict[str, str | None] = {}
    for name, value in given.items():
        group_value: str | None = getattr(group, name)
        from_command_line = ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
        chosen[name] = value if from_command_line or group_value is None else group_value
    return Credentials(**chosen)


def get_state(ctx: click.Context) -> CliState:
    """The :class:`CliState` of this invocation (the one passed as ``obj``, or a default)."""
    return ctx.ensure_object(CliState)


def report_error(error: NxCloudError, secrets: tuple[str | None, ...], *, as_json: bool) -> None:
    """Print an expected error on stderr: one line of text, or one JSON object."""
    if as_json:
        click.echo(json.dumps(error_payload(error, secrets), ensure_ascii=False), err=True)
    else:
        click.echo(error_line(error, secrets), err=True)


def execute(
    ctx: click.Context,
    work: Coroutine[object, object, int],
    secrets: tuple[str | None, ...],
    *,
    as_json: bool = False,
) -> None:
    """Run ``work`` in a fresh event loop; turn expected errors into one line and a code."""
    try:
        code = asyncio.run(work)
    except NxCloudError as exc:
        report_error(exc, secrets, as_json=as_json)
        code = exit_code_for(exc)
    except OSError as exc:
        # A port that cannot be bound, an output that cannot be written.
        click.echo("error: " + redact(str(exc), secrets), err=True)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        code = 130
    ctx.exit(code)


def fail_usage(
    ctx: click.Context,
    error: InvalidInputError,
    secrets: tuple[str | None, ...],
    *,
    as_json: bool = False,
) -> NoReturn:
    """Print the one-line message of a bad argument and exit 2."""
    report_error(error, secrets, as_json=as_json)
    ctx.exit(EXIT_USAGE)


def print_json(payload: dict[str, object]) -> None:
    """Print ``payload`` as one line of JSON on stdout."""
    click.echo(json.dumps(payload, ensure_ascii=False))
