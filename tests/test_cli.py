"""The nxcloud-ota console script, driven with click's CliRunner against the simulator."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner, Result

from nxcloud_ota import AsyncOtaClient, RetryPolicy
from nxcloud_ota._cli import CliState, Credentials, main
from nxcloud_ota._cli._bulk import run_bulk
from nxcloud_ota._cli._io import InputRecord, parse_pair
from nxcloud_ota.testing import FakeNxCloud

SECRET = "Zq7-very-distinctive-secret-Xk2"
KEY = "cli-test-ak"
APP = "cli-test-app"
PHONE = "8615800001795"
IP = "203.0.113.7"
CREDS = ["--access-key", KEY, "--access-secret", SECRET, "--app-key", APP]


@pytest.fixture(autouse=True)
def _no_nxcloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own NXCLOUD_* variables must not leak into the tests."""
    for name in ("ACCESS_KEY", "ACCESS_SECRET", "APP_KEY", "BASE_URL"):
        monkeypatch.delenv(f"NXCLOUD_{name}", raising=False)


@pytest.fixture
def fake() -> FakeNxCloud:
    """A simulator that accepts the test credentials."""
    return FakeNxCloud(access_key=KEY, access_secret=SECRET, app_key=APP)


def client_for(
    fake: FakeNxCloud, seen: list[Credentials] | None = None, fake_time: _FakeTime | None = None
) -> Callable[[Credentials], AsyncOtaClient]:
    """A client factory that sends everything to ``fake`` in process, without waits
    (or on ``fake_time``'s clock, when given)."""

    def factory(creds: Credentials) -> AsyncOtaClient:
        if seen is not None:
            seen.append(creds)
        return AsyncOtaClient(
            access_key=creds.access_key or "",
            access_secret=creds.access_secret or "",
            app_key=creds.app_key or "",
            base_url=creds.base_url or "http://fake.test",
            transport=httpx.ASGITransport(app=fake),
            retry=RetryPolicy.no_wait(),
            sleep=fake_time.sleep if fake_time else asyncio.sleep,
            monotonic=fake_time.clock if fake_time else time.monotonic,
        )

    return factory


def invoke(args: list[str], state: CliState | None = None, stdin: str | None = None) -> Result:
    """Run the CLI in process; stdout and stderr stay separate."""
    return CliRunner().invoke(main, args, obj=state or CliState(), input=stdin)


def _table_value(text: str, label: str) -> str:
    """The value cell of the summary table's row ``label`` (rich draws box characters)."""
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 2 and cells[0] == label:
            return cells[1]
    raise AssertionError(f"no row {label!r} in:\n{text}")


def json_lines(text: str) -> list[dict[str, object]]:
    """Parse JSON Lines text."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_import_does_not_need_the_cli_extras() -> None:
    """`import nxcloud_ota` (and its testing package) works with click, rich and uvicorn absent."""
    code = (
        "import sys\n"
        "for name in ('click', 'rich', 'uvicorn'): sys.modules[name] = None\n"
        "import nxcloud_ota, nxcloud_ota.testing\n"
        "print('ok')\n"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_init_json_shape(fake: FakeNxCloud) -> None:
    """init --json prints exactly request_id and url, and the url is the simulator's login."""
    result = invoke(
        [*CREDS, "init", "--phone", PHONE, "--user-ip", IP, "--json"],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"request_id", "url"}
    assert str(payload["url"]).endswith(str(payload["request_id"]))
    assert [r.action for r in fake.requests] == ["init"]


def test_init_plain_output(fake: FakeNxCloud) -> None:
    """Without --json, init prints the request id and the url on labelled lines."""
    result = invoke(
        ["init", *CREDS, "--phone", PHONE, "--user-ip", IP],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("request_id: ")
    assert lines[1].startswith("url: http")


def test_init_bad_phone_is_a_usage_error_and_sends_nothing(fake: FakeNxCloud) -> None:
    """A bad phone exits 2 with one line naming the field; no request is made."""
    result = invoke(
        [*CREDS, "init", "--phone", "12345", "--user-ip", IP],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: phone: must be 6-15 digits")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert fake.requests == []


def test_init_bad_ip_names_the_option(fake: FakeNxCloud) -> None:
    """A bad user IP exits 2 and points at --user-ip."""
    result = invoke(
        [*CREDS, "init", "--phone", PHONE, "--user-ip", "999.1.1.1"],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 2
    assert "user_ip" in result.stderr
    assert "--user-ip" in result.stderr


def test_missing_credential_is_a_usage_error() -> None:
    """Without a secret, the command exits 2 and names both the option and the variable."""
    result = invoke(
        ["init", "--access-key", KEY, "--app-key", APP, "--phone", PHONE, "--user-ip", IP]
    )
    assert result.exit_code == 2
    assert "access_secret" in result.stderr
    assert "NXCLOUD_ACCESS_SECRET" in result.stderr


def test_wrong_secret_is_an_api_error_with_its_code(fake: FakeNxCloud) -> None:
    """A secret the simulator does not know exits 1 with code 1003 and a hint."""
    result = invoke(
        [
            "init",
            "--access-key",
            KEY,
            "--access-secret",
            "wrong-" + SECRET,
            "--app-key",
            APP,
            "--phone",
            PHONE,
            "--user-ip",
            IP,
        ],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: NXCloud API error 1003 (SignatureError)")
    assert "--access-secret" in result.stderr
    assert "Traceback" not in result.output
    assert SECRET not in result.output


def test_unreachable_base_url_is_a_transport_error() -> None:
    """A base URL where nothing listens exits 1 with a one-line transport error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = invoke(
        [
            *CREDS,
            "--base-url",
            f"http://127.0.0.1:{port}",
            "init",
            "--phone",
            PHONE,
            "--user-ip",
            IP,
        ]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "ConnectionFailedError" in result.stderr
    assert "Traceback" not in result.output


def test_credentials_command_flag_beats_group_flag_beats_env(fake: FakeNxCloud) -> None:
    """A command's flag wins over the group's, and the group's over the environment."""
    seen: list[Credentials] = []
    env = {
        "NXCLOUD_ACCESS_KEY": "env-ak",
        "NXCLOUD_ACCESS_SECRET": SECRET,
        "NXCLOUD_APP_KEY": "env-app",
    }
    result = CliRunner(env=env).invoke(
        main,
        [
            "--access-key",
            KEY,
            "--app-key",
            "group-app",
            "init",
            "--app-key",
            APP,
            "--phone",
            PHONE,
            "--user-ip",
            IP,
        ],
        obj=CliState(client_factory=client_for(fake, seen)),
    )
    assert result.exit_code == 0, result.stderr
    assert (seen[0].access_key, seen[0].access_secret, seen[0].app_key) == (KEY, SECRET, APP)


def test_credentials_from_environment_only(fake: FakeNxCloud) -> None:
    """The NXCLOUD_* variables alone are enough."""
    env = {"NXCLOUD_ACCESS_KEY": KEY, "NXCLOUD_ACCESS_SECRET": SECRET, "NXCLOUD_APP_KEY": APP}
    result = CliRunner(env=env).invoke(
        main,
        ["init", "--phone", PHONE, "--user-ip", IP, "--json"],
        obj=CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 0, result.stderr


def _start(fake: FakeNxCloud, phone: str = PHONE) -> dict[str, object]:
    result = invoke(
        [*CREDS, "init", "--phone", phone, "--user-ip", IP, "--json"],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 0, result.stderr
    started: dict[str, object] = json.loads(result.stdout)
    return started


def test_verify_json_after_the_phone_opened_the_url(fake: FakeNxCloud) -> None:
    """verify --json reports PENDING before the url is opened and SUCCESS after."""
    started = _start(fake)
    state = CliState(client_factory=client_for(fake))
    before = invoke([*CREDS, "verify", str(started["request_id"]), "--json"], state)
    assert json.loads(before.stdout) == {"request_id": started["request_id"], "status": "PENDING"}
    anyio.run(fake.open_url, str(started["url"]))
    after = invoke([*CREDS, "verify", str(started["request_id"]), "--json"], state)
    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == {"request_id": started["request_id"], "status": "SUCCESS"}


def test_verify_unknown_request_id_exits_1_with_2205(fake: FakeNxCloud) -> None:
    """An unknown request id is an API error (2205), exit 1."""
    result = invoke(
        [*CREDS, "verify", "no-such-request"], CliState(client_factory=client_for(fake))
    )
    assert result.exit_code == 1
    assert "2205" in result.stderr
    assert "RecordNotFoundError" in result.stderr


class _FakeTime:
    """Sleeps advance a fake clock; the second sleep lets the phone open the url."""

    def __init__(self, on_second_sleep: Callable[[], Awaitable[object]] | None = None) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.on_second_sleep = on_second_sleep

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if len(self.slept) == 2 and self.on_second_sleep is not None:
            await self.on_second_sleep()


def test_verify_wait_polls_until_final(fake: FakeNxCloud) -> None:
    """verify --wait keeps polling with backoff while PENDING and prints the final status."""
    started = _start(fake)
    fake_time = _FakeTime(lambda: fake.open_url(str(started["url"])))
    state = CliState(client_factory=client_for(fake, fake_time=fake_time))
    result = invoke([*CREDS, "verify", str(started["request_id"]), "--wait"], state)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "status: SUCCESS"
    assert fake_time.slept == [0.5, 1.0]
    assert [r.action for r in fake.requests].count("verify") == 3


def test_verify_wait_times_out_with_exit_1(fake: FakeNxCloud) -> None:
    """A login still PENDING at --timeout prints PENDING and exits 1 with a hint."""
    started = _start(fake)
    fake_time = _FakeTime()
    state = CliState(client_factory=client_for(fake, fake_time=fake_time))
    result = invoke(
        [*CREDS, "verify", str(started["request_id"]), "--wait", "--timeout", "3", "--json"], state
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "PENDING"
    assert "still PENDING after 3 s" in result.stderr
    assert sum(fake_time.slept) == 3.0


def _csv(tmp_path: Path, rows: list[str], name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def test_bulk_init_csv_writes_one_line_per_record(fake: FakeNxCloud, tmp_path: Path) -> None:
    """Every record, good or bad, becomes one JSON line; bad lines fail without a crash."""
    good = [f"86158{i:08d},203.0.113.{i % 200 + 1}" for i in range(30)]
    path = _csv(
        tmp_path,
        ["phone,user_ip", *good[:10], "12,203.0.113.1", *good[10:], "8615800001795,not-an-ip,x"],
    )
    out = tmp_path / "out.jsonl"
    result = invoke(
        [*CREDS, "bulk-init", str(path), "--output", str(out), "--concurrency", "7"],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 1  # two records failed
    rows = json_lines(out.read_text(encoding="utf-8"))
    assert len(rows) == 32
    assert sorted(int(str(r["index"])) for r in rows) == list(range(32))
    ok = [r for r in rows if r["ok"]]
    assert len(ok) == 30
    assert len({r["request_id"] for r in ok}) == 30
    assert {r["phone"] for r in ok} == {g.split(",")[0] for g in good}
    bad = sorted((r for r in rows if not r["ok"]), key=lambda r: int(str(r["index"])))
    assert [(b["index"], b["line"], b["error_class"]) for b in bad] == [
        (10, 12, "InvalidInputError"),
        (31, 33, "InvalidInputError"),
    ]
    assert str(bad[0]["error_message"]).startswith("phone:")
    assert bad[0]["phone"] == "12"
    assert [r.action for r in fake.requests].count("init") == 30
    assert "succeeded" in result.stderr
    assert "InvalidInputError" in result.stderr
    assert result.stdout == ""


def test_bulk_init_jsonl_from_stdin_to_stdout(fake: FakeNxCloud) -> None:
    """JSON Lines on stdin (format sniffed) all succeed: N lines on stdout, exit 0."""
    lines = [json.dumps({"phone": f"4477009{i:05d}", "user_ip": IP}) for i in range(25)]
    result = invoke(
        [*CREDS, "bulk-init", "-"],
        CliState(client_factory=client_for(fake)),
        stdin="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.stderr
    rows = json_lines(result.stdout)
    assert len(rows) == 25
    assert all(r["ok"] and r["attempts"] == 1 for r in rows)
    assert {r["phone"] for r in rows} == {f"4477009{i:05d}" for i in range(25)}


def test_bulk_init_counts_retries_in_the_summary(fake: FakeNxCloud, tmp_path: Path) -> None:
    """Answers of 99 are retried; the rows and the summary count the extra attempts."""
    path = _csv(tmp_path, [f"86158{i:08d},{IP}" for i in range(5)])
    fake.fail_next(3, code=99)
    result = invoke(
        [*CREDS, "bulk-init", str(path), "--concurrency", "1"],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 0, result.stderr
    rows = json_lines(result.stdout)
    assert sum(int(str(r["attempts"])) - 1 for r in rows) == 3
    assert _table_value(result.stderr, "retries") == "3"


def test_bulk_init_api_failures_are_counted_by_code(fake: FakeNxCloud, tmp_path: Path) -> None:
    """An empty balance fails the rest with 9908: exit 1, rows and summary name the code."""
    fake.balance = 2
    path = _csv(tmp_path, [f"86158{i:08d},{IP}" for i in range(5)])
    result = invoke(
        [*CREDS, "bulk-init", str(path), "--concurrency", "1"],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 1
    rows = json_lines(result.stdout)
    assert sorted(str(r["error_code"]) for r in rows) == ["9908"] * 3 + ["None"] * 2
    assert "9908 InsufficientBalanceError" in result.stderr


def test_bulk_init_missing_file_is_a_usage_error() -> None:
    """A FILE that does not exist exits 2 before anything runs."""
    result = invoke([*CREDS, "bulk-init", "/nonexistent/in.csv"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


@pytest.mark.anyio
async def test_bulk_does_not_read_ahead_beyond_the_concurrency(fake: FakeNxCloud) -> None:
    """Input past the first `concurrency` records is not touched before an outcome exists."""
    concurrency = 4

    def records() -> Iterator[InputRecord]:
        for i in range(concurrency):
            yield parse_pair(i, i + 1, f"86158{i:08d}", IP)
        raise AssertionError("read ahead beyond the concurrency")

    class Enough(Exception):
        """Stops the run at the first outcome."""

    def emit(row: object) -> None:
        raise Enough

    async with client_for(fake)(Credentials(KEY, SECRET, APP)) as client:
        with pytest.raises(Enough):
            await run_bulk(client, records(), concurrency=concurrency, emit=emit)


@pytest.mark.anyio
async def test_bulk_holds_at_most_concurrency_records(fake: FakeNxCloud) -> None:
    """Over a long input, records pulled minus rows written never exceeds the concurrency."""
    concurrency, total = 5, 200
    pulled = 0
    emitted = 0
    worst = 0

    def records() -> Iterator[InputRecord]:
        nonlocal pulled
        for i in range(total):
            pulled += 1
            yield parse_pair(i, i + 1, f"86158{i:08d}", IP)

    def emit(row: object) -> None:
        nonlocal emitted, worst
        worst = max(worst, pulled - emitted)
        emitted += 1

    fake.latency = 0.001
    async with client_for(fake)(Credentials(KEY, SECRET, APP)) as client:
        await run_bulk(client, records(), concurrency=concurrency, emit=emit)
    assert emitted == total
    assert 1 <= worst <= concurrency


def test_secret_never_printed(fake: FakeNxCloud, tmp_path: Path) -> None:
    """Across successes, API errors, usage errors and help, the secret never shows."""
    state = CliState(client_factory=client_for(fake))
    path = _csv(tmp_path, [f"86158{i:08d},{IP}" for i in range(3)] + ["bad,line"])
    env = {"NXCLOUD_ACCESS_SECRET": SECRET}
    runs = [
        [*CREDS, "init", "--phone", PHONE, "--user-ip", IP, "--json"],
        [*CREDS, "init", "--phone", "1", "--user-ip", IP],
        [
            "--access-key",
            "unknown",
            "--access-secret",
            SECRET,
            "--app-key",
            APP,
            "init",
            "--phone",
            PHONE,
            "--user-ip",
            IP,
        ],
        [*CREDS, "verify", "nope"],
        [*CREDS, "bulk-init", str(path)],
        ["--access-secret", SECRET, "init", "--phone", PHONE, "--user-ip", IP],
        ["--help"],
        ["init", "--help"],
        ["verify", "--help"],
        ["bulk-init", "--help"],
        ["fake-server", "--help"],
    ]
    for args in runs:
        result = CliRunner(env=env).invoke(main, args, obj=state)
        assert result.exit_code in (0, 1, 2), (args, result.output)
        assert SECRET not in result.stdout, args
        assert SECRET not in result.stderr, args
        assert "Traceback" not in result.output, args


def test_fake_server_bind_failure() -> None:
    """A busy port exits 1 with a one-line error naming it, and the secret is not echoed."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke(
            [
                "fake-server",
                "--port",
                str(port),
                "--access-secret",
                SECRET,
                "--access-key",
                "banner-ak",
            ]
        )
    assert result.exit_code == 1
    assert SECRET not in result.output
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ")
    assert str(port) in last


def test_demo_runs_end_to_end_on_loopback() -> None:
    """demo --count 50 serves the simulator on loopback, logs in, bulks 50 and exits 0."""
    result = invoke(["demo", "--count", "50", "--concurrency", "10"])
    assert result.exit_code == 0, result.output
    assert "verify: SUCCESS" in result.stdout
    assert "simulator listening on http://127.0.0.1:" in result.stdout
    table = result.stdout[result.stdout.index("demo: 50 initiations") :]
    assert _table_value(table, "succeeded") == "50"
    assert _table_value(table, "failed") == "0"


def test_fake_server_banner_lines_give_exports() -> None:
    """The banner gives every variable to export, the simulator's public test secret included."""
    from nxcloud_ota._cli._sim import banner_lines

    lines = banner_lines("http://[::1]:9000", access_key="ak", app_key="app", default_secret=True)
    text = "\n".join(lines)
    assert "export NXCLOUD_BASE_URL=http://[::1]:9000" in text
    assert "export NXCLOUD_ACCESS_KEY=ak" in text
    assert "export NXCLOUD_APP_KEY=app" in text
    assert "export NXCLOUD_ACCESS_SECRET=fake-access-secret" in text


def test_verify_bad_request_id_is_a_usage_error(fake: FakeNxCloud) -> None:
    """A request id with surrounding spaces exits 2 naming REQUEST_ID; nothing is sent."""
    result = invoke([*CREDS, "verify", " abc "], CliState(client_factory=client_for(fake)))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: request_id: must not have surrounding whitespace")
    assert fake.requests == []


def test_bulk_init_missing_credential_is_a_usage_error(tmp_path: Path) -> None:
    """bulk-init without an app key exits 2 before reading the file."""
    path = _csv(tmp_path, [f"{PHONE},{IP}"])
    result = invoke(["--access-key", KEY, "--access-secret", SECRET, "bulk-init", str(path)])
    assert result.exit_code == 2
    assert "app_key" in result.stderr
    assert SECRET not in result.output


def test_bulk_init_unwritable_output_is_a_usage_error(fake: FakeNxCloud, tmp_path: Path) -> None:
    """An --output in a missing directory exits 2 with a one-line message; nothing is sent."""
    path = _csv(tmp_path, [f"{PHONE},{IP}"])
    out = tmp_path / "no-such-dir" / "out.jsonl"
    result = invoke(
        [*CREDS, "bulk-init", str(path), "-o", str(out)], CliState(client_factory=client_for(fake))
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {out}:")
    assert "Traceback" not in result.output
    assert fake.requests == []


def test_bulk_init_format_option_overrides_the_extension(
    fake: FakeNxCloud, tmp_path: Path
) -> None:
    """--format jsonl reads a .csv-named file as JSON Lines."""
    path = _csv(tmp_path, [json.dumps({"phone": PHONE, "user_ip": IP})], name="mislabelled.csv")
    result = invoke(
        [*CREDS, "bulk-init", str(path), "--format", "jsonl"],
        CliState(client_factory=client_for(fake)),
    )
    assert result.exit_code == 0, result.stderr
    assert [r["ok"] for r in json_lines(result.stdout)] == [True]


def test_progress_total_is_estimated_from_a_regular_file(tmp_path: Path) -> None:
    """The progress bar's total counts a file's records; stdin has none."""
    from nxcloud_ota._cli._bulk_init import _estimate

    path = _csv(tmp_path, ["phone,user_ip", f"{PHONE},{IP}", "", f"{PHONE},{IP}"])
    assert _estimate(str(path), "csv") == 2
    assert _estimate("-", "csv") is None


def test_fake_server_banner_with_a_chosen_secret() -> None:
    """With a chosen secret, the banner says where it came from and does not print it."""
    from nxcloud_ota._cli._sim import banner_lines

    lines = banner_lines(
        "http://127.0.0.1:8000", access_key="ak", app_key="a", default_secret=False
    )
    assert lines[0] == "NXCloud simulator on http://127.0.0.1:8000"
    assert lines[-1].strip().startswith("export NXCLOUD_ACCESS_SECRET=...")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("example.test", False),
    ],
)
def test_fake_server_loopback_detection(host: str, loopback: bool) -> None:
    """Only loopback hosts are served without a warning."""
    from nxcloud_ota._validation import is_loopback_host

    assert is_loopback_host(host) is loopback


class _FailInitsAfter(httpx.AsyncBaseTransport):
    """Real HTTP, except that init calls after the first ``n`` are answered 9908."""

    def __init__(self, n: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.left = n

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/init"):
            if self.left <= 0:
                body = {"code": 9908, "msg": "insufficient balance", "data": None}
                return httpx.Response(200, json=body)
            self.left -= 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_demo_exits_1_when_part_of_the_bulk_fails() -> None:
    """If some bulk initiations fail, demo still prints the summary but exits 1."""

    def factory(creds: Credentials) -> AsyncOtaClient:
        return AsyncOtaClient(
            access_key=creds.access_key or "",
            access_secret=creds.access_secret or "",
            app_key=creds.app_key or "",
            base_url=creds.base_url or "",
            transport=_FailInitsAfter(1 + 7),
        )

    result = invoke(["demo", "--count", "20"], CliState(client_factory=factory))
    assert result.exit_code == 1
    assert "verify: SUCCESS" in result.stdout
    table = result.stdout[result.stdout.index("demo: 20 initiations") :]
    assert _table_value(table, "succeeded") == "7"
    assert _table_value(table, "9908 InsufficientBalanceError") == "13"
