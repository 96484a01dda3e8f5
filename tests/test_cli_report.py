"""The CLI's pure core: exit codes, error lines, summary arithmetic and the polling schedule."""

from __future__ import annotations

import pytest

from nxcloud_ota import (
    ApiError,
    ConnectionFailedError,
    InvalidInputError,
    ProtocolError,
    RequestMaybeSentError,
)
from nxcloud_ota._cli._report import (
    BulkSummary,
    error_line,
    exit_code_for,
    failure_key,
    redact,
)
from nxcloud_ota._errors import error_for_code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInputError("phone", "bad"), 2),
        (error_for_code(1003, "bad sign"), 1),
        (error_for_code(2206, "slow down"), 1),
        (ApiError(12345, "odd"), 1),
        (ConnectionFailedError("refused", action="init"), 1),
        (ProtocolError("not JSON", status_code=502, excerpt="<html>"), 1),
    ],
)
def test_exit_code_for(error: Exception, code: int) -> None:
    """Invalid input exits 2; every API, transport and protocol error exits 1."""
    assert exit_code_for(error) == code


def test_error_line_for_invalid_input_names_field_and_option() -> None:
    """The line names the field, the problem and the option to fix."""
    line = error_line(InvalidInputError("user_ip", "must be an IPv4 or IPv6 address"))
    assert line == "error: user_ip: must be an IPv4 or IPv6 address (check --user-ip)"


def test_error_line_for_api_error_has_code_class_and_hint() -> None:
    """An API error's line carries the code, the class and what to do about it."""
    line = error_line(error_for_code(1003, "invalid signature"))
    assert line.startswith("error: NXCloud API error 1003 (SignatureError): invalid signature;")
    assert "--access-secret" in line


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        (1004, "clock"),
        (1005, "--access-key"),
        (1042, "credentials"),
        (2205, "expired"),
        (2206, "--concurrency"),
        (9906, "--app-key"),
        (9908, "balance"),
    ],
)
def test_error_line_hints(code: int, needle: str) -> None:
    """Each known code gets a hint that says what to fix."""
    assert needle in error_line(error_for_code(code, "msg"))


def test_error_line_is_one_line_and_redacted() -> None:
    """Newlines collapse into one line, and a secret in the text is masked."""
    line = error_line(ApiError(88, "failed\nfor s3cr3t-value\r\n here"), ["s3cr3t-value", None])
    assert "\n" not in line
    assert "s3cr3t-value" not in line
    assert "***" in line


def test_error_line_transport_says_a_login_may_have_started() -> None:
    """A maybe-sent init error warns before retrying."""
    line = error_line(RequestMaybeSentError("read timeout", action="init"))
    assert line.startswith("error: read timeout (RequestMaybeSentError);")
    assert "may have started" in line


def test_redact_ignores_empty_secrets() -> None:
    """An empty or missing secret does not mangle the text."""
    assert redact("abc", ["", None]) == "abc"
    assert redact("a-x-b-x", ["x"]) == "a-***-b-***"


def test_failure_key() -> None:
    """Failures with a code are keyed by code and class; others by class alone."""
    assert failure_key(1003, "SignatureError") == "1003 SignatureError"
    assert failure_key(None, "ConnectionFailedError") == "ConnectionFailedError"
    assert failure_key(True, None) == "Error"


def test_bulk_summary_arithmetic() -> None:
    """Successes, failures by key, may-have-started records (masked), records not
    attempted and retries (attempts beyond the first) add up."""
    summary = BulkSummary()
    rows: list[dict[str, object]] = [
        {"ok": True, "attempts": 1},
        {"ok": True, "attempts": 3},
        {"ok": False, "error_code": 2206, "error_class": "RateLimitedError", "attempts": 4},
        {"ok": False, "error_code": 2206, "error_class": "RateLimitedError", "attempts": 4},
        {"ok": False, "error_code": None, "error_class": "InvalidInputError", "attempts": 0},
        {"ok": False, "error_class": "RequestMaybeSentError", "line": 9, "phone": "8615800001795"},
    ]
    for row in rows:
        summary.add(row)
    summary.not_attempted = 7
    assert summary.succeeded == 2
    assert summary.failed_total == 4
    assert summary.total == 6
    assert dict(summary.failed) == {
        "2206 RateLimitedError": 2,
        "InvalidInputError": 1,
        "RequestMaybeSentError": 1,
    }
    assert summary.maybe_started == [(9, "8615800****95")]
    assert summary.retries == 2 + 3 + 3
    assert summary.rate(2.0) == 3.0
    assert summary.rate(0.0) == 0.0
    assert summary.lines(2.0) == [
        ("succeeded", "2"),
        ("failed", "4"),
        ("  2206 RateLimitedError", "2"),
        ("  InvalidInputError", "1"),
        ("  RequestMaybeSentError", "1"),
        ("may have started", "1"),
        ("not attempted", "7"),
        ("retries", "8"),
        ("elapsed", "2.00 s"),
        ("rate", "3.0 req/s"),
    ]
