"""The ``bulk-init`` command: one billed login per input record, and a faithful record
of each in the output.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, Literal, TextIO

import click
from rich.console import Console

from .._errors import InvalidInputError
from ._bulk import RowSink, make_progress, reconcile_lines, run_bulk, summary_table
from ._common import credential_options, execute, fail_usage, get_state, resolve_credentials
from ._control import DEFAULT_FAIL_FAST, DEFAULT_GRACE, BulkControl
from ._io import InputFormat, InputRecord, decode_lines, detect_format, peek_first_line
from ._read import count_records, read_records
from ._report import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_SIGNAL,
    EXIT_STOPPED,
    EXIT_USAGE,
    BulkSummary,
    error_line,
)
from ._resume import Recorded, output_mode, read_recorded

__all__ = ["bulk_init_command"]


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
    else:
        with open(path, "rb") as stream:
            yield stream


@contextlib.contextmanager
def _open_output(path: str, mode: Literal["a", "w", "x"] | None) -> Iterator[TextIO]:
    if mode is None:
        yield sys.stdout
    else:
        with open(path, mode, encoding="utf-8") as out:
            if mode == "a" and out.tell() > 0 and not _ends_with_newline(path):
                out.write("\n")  # never glue a line to a partial one left by a crash
            yield out


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as raw:
        raw.seek(-1, os.SEEK_END)
        return raw.read(1) == b"\n"


def _silence_stdout() -> None:  # pragma: no cover - needs a real pipe: a subprocess test
    """Point a closed stdout at /dev/null, so the interpreter's last flush is quiet."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


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
    help="Where the JSON lines go (- for stdout). An existing file is never truncated.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run recorded in --output: skip the records it has a line for.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Requests in flight at most.",
)
@click.option(
    "--fail-fast",
    type=click.IntRange(min=0),
    default=DEFAULT_FAIL_FAST,
    show_default=True,
    help="Stop after this many failures in a row that no record can fix "
    "(unreachable provider, refused credentials, app or balance); 0: never.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=DEFAULT_GRACE,
    show_default=True,
    help="After a stop, seconds the calls in flight get to end before they are cancelled.",
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
    resume: bool,
    overwrite: bool,
    concurrency: int,
    fail_fast: int,
    grace: float,
    progress: bool,
    access_key: str | None,
    access_secret: str | None,
    app_key: str | None,
    base_url: str | None,
) -> None:
    """Start a login for every record of FILE (CSV or JSON Lines; - for stdin).

    CSV: a header naming the phone and IP columns, or two columns phone,user_ip.
    JSON Lines: {"phone": ..., "user_ip": ...} per line. One JSON line per record
    goes to the output; a summary goes to stderr. Exit 0: all succeeded; 1: some
    failed; 2: usage; 3: stopped early; 130/143: interrupted; 141: stdout closed.
    """
    state = get_state(ctx)
    creds = resolve_credentials(ctx, access_key, access_secret, app_key, base_url)
    secrets = (creds.access_secret,)
    try:
        creds.require()
        mode = output_mode(file, output, resume=resume, overwrite=overwrite)
    except InvalidInputError as exc:
        fail_usage(ctx, exc, secrets)
    console = Console(stderr=True)
    show = progress and console.is_terminal
    try:
        recorded = _recorded(output) if mode == "a" else Recorded()
        with _open_input(file) as raw, _open_output(output, mode) as out:
            first, lines = peek_first_line(decode_lines(raw))
            chosen: InputFormat = detect_format(file, first) if fmt == "auto" else _fmt(fmt)
            total = _estimate(file, chosen) if show else None
            records = read_records(lines, chosen)
            summary = BulkSummary()
            control = BulkControl(fail_fast_after=fail_fast, grace=grace)
            bar = make_progress(console, enabled=show)

            def skip(record: InputRecord) -> bool:
                if recorded.has(record):
                    summary.already_recorded += 1
                    return True
                return False

            async def work() -> int:
                started = state.clock()
                with bar, control.signals():
                    task = bar.add_task("bulk-init", total=total, failed=0)
                    sink = RowSink(
                        summary,
                        out=out,
                        progress=bar,
                        task=task,
                        on_closed=lambda: control.stop("closed", grace=0.0),
                    )
                    async with state.client_factory(creds) as client:
                        summary.not_attempted = await run_bulk(
                            client,
                            records,
                            concurrency=concurrency,
                            emit=sink,
                            control=control,
                            skip=skip if recorded.keys else None,
                            count_rest=file != "-",
                        )
                if sink.closed:  # pragma: no cover - needs a real pipe: a subprocess test
                    _silence_stdout()
                    return EXIT_PIPE
                elapsed = state.clock() - started
                console.print(summary_table(summary, elapsed, title="bulk-init summary"))
                found = [*recorded.maybe_started, *summary.maybe_started]
                for text in reconcile_lines(found):
                    click.echo(text, err=True)
                return _finish(control, summary, recorded, output, secrets)

            execute(ctx, work(), secrets)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else file
        click.echo(f"error: {where}: {exc.strerror or exc}", err=True)
        ctx.exit(EXIT_USAGE)


def _finish(
    control: BulkControl,
    summary: BulkSummary,
    recorded: Recorded,
    output: str,
    secrets: tuple[str | None, ...],
) -> int:
    """Say why the run ended early, if it did, and choose the exit code."""
    rest = "the rest" if summary.not_attempted is None else f"{summary.not_attempted} record(s)"
    where = "FILE (the file these lines went to)" if output == "-" else output
    again = f"run again with --resume --output {where}"
    if recorded.unreadable:
        click.echo(
            f"warning: {recorded.unreadable} line(s) of {output} are not result lines", err=True
        )
    if control.signal is not None:
        click.echo(f"interrupted: {rest} not attempted; {again}", err=True)
        return EXIT_SIGNAL + control.signal
    if control.reason == "fail-fast" and control.last_error is not None:
        click.echo(
            f"{error_line(control.last_error, secrets)}\n"
            f"stopped after {control.fail_fast_after} failures in a row that no record can fix: "
            f"{rest} not attempted; fix the cause, then {again}",
            err=True,
        )
        return EXIT_STOPPED
    return EXIT_OK if summary.failed_total == 0 else EXIT_ERROR


def _recorded(output: str) -> Recorded:
    with open(output, encoding="utf-8", errors="replace") as previous:
        return read_recorded(previous)


def _fmt(name: str) -> InputFormat:
    return "jsonl" if name == "jsonl" else "csv"


def _estimate(path: str, fmt: InputFormat) -> int | None:
    """The progress bar's total: a quick streaming count of a regular file's records."""
    if path == "-":
        return None
    with open(path, "rb") as raw:
        return count_records(decode_lines(raw), fmt)
