"""The async work behind ``bulk-init`` and ``demo``: feeding ``init_many`` lazily,
writing one JSON line per outcome, stopping cleanly, the progress bar and the summary.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .._client import AsyncOtaClient
from .._errors import RequestMaybeSentError
from .._models import InitRequest
from ._control import BulkControl
from ._io import InputRecord, invalid_row, outcome_row, parse_pair
from ._report import BulkSummary

__all__ = [
    "RowSink",
    "cut_row",
    "demo_records",
    "make_progress",
    "reconcile_lines",
    "run_bulk",
    "summary_table",
]

Row = Mapping[str, object]


def make_progress(console: Console, *, enabled: bool) -> Progress:
    """A progress bar on ``console``; a silent no-op when ``enabled`` is false."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
    )


class RowSink:
    """Takes each output row: writes it as one JSON line (if ``out`` is given) and
    flushes it, counts it in ``summary`` and advances the progress bar.

    When the reader of ``out`` has gone (a closed pipe), the sink stops writing,
    sets ``closed`` and calls ``on_closed`` once.
    """

    def __init__(
        self,
        summary: BulkSummary,
        *,
        out: TextIO | None = None,
        progress: Progress | None = None,
        task: TaskID | None = None,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self.summary = summary
        self.out = out
        self.progress = progress
        self.task = task
        self.on_closed = on_closed
        self.closed = False

    def __call__(self, row: Row) -> None:
        """Handle one row."""
        if self.out is not None and not self.closed:
            try:
                # One write of a whole line, then flush: a crash leaves only whole lines.
                self.out.write(json.dumps(row, ensure_ascii=False) + "\n")
                self.out.flush()
            except BrokenPipeError:
                self.closed = True
                if self.on_closed is not None:
                    self.on_closed()
        self.summary.add(row)
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1, failed=self.summary.failed_total)


async def run_bulk(
    client: AsyncOtaClient,
    records: Iterable[InputRecord],
    *,
    concurrency: int,
    emit: Callable[[Row], None],
    control: BulkControl | None = None,
    skip: Callable[[InputRecord], bool] | None = None,
    count_rest: bool = True,
) -> int | None:
    """Send every valid record through ``client.init_many`` and ``emit`` one row per record.

    Records are pulled from ``records`` only as ``init_many`` asks for them, so at
    most about ``concurrency`` of them are held at a time. A record that failed
    validation is emitted at once as a failed row and never sent; one for which
    ``skip`` is true is passed over silently.

    The first records go one at a time, until one is answered on its merits (see
    ``BulkControl.opened``). Once ``control`` stops the run, no further record is
    sent; the calls in flight end on their own, or are cancelled when its grace
    period runs out, and then each gets a row saying that a login may have started.
    Returns how many records were not attempted (``None`` when ``count_rest`` is
    false: the rest is unread).
    """
    control = control if control is not None else BulkControl()
    source = iter(records)
    held: list[InputRecord] = []  # read, but left for the next phase or never sent
    # Each init_many call numbers the items it receives; map them back to records.
    phases: list[dict[int, InputRecord]] = []

    def feed(waiting: dict[int, InputRecord], probing: bool) -> Iterator[InitRequest]:
        position = 0
        for record in itertools.chain(_drain(held), source):
            if skip is not None and skip(record):
                continue
            if control.stopping or (probing and control.opened):
                held.append(record)
                return
            if record.request is None:
                emit(invalid_row(record))
                continue
            waiting[position] = record
            position += 1
            yield record.request

    async def consume() -> None:
        # One record at a time until the provider takes one on its merits, so that
        # a wrong URL or key costs --fail-fast records, not --concurrency of them.
        for probing in (True, False):
            if control.stopping:
                return
            waiting: dict[int, InputRecord] = {}
            phases.append(waiting)
            outcomes = client.init_many(
                feed(waiting, probing), concurrency=1 if probing else concurrency
            )
            async with contextlib.aclosing(outcomes):
                async for outcome in outcomes:
                    record = waiting.pop(outcome.index)
                    result = outcome.result
                    emit(
                        outcome_row(
                            record,
                            request_id=result.request_id if result is not None else None,
                            url=result.url if result is not None else None,
                            error=outcome.error,
                            attempts=outcome.attempts,
                            elapsed=outcome.elapsed,
                        )
                    )
                    control.observe(outcome.error)

    await control.run(consume())
    cut = [record for waiting in phases for record in waiting.values()]
    for record in sorted(cut, key=lambda r: r.index):
        emit(cut_row(record))
    if not count_rest:
        return None
    rest = itertools.chain(held, source)
    return sum(1 for record in rest if skip is None or not skip(record))


def _drain(held: list[InputRecord]) -> Iterator[InputRecord]:
    while held:
        yield held.pop()


def cut_row(record: InputRecord) -> dict[str, object]:
    """The row of a record whose call was cancelled in flight: a login may have started."""
    error = RequestMaybeSentError(
        "cancelled in flight when the run was stopped: a login may have started",
        action="init",
    )
    return outcome_row(record, request_id=None, url=None, error=error, attempts=None, elapsed=None)


def reconcile_lines(found: Sequence[tuple[object, str]], limit: int = 20) -> list[str]:
    """The lines that list the records whose login may have started, given as
    (line, masked phone), for reconciliation."""
    if not found:
        return []
    out = [
        f"{len(found)} record(s) may have started a login; they are never re-sent "
        "automatically: check them (error_class RequestMaybeSentError in the output)"
    ]
    out.extend(f"  line {line}: {phone}" for line, phone in found[:limit])
    if len(found) > limit:
        out.append(f"  ... and {len(found) - limit} more")
    return out


def demo_records(count: int) -> Iterator[InputRecord]:
    """``count`` distinct, valid demo records (China mobile numbers, documentation IPs)."""
    for index in range(count):
        phone = f"86139{index:08d}"
        user_ip = f"203.0.113.{index % 254 + 1}"
        yield parse_pair(index, index + 1, phone, user_ip)


def summary_table(summary: BulkSummary, elapsed: float, *, title: str) -> Table:
    """The end-of-run summary as a two-column rich table."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    for label, value in summary.lines(elapsed):
        table.add_row(label, value)
    return table
