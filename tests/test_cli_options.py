"""The CLI's options, error reports, bulk stopping rules and resume bookkeeping."""

from __future__ import annotations

import asyncio
import io
import json
import signal

import click
import pytest
from _servers import free_port_refusing
from test_cli import CREDS, IP, PHONE, invoke

from nxcloud_ota import ApiError, ConnectionFailedError, RateLimitedError
from nxcloud_ota._cli import main
from nxcloud_ota._cli._bulk import RowSink
from nxcloud_ota._cli._control import BulkControl, stops_the_run
from nxcloud_ota._cli._io import parse_pair
from nxcloud_ota._cli._report import BulkSummary
from nxcloud_ota._cli._resume import read_recorded


@pytest.fixture(autouse=True)
def _no_nxcloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own NXCLOUD_* variables must not leak into the tests."""
    for name in ("ACCESS_KEY", "ACCESS_SECRET", "APP_KEY", "BASE_URL"):
        monkeypatch.delenv(f"NXCLOUD_{name}", raising=False)


def test_every_option_of_every_command_has_help_text() -> None:
    """No option of nxcloud-ota or of any of its commands lacks a help text."""
    commands: list[click.Command] = [main, *main.commands.values()]
    bare = [
        f"{command.name} {param.opts[0]}"
        for command in commands
        for param in command.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert bare == []
    assert len(commands) == 6


def test_all_missing_credentials_are_named_in_one_message() -> None:
    """With no credential set, one line names the access key, the secret and the app key."""
    result = invoke(["init", "--phone", PHONE, "--user-ip", IP])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    for name in ("access_key", "access_secret", "app_key"):
        assert name in line
    assert "NXCLOUD_" in line


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["init", "--phone", "12", "--user-ip", IP, "--json"], "phone"),
        (["verify", "bad\x01id", "--json"], "request_id"),
        (["init", "--phone", PHONE, "--user-ip", IP, "--json"], "credentials"),
    ],
)
def test_json_prints_errors_as_json_on_stderr(args: list[str], field: str) -> None:
    """With --json an expected error is one JSON object on stderr, naming class and field."""
    result = invoke([*CREDS, *args] if field != "credentials" else args)
    assert result.exit_code == 2
    payload = json.loads(result.stderr)
    assert payload["error"]["class"] == "InvalidInputError"
    assert payload["error"]["field"] == field
    assert result.stdout == ""


def test_json_prints_transport_errors_as_json() -> None:
    """A failure after the command started is JSON on stderr too, with its class."""
    url = free_port_refusing()
    args = ["init", "--phone", PHONE, "--user-ip", IP, "--json"]
    result = invoke([*CREDS, "--base-url", url, *args])
    assert result.exit_code == 1
    payload = json.loads(result.stderr)
    assert payload["error"]["class"] == "ConnectionFailedError"
    assert payload["error"]["code"] is None


@pytest.mark.parametrize(
    ("error", "stops"),
    [
        (ConnectionFailedError("refused", action="init"), True),
        (ApiError(1001, "x"), True),
        (ApiError(1005, "x"), True),
        (ApiError(9906, "x"), True),
        (ApiError(9908, "x"), True),
        (ApiError(1006, "x"), False),
        (RateLimitedError(2206, "x"), False),
        (ApiError(9901, "x"), False),
        (None, False),
    ],
)
def test_stops_the_run(error: ApiError | ConnectionFailedError | None, stops: bool) -> None:
    """Only failures no record can fix count towards fail-fast."""
    assert stops_the_run(error) is stops


def test_fail_fast_counts_failures_in_a_row_only() -> None:
    """A success resets the streak; the run stops at the bound; 0 never stops."""
    refused = ConnectionFailedError("refused", action="init")
    control = BulkControl(fail_fast_after=3)
    for error in (refused, refused, None, refused, refused):
        control.observe(error)
    assert not control.stopping
    control.observe(refused)
    assert control.reason == "fail-fast"
    assert control.last_error is refused
    never = BulkControl(fail_fast_after=0)
    for _ in range(100):
        never.observe(refused)
    assert not never.stopping


@pytest.mark.anyio
async def test_a_second_signal_cuts_the_calls_in_flight_at_once() -> None:
    """The first signal leaves a long grace; the second cancels the work without waiting."""
    control = BulkControl(grace=3600.0)
    forever = asyncio.Event()

    async def work() -> None:
        control.on_signal(signal.SIGTERM)
        control.on_signal(signal.SIGINT)
        await forever.wait()

    await asyncio.wait_for(control.run(work()), timeout=60.0)
    assert control.cut
    assert control.signal == signal.SIGTERM


def test_read_recorded_matches_by_line_and_phone() -> None:
    """Recorded lines match records by (line, phone); may-have-started lines are listed
    masked; lines that are not results are counted."""
    lines = [
        json.dumps({"line": 2, "phone": PHONE, "ok": True}) + "\n",
        json.dumps({"line": 3, "phone": PHONE, "error_class": "RequestMaybeSentError"}) + "\n",
        json.dumps({"line": 4, "phone": None, "error_class": "InvalidInputError"}) + "\n",
        "\n",
        '{"line": 5, "pho\n',
        "[1]\n",
        json.dumps({"line": "5", "phone": PHONE}) + "\n",
    ]
    recorded = read_recorded(lines)
    assert recorded.has(parse_pair(0, 2, PHONE, IP))
    assert not recorded.has(parse_pair(0, 2, "8615800001796", IP))
    assert recorded.has(parse_pair(2, 4, None, None))
    assert recorded.maybe_started == ((3, "8615800****95"),)
    assert recorded.unreadable == 3


@pytest.mark.anyio
async def test_a_cancellation_from_outside_is_not_swallowed() -> None:
    """Only the control's own cut ends a run quietly; a cancellation from outside propagates."""
    control = BulkControl()
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.Event().wait()

    runner = asyncio.ensure_future(control.run(work()))
    await asyncio.wait_for(started.wait(), timeout=60.0)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert not control.cut


def test_the_sink_stops_writing_once_its_reader_is_gone() -> None:
    """A closed pipe sets closed, calls on_closed once, and later rows are still counted."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    calls: list[str] = []
    summary = BulkSummary()
    sink = RowSink(summary, out=ClosedPipe(), on_closed=lambda: calls.append("closed"))
    sink({"ok": True, "attempts": 1})
    sink({"ok": True, "attempts": 1})
    assert sink.closed
    assert calls == ["closed"]
    assert summary.succeeded == 2
