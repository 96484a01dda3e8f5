"""``nxcloud-ota bulk-init`` on files of thousands of rows, against the simulator: no
row is lost, no output is truncated, and no record is sent twice across a resume.

The command runs in process with click's runner, or as a real process where a
real signal or a real closed pipe is the point.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _servers import free_port_refusing
from click.testing import Result
from test_cli import APP, CREDS, IP, KEY, SECRET, client_for, invoke, json_lines

from nxcloud_ota._cli import CliState, Credentials
from nxcloud_ota._cli._bulk import run_bulk
from nxcloud_ota._cli._control import BulkControl
from nxcloud_ota._cli._io import parse_pair
from nxcloud_ota.testing import FakeNxCloud
from nxcloud_ota.testing._server import serve_in_thread

ROWS = 2000
PROCESS_TIMEOUT = 180.0  # seconds; the runs take a few, the machine is loaded


@pytest.fixture(autouse=True)
def _no_nxcloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own NXCLOUD_* variables must not leak into the tests."""
    for name in ("ACCESS_KEY", "ACCESS_SECRET", "APP_KEY", "BASE_URL"):
        monkeypatch.delenv(f"NXCLOUD_{name}", raising=False)


@pytest.fixture
def fake() -> FakeNxCloud:
    """A simulator that accepts the test credentials."""
    return FakeNxCloud(access_key=KEY, access_secret=SECRET, app_key=APP)


def phone(i: int) -> str:
    return f"86158{i:08d}"


def data_rows(count: int = ROWS) -> list[str]:
    """``count`` distinct valid CSV rows; row i is on line i + 2 under a header."""
    return [f"{phone(i)},203.0.113.{i % 200 + 1}" for i in range(count)]


def write_csv(path: Path, rows: list[str], header: str = "phone,user_ip") -> Path:
    path.write_text("".join(f"{r}\n" for r in [header, *rows]), encoding="utf-8")
    return path


def run(args: list[str], fake: FakeNxCloud) -> Result:
    return invoke([*CREDS, "bulk-init", *args], CliState(client_factory=client_for(fake)))


def summary_cell(stderr: str, label: str) -> str:
    """The value cell of the summary table's row ``label``."""
    for line in stderr.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 2 and cells[0] == label:
            return cells[1]
    raise AssertionError(f"no row {label!r} in:\n{stderr}")


def summary_value(stderr: str, label: str) -> int:
    """An integer cell of the summary table's row ``label``."""
    return int(summary_cell(stderr, label))


def sent_phones(fake: FakeNxCloud) -> collections.Counter[str]:
    """How many init requests the simulator received per phone."""
    return collections.Counter(
        str(json.loads(r.body)["phone"]) for r in fake.requests if r.action == "init"
    )


def test_a_stray_quote_at_line_11_costs_exactly_that_record(
    fake: FakeNxCloud, tmp_path: Path
) -> None:
    """A quote opened at line 11 and never closed fails line 11 alone; every other row runs."""
    rows = data_rows()
    rows[9] = '"' + rows[9]  # line 11 of the file
    out = tmp_path / "out.jsonl"
    result = run([str(write_csv(tmp_path / "in.csv", rows)), "-o", str(out)], fake)
    assert result.exit_code == 1, result.stderr
    lines = json_lines(out.read_text(encoding="utf-8"))
    assert len(lines) == ROWS
    failed = [r for r in lines if not r["ok"]]
    assert [(r["line"], r["error_class"]) for r in failed] == [(11, "InvalidInputError")]
    assert "line 11" in str(failed[0]["error_message"])
    assert sent_phones(fake) == collections.Counter(phone(i) for i in range(ROWS) if i != 9)
    assert summary_value(result.stderr, "succeeded") == ROWS - 1


def test_every_input_row_is_accounted_for(fake: FakeNxCloud, tmp_path: Path) -> None:
    """Result lines + input errors + not attempted = rows, through bad records of every
    kind, a quoted field that really spans lines, and a stop half-way."""
    rows = data_rows()
    rows[3] = '"' + rows[3]  # unbalanced quote
    rows[50] = rows[50] + ",extra"  # wrong column count
    rows[51] = "12345," + IP  # invalid phone
    rows[52] = "\ufffd" + rows[52]  # bad encoding, as decoded
    rows[53] = f'"{phone(53)}"x,{IP}'  # junk after a closing quote
    rows[60] = f'{phone(60)},"203.0.113.7\n"'  # a quoted field over two lines that closes
    rows.insert(100, "")  # a blank line is not a row
    path = tmp_path / "in.csv"
    path.write_bytes(
        "".join(f"{r}\n" for r in ["mobile,ip", *rows]).encode().replace(b"\xef\xbf\xbd", b"\xff")
    )
    fake.balance = 1200  # then 9908: the run stops after --fail-fast of them
    out = tmp_path / "out.jsonl"
    result = run([str(path), "-o", str(out), "--concurrency", "20"], fake)
    assert result.exit_code == 3, result.stderr
    lines = json_lines(out.read_text(encoding="utf-8"))
    not_attempted = summary_value(result.stderr, "not attempted")
    assert not_attempted > 0
    assert len(lines) + not_attempted == ROWS
    assert len({(r["line"], r["phone"]) for r in lines}) == len(lines)
    input_errors = {r["line"] for r in lines if r["error_class"] == "InvalidInputError"}
    assert input_errors == {5, 52, 53, 54, 55}
    spanning = next(r for r in lines if r["phone"] == phone(60))
    assert spanning["ok"] is True
    assert f"{not_attempted} record(s) not attempted" in result.stderr
    assert "9908" in result.stderr


def test_an_existing_output_is_never_truncated(fake: FakeNxCloud, tmp_path: Path) -> None:
    """Without --resume or --overwrite an existing output is refused, byte for byte intact;
    an output that is the input is refused even with --overwrite."""
    source = write_csv(tmp_path / "in.csv", data_rows())
    out = tmp_path / "out.jsonl"
    out.write_text('{"line": 2, "phone": "8615800000000", "ok": true}\n', encoding="utf-8")
    before = out.read_bytes()
    refused = run([str(source), "-o", str(out)], fake)
    assert refused.exit_code == 2
    assert "--resume" in refused.stderr
    assert "--overwrite" in refused.stderr
    assert out.read_bytes() == before
    original = source.read_bytes()
    for extra in ([], ["--overwrite"], ["--resume"]):
        same = run([str(source), "-o", str(source), *extra], fake)
        assert same.exit_code == 2
        assert "is the input" in same.stderr
    assert source.read_bytes() == original
    assert fake.requests == []
    resumed = run([str(source), "-o", str(out), "--resume"], fake)
    assert resumed.exit_code == 0, resumed.stderr
    assert out.read_bytes().startswith(before)
    assert len(json_lines(out.read_text(encoding="utf-8"))) == ROWS
    assert summary_value(resumed.stderr, "already recorded") == 1


def test_output_options_that_could_lose_records_are_refused(
    fake: FakeNxCloud, tmp_path: Path
) -> None:
    """--resume needs an existing output file and excludes --overwrite; --overwrite replaces."""
    source = write_csv(tmp_path / "in.csv", data_rows(3))
    out = tmp_path / "out.jsonl"
    assert "nothing to resume" in run([str(source), "-o", str(out), "--resume"], fake).stderr
    assert "needs the output file" in run([str(source), "--resume"], fake).stderr
    both = run([str(source), "-o", str(out), "--resume", "--overwrite"], fake)
    assert both.exit_code == 2
    assert "not both" in both.stderr
    out.write_text("old\n", encoding="utf-8")
    replaced = run([str(source), "-o", str(out), "--overwrite"], fake)
    assert replaced.exit_code == 0, replaced.stderr
    assert len(json_lines(out.read_text(encoding="utf-8"))) == 3


def test_resume_after_a_partial_last_line_starts_a_new_line(
    fake: FakeNxCloud, tmp_path: Path
) -> None:
    """A line cut short by a crash is not glued to the next one, and is reported."""
    source = write_csv(tmp_path / "in.csv", data_rows(3))
    out = tmp_path / "out.jsonl"
    out.write_text('{"line": 2, "phone": "8615800000000", "ok": true}\n{"line": 3, "ph', "utf-8")
    result = run([str(source), "-o", str(out), "--resume"], fake)
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8").splitlines()
    assert text[1] == '{"line": 3, "ph'
    assert [json.loads(t)["line"] for t in text[2:]] == [3, 4]
    assert "1 line(s)" in result.stderr


def test_a_may_have_started_record_is_not_resent_by_resume(
    fake: FakeNxCloud, tmp_path: Path
) -> None:
    """A dropped answer makes a may-have-started line; --resume after a stop sends every
    other unrecorded record, never that one, and lists it for reconciliation."""
    source = write_csv(tmp_path / "in.csv", data_rows())
    out = tmp_path / "out.jsonl"
    fake.drop_next(1)
    fake.balance = 1000
    first = run([str(source), "-o", str(out), "--concurrency", "1"], fake)
    assert first.exit_code == 3, first.stderr
    maybe = [
        r
        for r in json_lines(out.read_text("utf-8"))
        if r["error_class"] == "RequestMaybeSentError"
    ]
    assert [r["line"] for r in maybe] == [2]
    assert summary_value(first.stderr, "may have started") == 1
    fake.balance = None
    second = run([str(source), "-o", str(out), "--resume", "--concurrency", "50"], fake)
    assert second.exit_code == 0, second.stderr
    assert "line 2: 8615800****00" in second.stderr
    assert max(sent_phones(fake).values()) == 1
    assert sent_phones(fake)[phone(0)] == 1
    lines = json_lines(out.read_text(encoding="utf-8"))
    assert sorted(int(str(r["line"])) for r in lines) == list(range(2, ROWS + 2))


def test_an_unreachable_provider_stops_the_run_early(tmp_path: Path) -> None:
    """Connection failures in a row stop the run: --fail-fast records tried (not
    --concurrency), the rest counted as not attempted, exit 3 and a hint to resume."""
    source = write_csv(tmp_path / "in.csv", data_rows())
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    result = invoke(
        [*CREDS, "--base-url", free_port_refusing(), "bulk-init", str(source), "-o", str(out)]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.stderr
    lines = json_lines(out.read_text(encoding="utf-8"))
    assert {r["error_class"] for r in lines} == {"ConnectionFailedError"}
    assert len(lines) == 10  # --fail-fast: one at a time until the provider answers
    assert summary_value(result.stderr, "not attempted") == ROWS - len(lines)
    assert "--resume" in result.stderr
    assert elapsed < 120.0


def test_rejected_credentials_stop_the_run_early(fake: FakeNxCloud, tmp_path: Path) -> None:
    """A wrong secret (1003 for every record) stops after --fail-fast records."""
    source = write_csv(tmp_path / "in.csv", data_rows())
    wrong = [*CREDS[:2], "--access-secret", "wrong", *CREDS[4:]]
    result = invoke(
        [*wrong, "bulk-init", str(source), "--concurrency", "1", "--fail-fast", "5"],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 3
    assert len(json_lines(result.stdout)) == 5
    assert summary_value(result.stderr, "not attempted") == ROWS - 5
    assert "1003" in result.stderr


@pytest.fixture
def served(fake: FakeNxCloud) -> Iterator[str]:
    """The simulator over HTTP in this process's thread, for a command in another process."""
    with serve_in_thread(fake) as url:
        yield url


def spawn(url: str, *args: str, stdout: int | None = None) -> subprocess.Popen[str]:
    """``nxcloud-ota bulk-init ARGS`` as a separate process against ``url``."""
    env = {
        **os.environ,
        "NXCLOUD_BASE_URL": url,
        "NXCLOUD_ACCESS_KEY": KEY,
        "NXCLOUD_ACCESS_SECRET": SECRET,
        "NXCLOUD_APP_KEY": APP,
    }
    return subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-c", "from nxcloud_ota._cli import main; main()", "bulk-init", *args],
        env=env,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen[str]) -> None:
    """Poll until ``path`` holds ``count`` lines (the run is under way)."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not path.exists() or path.read_text("utf-8").count("\n") < count:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    return proc.returncode, err


def test_resume_after_sigint_completes_the_file_sending_no_record_twice(
    fake: FakeNxCloud, served: str, tmp_path: Path
) -> None:
    """SIGINT mid-run: calls in flight end and are recorded, exit 130 with a partial
    summary; --resume then completes the file and the simulator saw each phone once."""
    source = write_csv(tmp_path / "in.csv", data_rows())
    out = tmp_path / "out.jsonl"
    fake.latency = 0.05
    proc = spawn(served, str(source), "-o", str(out), "--concurrency", "10", "--no-progress")
    wait_for_lines(out, 100, proc)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130, err
    partial = json_lines(out.read_text("utf-8"))
    assert 100 <= len(partial) < ROWS
    assert all(r["ok"] for r in partial)
    assert summary_value(err, "not attempted") == ROWS - len(partial)
    assert summary_value(err, "may have started") == 0
    fake.latency = 0.0
    code, err = finish(spawn(served, str(source), "-o", str(out), "--resume", "--no-progress"))
    assert code == 0, err
    assert summary_value(err, "already recorded") == len(partial)
    lines = json_lines(out.read_text("utf-8"))
    assert sorted(int(str(r["line"])) for r in lines) == list(range(2, ROWS + 2))
    assert sent_phones(fake) == collections.Counter(phone(i) for i in range(ROWS))


def test_sigterm_past_the_grace_period_records_may_have_started_lines(
    fake: FakeNxCloud, served: str, tmp_path: Path
) -> None:
    """SIGTERM with no grace cuts the calls in flight: each gets a may-have-started line,
    exit 143; --resume lists them and never sends them again."""
    source = write_csv(tmp_path / "in.csv", data_rows())
    out = tmp_path / "out.jsonl"
    fake.latency = 1.0
    proc = spawn(served, str(source), "-o", str(out), "--concurrency", "10", "--grace", "0")
    wait_for_lines(out, 20, proc)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 143, err
    cut = [r for r in json_lines(out.read_text("utf-8")) if not r["ok"]]
    assert cut
    assert {r["error_class"] for r in cut} == {"RequestMaybeSentError"}
    assert summary_value(err, "may have started") == len(cut)
    fake.latency = 0.0
    code, err = finish(spawn(served, str(source), "-o", str(out), "--resume"))
    assert code == 0, err
    for row in cut:
        assert f"line {row['line']}: " in err
    sent = sent_phones(fake)
    assert max(sent.values()) == 1
    assert len(json_lines(out.read_text("utf-8"))) == ROWS


def test_a_closed_stdout_ends_the_run_quietly(served: str, tmp_path: Path) -> None:
    """When the reader of stdout goes away, the run stops with exit 141 and no traceback."""
    source = write_csv(tmp_path / "in.csv", data_rows())
    with spawn(served, str(source), "--concurrency", "5", stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert json.loads(proc.stdout.readline())["ok"] is True
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(PROCESS_TIMEOUT) == 141
    assert "Traceback" not in err
    assert "Broken pipe" not in err
    assert "error" not in err


@pytest.mark.anyio
async def test_a_stop_past_the_grace_period_cuts_calls_into_may_have_started_rows(
    fake: FakeNxCloud,
) -> None:
    """With no grace left, a call in flight is cancelled and recorded as may-have-started;
    the records behind it are counted as not attempted."""
    entered = asyncio.Event()

    async def hang(_: float) -> None:
        entered.set()
        await asyncio.Event().wait()

    fake.latency = 1.0
    fake.sleep = hang
    records = [parse_pair(i, i + 2, phone(i), IP) for i in range(10)]
    control = BulkControl(grace=0.0)
    rows: list[dict[str, object]] = []
    async with client_for(fake)(Credentials(KEY, SECRET, APP)) as client:
        run = asyncio.ensure_future(
            run_bulk(client, records, concurrency=4, emit=rows.append, control=control)
        )
        await asyncio.wait_for(entered.wait(), timeout=60.0)
        control.stop("signal")
        not_attempted = await asyncio.wait_for(run, timeout=60.0)
    assert control.cut
    assert [(r["line"], r["error_class"], r["attempts"]) for r in rows] == [
        (2, "RequestMaybeSentError", None)
    ]
    assert not_attempted == 9


def test_stdin_is_not_read_to_its_end_after_a_stop(fake: FakeNxCloud) -> None:
    """A run from stdin that stops early says the rest was not attempted without counting it."""
    text = "".join(f"{r}\n" for r in data_rows(50))
    wrong = [*CREDS[:2], "--access-secret", "wrong", *CREDS[4:]]
    result = invoke(
        [*wrong, "bulk-init", "-", "--fail-fast", "3"],
        CliState(client_factory=client_for(fake)),
        stdin=text,
    )
    assert result.exit_code == 3
    assert len(json_lines(result.stdout)) == 3
    assert "the rest not attempted" in result.stderr
    assert "--resume --output FILE" in result.stderr
    assert summary_cell(result.stderr, "not attempted") == "?"


def test_an_output_that_is_a_directory_is_a_usage_error(fake: FakeNxCloud, tmp_path: Path) -> None:
    """--resume on an output that is a directory exits 2 naming it; nothing is sent."""
    source = write_csv(tmp_path / "in.csv", data_rows(3))
    result = run([str(source), "-o", str(tmp_path), "--resume"], fake)
    assert result.exit_code == 2
    assert str(tmp_path) in result.stderr
    assert fake.requests == []
