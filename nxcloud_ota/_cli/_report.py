"""The arithmetic and wording behind the CLI: summaries, exit codes, error lines.
Pure functions, no click, no rich.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

import attrs

from .._errors import (
    ApiError,
    AppNotPricedError,
    AppUnavailableError,
    AuthError,
    ConnectionFailedError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidInputError,
    InvalidParameterError,
    NxCloudError,
    PermissionDeniedError,
    PoolTimeoutError,
    ProtocolError,
    RateLimitedError,
    RecordNotFoundError,
    RequestFailedError,
    RequestMaybeSentError,
    SignatureError,
    TimestampExpiredError,
    TransportError,
)
from .._validation import mask_phone

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_SIGNAL",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "BulkSummary",
    "error_line",
    "error_payload",
    "exit_code_for",
    "failure_key",
    "redact",
]

EXIT_OK = 0
"""Everything succeeded."""
EXIT_ERROR = 1
"""The API answered an error, the transport failed, or an item of a bulk failed."""
EXIT_USAGE = 2
"""The command line or an input value is wrong (click's own usage errors use 2 too)."""
EXIT_STOPPED = 3
"""``bulk-init`` stopped early: the provider was unreachable or refused the credentials."""
EXIT_PIPE = 141
"""``bulk-init``'s standard output was closed by its reader (128 + SIGPIPE)."""
EXIT_SIGNAL = 128
"""Interrupted by a signal: the exit code is 128 + its number (130 SIGINT, 143 SIGTERM)."""

_FIELD_HINTS: dict[str, str] = {
    "phone": "--phone",
    "user_ip": "--user-ip",
    "request_id": "the REQUEST_ID argument",
    "credentials": "the options or the NXCLOUD_* environment variables",
    "access_key": "--access-key or NXCLOUD_ACCESS_KEY",
    "access_secret": "--access-secret or NXCLOUD_ACCESS_SECRET",
    "app_key": "--app-key or NXCLOUD_APP_KEY",
    "base_url": "--base-url or NXCLOUD_BASE_URL",
    "output": "--output",
}

# Most specific first: the first isinstance match wins.
_HINTS: tuple[tuple[type[NxCloudError], str], ...] = (
    (SignatureError, "check the access secret (--access-secret or NXCLOUD_ACCESS_SECRET)"),
    (TimestampExpiredError, "this machine's clock is off by more than 60 s: synchronise it"),
    (
        PermissionDeniedError,
        "check the access key (--access-key or NXCLOUD_ACCESS_KEY) "
        "and that the account has the OTA product",
    ),
    (AuthError, "check the credentials (--access-key, --access-secret)"),
    (RequestFailedError, "the provider could not process the request: contact NXCloud support"),
    (InternalServerError, "the provider kept failing: try again later"),
    (RecordNotFoundError, "the request id is unknown or has expired: start a new login"),
    (RateLimitedError, "too many requests: lower --concurrency or try again later"),
    (InvalidParameterError, "a parameter was rejected: check the phone number and user IP"),
    (AppUnavailableError, "check the app key (--app-key or NXCLOUD_APP_KEY) in the console"),
    (AppNotPricedError, "configure a price for the application in the NXCloud console"),
    (InsufficientBalanceError, "top up the account balance"),
    (
        RequestMaybeSentError,
        "the request may have reached the provider (a login may have started): "
        "check before retrying",
    ),
    (ConnectionFailedError, "check --base-url (or NXCLOUD_BASE_URL) and the network"),
    (PoolTimeoutError, "no free connection in time: lower --concurrency"),
    (TransportError, "check --base-url (or NXCLOUD_BASE_URL) and the network"),
    (ProtocolError, "the answer is not from the NXCloud API: check --base-url"),
)


def exit_code_for(error: BaseException) -> int:
    """Map an exception to the process exit code: 2 for bad input, 1 for the rest.

    >>> exit_code_for(InvalidInputError("phone", "bad")), exit_code_for(ApiError(88, "x"))
    (2, 1)
    """
    if isinstance(error, InvalidInputError):
        return EXIT_USAGE
    return EXIT_ERROR


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each non-empty secret with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def error_line(error: Exception, secrets: Iterable[str | None] = ()) -> str:
    """The one line printed on stderr for an expected error: what failed and what to fix.

    >>> error_line(ApiError(70, "odd"))
    'error: NXCloud API error 70 (ApiError): odd'
    """
    if isinstance(error, InvalidInputError):
        text = f"{error.field}: {error.problem}"
        where = _FIELD_HINTS.get(error.field)
        if where is not None:
            text += f" (check {where})"
    elif isinstance(error, ApiError):
        text = f"NXCloud API error {error.code} ({type(error).__name__}): {error.msg}"
    else:
        text = f"{error} ({type(error).__name__})"
    for cls, hint in _HINTS:
        if isinstance(error, cls):
            text += f"; {hint}"
            break
    return "error: " + _one_line(redact(text, secrets))


def error_payload(error: NxCloudError, secrets: Iterable[str | None] = ()) -> dict[str, object]:
    """What ``--json`` prints on stderr for an expected error: the line's facts as JSON.

    >>> error_payload(ApiError(70, "odd"))["error"]["code"]
    70
    """
    return {
        "error": {
            "class": type(error).__name__,
            "code": error.code if isinstance(error, ApiError) else None,
            "field": error.field if isinstance(error, InvalidInputError) else None,
            "message": error_line(error, secrets).removeprefix("error: "),
        }
    }


def failure_key(error_code: object, error_class: object) -> str:
    """The label a failure is counted under: ``"2206 RateLimitedError"`` or a class name.

    >>> failure_key(2206, "RateLimitedError"), failure_key(None, "InvalidInputError")
    ('2206 RateLimitedError', 'InvalidInputError')
    """
    name = error_class if isinstance(error_class, str) else "Error"
    if isinstance(error_code, int) and not isinstance(error_code, bool):
        return f"{error_code} {name}"
    return name


@attrs.define
class BulkSummary:
    """Running totals of a bulk run, fed one output row at a time."""

    succeeded: int = 0
    failed: Counter[str] = attrs.field(factory=Counter)
    retries: int = 0
    """The sum over items of ``attempts - 1``: requests beyond the first."""
    maybe_started: list[tuple[object, str]] = attrs.field(factory=list)
    """(line, masked phone) of the failures that may have started a login."""
    not_attempted: int | None = 0
    """Records never sent because the run stopped early (``None``: not counted)."""
    already_recorded: int = 0
    """Records skipped by ``--resume`` because the output has their line."""

    @property
    def failed_total(self) -> int:
        """How many items failed, whatever the reason."""
        return sum(self.failed.values())

    @property
    def total(self) -> int:
        """How many items have an outcome."""
        return self.succeeded + self.failed_total

    def add(self, row: Mapping[str, object]) -> None:
        """Count one output row (as built by ``outcome_row`` or ``invalid_row``)."""
        if row.get("ok") is True:
            self.succeeded += 1
        else:
            self.failed[failure_key(row.get("error_code"), row.get("error_class"))] += 1
        if row.get("error_class") == "RequestMaybeSentError":
            phone = row.get("phone")
            masked = mask_phone(phone) if isinstance(phone, str) else "?"
            self.maybe_started.append((row.get("line"), masked))
        attempts = row.get("attempts")
        if isinstance(attempts, int) and attempts > 1:
            self.retries += attempts - 1

    def rate(self, elapsed: float) -> float:
        """Items per second over ``elapsed`` seconds (0 when nothing could be timed)."""
        if elapsed <= 0 or not math.isfinite(elapsed):
            return 0.0
        return self.total / elapsed

    def lines(self, elapsed: float) -> list[tuple[str, str]]:
        """The summary as (label, value) pairs, failures sorted by count then label."""
        out = [("succeeded", str(self.succeeded)), ("failed", str(self.failed_total))]
        for key, count in sorted(self.failed.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append((f"  {key}", str(count)))
        out.append(("may have started", str(len(self.maybe_started))))
        out.append(
            ("not attempted", "?" if self.not_attempted is None else str(self.not_attempted))
        )
        if self.already_recorded:
            out.append(("already recorded", str(self.already_recorded)))
        out.append(("retries", str(self.retries)))
        out.append(("elapsed", f"{elapsed:.2f} s"))
        out.append(("rate", f"{self.rate(elapsed):.1f} req/s"))
        return out
