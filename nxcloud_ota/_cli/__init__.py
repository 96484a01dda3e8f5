"""The ``nxcloud-ota`` command line: ``init``, ``verify``, ``bulk-init``,
``fake-server`` and ``demo``.

A thin click shell. The records and readers, the summary arithmetic, the exit
codes and the wording of errors live in ``_io``, ``_read`` and
``_report`` (pure); the async bulk pipeline and the rich output in
``_bulk``, its stopping rules in ``_control``, the output file's rules in
``_resume``; the commands in ``_api``, ``_bulk_init`` and
``_sim``. These modules are the only part of the package that imports click
and rich, and (through ``nxcloud_ota.testing``, only when a simulator command
runs) uvicorn.

Exit codes: 0 success, 1 an API or transport error (or a failed bulk item),
2 a usage error, including an invalid input value; ``bulk-init`` adds 3 (stopped
early), 130/143 (interrupted) and 141 (its stdout was closed).

Tests inject a client factory, a sleep and a clock by passing a
:class:`CliState` as click's ``obj``.
"""

from __future__ import annotations

import click

from .._version import __version__
from ._api import init_command, verify_command
from ._bulk_init import bulk_init_command
from ._common import (
    ClientFactory,
    CliState,
    Credentials,
    credential_options,
    default_client_factory,
    get_state,
)
from ._sim import demo_command, fake_server_command

__all__ = ["CliState", "ClientFactory", "Credentials", "default_client_factory", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@credential_options
@click.version_option(__version__, prog_name="nxcloud-ota")
@click.pass_context
def main(
    ctx: click.Context,
    access_key: str | None,
    access_secret: str | None,
    app_key: str | None,
    base_url: str | None,
) -> None:
    """Command-line client of NXCloud's OTA one-click-login API, and its simulator.

    Credentials come from the options (here or on a command) or from the
    NXCLOUD_* environment variables. Exit codes: 0 success, 1 API or transport
    error, 2 usage error or invalid input; bulk-init also 3 (stopped early),
    130/143 (interrupted) and 141 (stdout closed).
    """
    get_state(ctx).credentials = Credentials(access_key, access_secret, app_key, base_url)


for _command in (
    init_command,
    verify_command,
    bulk_init_command,
    fake_server_command,
    demo_command,
):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
