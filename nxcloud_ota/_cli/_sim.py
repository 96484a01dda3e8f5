"""The commands that run the simulator: ``fake-server`` and ``demo``.

``nxcloud_ota.testing`` (and with it uvicorn) is imported only when one of them runs.
"""

from __future__ import annotations

import asyncio

import click
import httpx
from rich.console import Console

from .._models import VerifyStatus
from .._validation import is_loopback_host
from ._bulk import RowSink, demo_records, make_progress, run_bulk, summary_table
from ._common import Credentials, execute, get_state
from ._report import EXIT_ERROR, EXIT_OK, BulkSummary

__all__ = [
    "DEMO_PHONE",
    "DEMO_USER_IP",
    "banner_lines",
    "demo_command",
    "fake_server_command",
]

DEMO_PHONE = "8615800001795"
DEMO_USER_IP = "203.0.113.7"


@click.command("fake-server", short_help="Run the NXCloud simulator over HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--access-key", default=None, help="Access key it accepts [default: fake-access-key]."
)
@click.option(
    "--access-secret",
    default=None,
    show_default=False,
    help="Access secret it accepts (never printed) [default: the simulator's].",
)
@click.option("--app-key", default=None, help="App key it knows [default: fake-app-key].")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Rate limit over all calls, per second (over it: 2206).",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Probability that a call answers 99.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Delay before each answer.",
)
@click.option(
    "--clock-offset-ms",
    type=int,
    default=0,
    show_default=True,
    help="Skew of the simulator's clock (over 60000: 1004).",
)
@click.option(
    "--balance",
    type=click.IntRange(min=0),
    default=None,
    help="Logins the account can pay for [default: unlimited] (then: 9908).",
)
@click.option(
    "--fail-next",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Answer the first N calls with --fail-code, whatever they hold.",
)
@click.option(
    "--fail-code",
    type=int,
    default=99,
    show_default=True,
    help="The code --fail-next answers (e.g. 2206, 9908, 88).",
)
@click.option(
    "--drop-next",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Give no answer at all to the first N calls (the connection drops).",
)
@click.option(
    "--auto-open",
    type=click.FloatRange(min=0),
    default=None,
    help="Phones open their login url by themselves this many seconds after init.",
)
@click.pass_context
def fake_server_command(
    ctx: click.Context,
    *,
    host: str,
    port: int,
    access_key: str | None,
    access_secret: str | None,
    app_key: str | None,
    rate: float | None,
    fail_rate: float,
    latency_ms: float,
    clock_offset_ms: int,
    balance: int | None,
    fail_next: int,
    fail_code: int,
    drop_next: int,
    auto_open: float | None,
) -> None:
    """Run the NXCloud simulator over HTTP (for local development; never exposed)."""
    from .. import testing  # noqa: PLC0415 - uvicorn is needed only by this command

    fake = testing.FakeNxCloud(
        access_key=access_key or testing.FAKE_ACCESS_KEY,
        access_secret=access_secret or testing.FAKE_ACCESS_SECRET,
        app_key=app_key or testing.FAKE_APP_KEY,
        balance=balance,
        rate=rate,
        fail_rate=fail_rate,
        latency=latency_ms / 1000.0,
        clock_offset_ms=clock_offset_ms,
        auto_open=auto_open,
    )
    fake.fail_next(fail_next, fail_code)
    fake.drop_next(drop_next)
    if not is_loopback_host(host):
        click.echo(
            "warning: listening beyond loopback; the simulator accepts its known credentials",
            err=True,
        )

    async def serve_until_interrupted() -> None:
        async with testing.serve(fake, host=host, port=port) as base_url:
            for line in banner_lines(
                base_url,
                access_key=fake.access_key,
                app_key=fake.app_key,
                default_secret=access_secret is None,
            ):
                click.echo(line)
            await asyncio.Event().wait()  # until Ctrl-C

    try:
        asyncio.run(serve_until_interrupted())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port} ({exc}); is the port free?", err=True)
        ctx.exit(EXIT_ERROR)
    except ImportError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(EXIT_ERROR)


def banner_lines(
    base_url: str, *, access_key: str, app_key: str, default_secret: bool
) -> list[str]:
    """What ``fake-server`` prints once it listens: where, and the variables to export.

    The default secret is the simulator's public test constant, so it is shown; a
    secret given with ``--access-secret`` is never printed.
    """
    from ..testing import FAKE_ACCESS_SECRET  # noqa: PLC0415 - light, and only here

    secret = FAKE_ACCESS_SECRET if default_secret else "...  # the one given with --access-secret"
    return [
        f"NXCloud simulator on {base_url}",
        f"access key: {access_key}",
        f"app key: {app_key}",
        "to use it from another shell:",
        f"  export NXCLOUD_BASE_URL={base_url}",
        f"  export NXCLOUD_ACCESS_KEY={access_key}",
        f"  export NXCLOUD_APP_KEY={app_key}",
        f"  export NXCLOUD_ACCESS_SECRET={secret}",
    ]


@click.command("demo", short_help="The whole flow against a local simulator.")
@click.option(
    "--count",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Initiations in the bulk part.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Requests in flight at most in the bulk part.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress bar on stderr (only when stderr is a terminal).",
)
@click.pass_context
def demo_command(ctx: click.Context, count: int, concurrency: int, progress: bool) -> None:
    """Walk through the whole flow against a local simulator: no credentials, no network.

    init, open the url as the phone would, verify, then COUNT initiations in bulk.
    """
    from .. import testing  # noqa: PLC0415 - uvicorn is needed only by this command

    state = get_state(ctx)
    out = Console()
    err = Console(stderr=True)

    async def work() -> int:
        fake = testing.FakeNxCloud()
        async with testing.serve(fake, host="127.0.0.1", port=0) as base_url:
            click.echo(f"simulator listening on {base_url}")
            creds = Credentials(
                testing.FAKE_ACCESS_KEY, testing.FAKE_ACCESS_SECRET, testing.FAKE_APP_KEY, base_url
            )
            async with state.client_factory(creds) as client:
                started = await client.init(phone=DEMO_PHONE, user_ip=DEMO_USER_IP)
                click.echo(f"init: request_id={started.request_id} url={started.url}")
                try:
                    async with httpx.AsyncClient(timeout=10.0) as phone:
                        opened = await phone.get(started.url)
                except httpx.HTTPError as exc:
                    click.echo(f"error: opening the url failed: {exc!r}", err=True)
                    return EXIT_ERROR
                click.echo(f"phone opened the url: HTTP {opened.status_code}")
                if opened.is_error:
                    click.echo(
                        f"error: opening the url answered HTTP {opened.status_code}", err=True
                    )
                    return EXIT_ERROR
                checked = await client.verify(started.request_id)
                click.echo(f"verify: {checked.status.value}")

                summary = BulkSummary()
                bar = make_progress(err, enabled=progress and err.is_terminal)
                clock_started = state.clock()
                with bar:
                    task = bar.add_task("demo bulk", total=count, failed=0)
                    sink = RowSink(summary, progress=bar, task=task)
                    await run_bulk(client, demo_records(count), concurrency=concurrency, emit=sink)
                elapsed = state.clock() - clock_started
        out.print(summary_table(summary, elapsed, title=f"demo: {count} initiations"))
        ok = checked.status is VerifyStatus.SUCCESS and summary.failed_total == 0
        return EXIT_OK if ok else EXIT_ERROR

    execute(ctx, work(), ())
