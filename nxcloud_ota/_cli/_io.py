"""Input records and output rows of the ``nxcloud-ota bulk-init`` command.

Pure functions over iterables of text lines, so they work on files, stdin and
lists alike; the readers themselves are in ``_read``.

Each input record becomes an :class:`InputRecord` carrying either a validated
:class:`~nxcloud_ota.InitRequest` or the :class:`~nxcloud_ota.InvalidInputError`
that explains what is wrong with the line. A bad line is data, not a crash.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Literal

import attrs

from .._errors import ApiError, InvalidInputError
from .._models import InitRequest
from .._validation import normalize_phone

__all__ = [
    "FORMATS",
    "InputFormat",
    "InputRecord",
    "decode_lines",
    "detect_format",
    "error_fields",
    "invalid_row",
    "malformed",
    "outcome_row",
    "parse_pair",
    "peek_first_line",
]

InputFormat = Literal["csv", "jsonl"]
FORMATS: tuple[InputFormat, ...] = ("csv", "jsonl")

_EXTENSIONS: dict[str, InputFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@attrs.frozen
class InputRecord:
    """One record of the input: its position, what it said, and the parsed request.

    ``index`` counts records from 0 (blank lines and a CSV header are not
    records); ``line`` is the 1-based line of the file where the record starts.
    Exactly one of ``request`` and ``error`` is set.
    """

    index: int
    line: int
    phone: str | None
    user_ip: str | None
    request: InitRequest | None = None
    error: InvalidInputError | None = None


def _check_present(value: object, field: str) -> str:
    if value is None or value == "":
        raise InvalidInputError(field, "is missing")
    if not isinstance(value, str):
        raise InvalidInputError(field, f"must be a string, not {type(value).__name__}")
    return value


def parse_pair(index: int, line: int, phone: object, user_ip: object) -> InputRecord:
    """Validate one (phone, user_ip) pair into a record; never raises for bad data.

    ``index`` and ``line`` say where the pair came from (see :class:`InputRecord`).

    The phone is checked first, so a line with two problems reports the phone's.
    """
    shown_phone = phone if isinstance(phone, str) else None
    shown_ip = user_ip if isinstance(user_ip, str) else None
    try:
        normalize_phone(_check_present(phone, "phone"), "phone")
        request = InitRequest(
            phone=_check_present(phone, "phone"), user_ip=_check_present(user_ip, "user_ip")
        )
    except InvalidInputError as exc:
        return InputRecord(index, line, shown_phone, shown_ip, error=exc)
    return InputRecord(index, line, shown_phone, shown_ip, request=request)


def malformed(index: int, line: int, problem: str) -> InputRecord:
    """A record whose line could not be split into a phone and a user IP."""
    err = InvalidInputError("input", f"line {line}: {problem}")
    return InputRecord(index, line, None, None, error=err)


def decode_lines(raw: Iterable[bytes]) -> Iterator[str]:
    """Decode binary lines as UTF-8, lazily, dropping a leading byte-order mark.

    Bytes that are not UTF-8 become U+FFFD, so the line fails validation as a
    record of its own instead of aborting the whole run.
    """
    first = True
    for chunk in raw:
        text = chunk.decode("utf-8", errors="replace")
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def detect_format(name: str, first_line: str | None = None) -> InputFormat:
    """Choose the reader: by the file's extension, else by the first line's shape.

    >>> detect_format("phones.jsonl"), detect_format("-", '{"phone": "1"}')
    ('jsonl', 'jsonl')
    """
    lowered = name.lower()
    for ext, fmt in _EXTENSIONS.items():
        if lowered.endswith(ext):
            return fmt
    if first_line is not None and first_line.lstrip("\ufeff \t").startswith("{"):
        return "jsonl"
    return "csv"


def peek_first_line(lines: Iterator[str]) -> tuple[str | None, Iterator[str]]:
    """Return the first non-blank line and an iterator that still yields every line."""
    seen: list[str] = []
    for text in lines:
        seen.append(text)
        if text.strip():
            return text, itertools.chain(seen, lines)
    return None, iter(seen)


def error_fields(error: Exception | None) -> dict[str, object]:
    """The ``error_code``/``error_class``/``error_message`` columns of an output row."""
    if error is None:
        return {"error_code": None, "error_class": None, "error_message": None}
    code = error.code if isinstance(error, ApiError) else None
    return {
        "error_code": code,
        "error_class": type(error).__name__,
        "error_message": str(error),
    }


def invalid_row(record: InputRecord) -> dict[str, object]:
    """The output row of a record that failed validation (nothing was sent)."""
    return {
        "index": record.index,
        "line": record.line,
        "phone": record.phone,
        "user_ip": record.user_ip,
        "ok": False,
        "request_id": None,
        "url": None,
        **error_fields(record.error),
        "attempts": 0,
        "elapsed_ms": 0.0,
    }


def outcome_row(
    record: InputRecord,
    *,
    request_id: str | None,
    url: str | None,
    error: Exception | None,
    attempts: int | None,
    elapsed: float | None,
) -> dict[str, object]:
    """The output row of a record that went to the client (``elapsed`` in seconds;
    ``None`` for both when the call was cancelled before it ended).

    The phone number is written as the user gave it: it is their own data,
    going to their own output.
    """
    return {
        "index": record.index,
        "line": record.line,
        "phone": record.phone,
        "user_ip": record.user_ip,
        "ok": error is None and request_id is not None,
        "request_id": request_id,
        "url": url,
        **error_fields(error),
        "attempts": attempts,
        "elapsed_ms": None if elapsed is None else round(elapsed * 1000.0, 3),
    }
