"""The commands that talk to the API: ``init``, ``verify`` and ``bulk-init``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import IO, TextIO

import click
from rich.console import Console

from ._cli_bulk import RowSink, make_progress, run_bulk, summary_table
from ._cli_common import (
    credential_options,
    execute,
    fail_usage,
    get_state,
    print_json,
    resolve_credentials,
)
from ._cli_io import (
    InputFormat,
    count_records,
    decode_lines,
    detect_format,
    peek_first_line,
    read_records,
)
from ._cli_report import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    BulkSummary,
)
from ._errors import InvalidInputError, WaitTimeoutError
from ._models import InitRequest, VerifyResult
from ._validation import validate_token

__all__ = ["bulk_init_command", "init_command", "verify_command"]


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
        fail_usage(ctx, exc, secrets)

    async def work() -> int:
        async with state.client_factory(creds) as client:
            result = await client.init(phone=request.phone, user_ip=request.user_ip)
        if as_json:
            print_json({"request_id": result.request_id, "url": result.url})
        else:
            click.echo(f"request_id: {result.request_id}")
            click.echo(f"url: {result.url}")
        return EXIT_OK

    execute(ctx, work(), secrets)


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
        fail_usage(ctx, exc, secrets)

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

    execute(ctx, work(), secrets)


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
    else:
        with open(path, "rb") as stream:
            yield stream


@contextlib.contextmanager
def _open_output(path: str) -> Iterator[TextIO]:
    if path == "-":
        stream = sys.stdout
        try:
            yield stream
        finally:
            stream.flush()
    else:
        with open(path, "w", encoding="utf-8") as out:
            yield out


@click.command("bulk-init", short_help="Start a login per record of a CSV or JSONL file.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "jsonl"]),
    default="auto",
    show_default=True,
    help="Input format; auto: by extension, else by the first line.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="Where the JSON lines go (- for stdout).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Requests in flight at most.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress bar on stderr (only when stderr is a terminal).",
)
@credential_options
@click.pass_context
def bulk_init_command(
    ctx: click.Context,
    *,
    file: str,
    fmt: str,
    output: str,
    concurrency: int,
    progress: bool,
    access_key: str | None,
    access_secret: str | None,
    app_key: str | None,
    base_url: str | None,
) -> None:
    """Start a login for every record of FILE (CSV or JSON Lines; - for stdin).

    CSV: a header phone,user_ip, or two columns without a header. JSON Lines:
    {"phone": ..., "user_ip": ...} per line. One JSON line per record goes to
    the output; a summary goes to stderr. Exit 1 if any record failed.
    """
    state = get_state(ctx)
    creds = resolve_credentials(ctx, access_key, access_secret, app_key, base_url)
    secrets = (creds.access_secret,)
    try:
        creds.require()
    except InvalidInputError as exc:
        fail_usage(ctx, exc, secrets)
    console = Console(stderr=True)
    show = progress and console.is_terminal
    try:
        with _open_input(file) as raw, _open_output(output) as out:
            first, lines = peek_first_line(decode_lines(raw))
            chosen: InputFormat = detect_format(file, first) if fmt == "auto" else _fmt(fmt)
            total = _estimate(file, chosen) if show else None
            records = read_records(lines, chosen)
            summary = BulkSummary()
            bar = make_progress(console, enabled=show)

            async def work() -> int:
                started = state.clock()
                with bar:
                    task = bar.add_task("bulk-init", total=total, failed=0)
                    sink = RowSink(summary, out=out, progress=bar, task=task)
                    async with state.client_factory(creds) as client:
                        await run_bulk(client, records, concurrency=concurrency, emit=sink)
                elapsed = state.clock() - started
                console.print(summary_table(summary, elapsed, title="bulk-init summary"))
                return EXIT_OK if summary.failed_total == 0 else EXIT_ERROR

            execute(ctx, work(), secrets)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else file
        click.echo(f"error: {where}: {exc.strerror or exc}", err=True)
        ctx.exit(EXIT_USAGE)


def _fmt(name: str) -> InputFormat:
    return "jsonl" if name == "jsonl" else "csv"


def _estimate(path: str, fmt: InputFormat) -> int | None:
    """The progress bar's total: a quick streaming count of a regular file's records."""
    if path == "-":
        return None
    with open(path, "rb") as raw:
        return count_records(decode_lines(raw), fmt)
