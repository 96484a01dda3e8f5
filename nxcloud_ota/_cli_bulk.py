"""The async work behind ``bulk-init`` and ``demo``: feeding ``init_many`` lazily,
writing one JSON line per outcome, the rich progress bar and the summary table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
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

from ._cli_io import InputRecord, invalid_row, outcome_row, parse_pair
from ._cli_report import BulkSummary
from ._client import AsyncOtaClient
from ._models import InitRequest

__all__ = ["RowSink", "demo_records", "make_progress", "run_bulk", "summary_table"]

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
    """Takes each output row: writes it as a JSON line (if ``out`` is given), counts
    it in ``summary`` and advances the progress bar.
    """

    def __init__(
        self,
        summary: BulkSummary,
        *,
        out: TextIO | None = None,
        progress: Progress | None = None,
        task: TaskID | None = None,
    ) -> None:
        self.summary = summary
        self.out = out
        self.progress = progress
        self.task = task

    def __call__(self, row: Row) -> None:
        """Handle one row."""
        if self.out is not None:
            self.out.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.summary.add(row)
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1, failed=self.summary.failed_total)


async def run_bulk(
    client: AsyncOtaClient,
    records: Iterable[InputRecord],
    *,
    concurrency: int,
    emit: Callable[[Row], None],
) -> None:
    """Send every valid record through ``client.init_many`` and ``emit`` one row per record.

    Records are pulled from ``records`` only as ``init_many`` asks for them, so at
    most about ``concurrency`` of them are held at a time. A record that failed
    validation is emitted at once as a failed row and never sent.
    """
    # init_many numbers the items it receives; map that position back to the record.
    waiting: dict[int, InputRecord] = {}

    def feed() -> Iterator[InitRequest]:
        position = 0
        for record in records:
            if record.request is None:
                emit(invalid_row(record))
                continue
            waiting[position] = record
            position += 1
            yield record.request

    async for outcome in client.init_many(feed(), concurrency=concurrency):
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
