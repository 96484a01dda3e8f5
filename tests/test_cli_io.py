"""The CLI's input readers and output rows: pure functions over lines."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable, Iterator

import pytest

from nxcloud_ota import ApiError, InvalidInputError, RateLimitedError
from nxcloud_ota._cli._io import (
    InputRecord,
    decode_lines,
    detect_format,
    invalid_row,
    outcome_row,
    parse_pair,
    peek_first_line,
)
from nxcloud_ota._cli._read import count_records, read_csv, read_jsonl, read_records


def _pairs(records: Iterable[InputRecord]) -> list[tuple[str, str] | str]:
    """(phone, user_ip) of valid records, the error's field for invalid ones."""
    out: list[tuple[str, str] | str] = []
    for r in records:
        if r.request is not None:
            out.append((r.request.phone, r.request.user_ip))
        else:
            assert r.error is not None
            out.append(r.error.field)
    return out


class _Exploding:
    """An iterable of lines that fails the test if more than ``limit`` are read."""

    def __init__(self, lines: list[str], limit: int) -> None:
        self.lines = lines
        self.limit = limit
        self.read = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            if self.read >= self.limit:
                raise AssertionError(f"read ahead beyond line {self.limit}")
            self.read += 1
            yield line


def test_csv_with_header() -> None:
    """A phone,user_ip header is skipped and the rows are parsed and normalised."""
    lines = ["phone,user_ip\n", "+86 158 0000 1795,203.0.113.7\n", "447700900123,2001:DB8::1\n"]
    assert _pairs(read_csv(lines)) == [
        ("8615800001795", "203.0.113.7"),
        ("447700900123", "2001:db8::1"),
    ]


def test_csv_header_in_any_order_with_extra_columns() -> None:
    """Header columns are found by name, whatever their order; extra columns are ignored."""
    lines = ["user_ip,name,phone\n", "203.0.113.7,Ann,8615800001795\n"]
    assert _pairs(read_csv(lines)) == [("8615800001795", "203.0.113.7")]


def test_csv_without_header() -> None:
    """Without a header, every row of two columns is a record, the first one included."""
    lines = ["8615800001795,203.0.113.7\n", "447700900123,198.51.100.2\n"]
    records = list(read_csv(lines))
    assert _pairs(records) == [
        ("8615800001795", "203.0.113.7"),
        ("447700900123", "198.51.100.2"),
    ]
    assert [(r.index, r.line) for r in records] == [(0, 1), (1, 2)]


def test_csv_blank_lines_are_skipped_and_lines_counted() -> None:
    """Blank rows are not records, but the line numbers still point into the file."""
    lines = ["phone,user_ip\n", "\n", "8615800001795,203.0.113.7\n", "  \n", "12,1.2.3.4\n"]
    records = list(read_csv(lines))
    assert [(r.index, r.line) for r in records] == [(0, 3), (1, 5)]


def test_csv_bad_rows_become_errors_not_exceptions() -> None:
    """Wrong column counts, bad phones and bad IPs each become one failed record."""
    lines = [
        "8615800001795,203.0.113.7\n",
        "8615800001795\n",
        "12345,203.0.113.7\n",
        "8615800001795,not-an-ip\n",
        "8615800001795,203.0.113.7,extra\n",
        "8615800001796,203.0.113.8\n",
    ]
    records = list(read_csv(lines))
    assert _pairs(records) == [
        ("8615800001795", "203.0.113.7"),
        "input",
        "phone",
        "user_ip",
        "input",
        ("8615800001796", "203.0.113.8"),
    ]
    assert all(isinstance(r.error, InvalidInputError) for r in records[1:5])
    assert "line 2" in str(records[1].error)
    assert "got 1" in str(records[1].error)


def test_csv_keeps_the_phone_as_given() -> None:
    """The record keeps the raw phone for the output, the request the normalised one."""
    (record,) = read_csv(["+86 158-0000-1795,203.0.113.7\n"])
    assert record.phone == "+86 158-0000-1795"
    assert record.request is not None
    assert record.request.phone == "8615800001795"


def test_jsonl_records() -> None:
    """Each JSON object line is a record; userIp is accepted and a number phone too."""
    lines = [
        '{"phone": "8615800001795", "user_ip": "203.0.113.7"}\n',
        "\n",
        '{"phone": 447700900123, "userIp": "198.51.100.2"}\n',
    ]
    records = list(read_jsonl(lines))
    assert _pairs(records) == [
        ("8615800001795", "203.0.113.7"),
        ("447700900123", "198.51.100.2"),
    ]
    assert [r.line for r in records] == [1, 3]


def test_jsonl_bad_lines_become_errors() -> None:
    """Broken JSON, a non-object, a missing field and a wrong type each fail one record."""
    lines = [
        '{"phone": "8615800001795", "user_ip": "203.0.113.7"\n',
        "[1, 2]\n",
        '{"phone": "8615800001795"}\n',
        '{"phone": true, "user_ip": "203.0.113.7"}\n',
        '{"phone": "8615800001795", "user_ip": "203.0.113.9"}\n',
    ]
    records = list(read_jsonl(lines))
    assert _pairs(records) == [
        "input",
        "input",
        "user_ip",
        "phone",
        ("8615800001795", "203.0.113.9"),
    ]
    assert "not valid JSON" in str(records[0].error)
    assert "missing" in str(records[2].error)


def test_phone_problem_is_reported_before_a_missing_ip() -> None:
    """A record with a bad phone and no IP names the phone, the first column."""
    error = parse_pair(0, 1, "12", None).error
    assert error is not None
    assert error.field == "phone"


@pytest.mark.parametrize(
    "reader",
    [
        pytest.param(read_csv, id="csv"),
        pytest.param(read_jsonl, id="jsonl"),
    ],
)
def test_readers_are_lazy(reader: Callable[[Iterable[str]], Iterator[InputRecord]]) -> None:
    """Taking two records reads no more than the lines they need."""
    if reader is read_csv:
        lines = ["phone,user_ip\n"] + [f"86158000017{i:02d},203.0.113.7\n" for i in range(50)]
        limit = 3
    else:
        lines = [
            f'{{"phone": "86158000017{i:02d}", "user_ip": "203.0.113.7"}}\n' for i in range(50)
        ]
        limit = 2
    source = _Exploding(lines, limit=limit)
    taken = list(itertools.islice(reader(source), 2))
    assert len(taken) == 2
    assert source.read <= limit
    with pytest.raises(AssertionError, match="read ahead"):
        list(reader(_Exploding(lines, limit=limit)))


def test_decode_lines_drops_bom_and_replaces_bad_bytes() -> None:
    """A UTF-8 BOM is dropped; a non-UTF-8 line becomes a failed record, not a crash."""
    raw = io.BytesIO(
        b"\xef\xbb\xbfphone,user_ip\n\xff\xfe,203.0.113.7\n8615800001795,203.0.113.7\n"
    )
    records = list(read_csv(decode_lines(raw)))
    assert _pairs(records) == ["input", ("8615800001795", "203.0.113.7")]
    assert "line 2: not valid UTF-8" in str(records[0].error)


@pytest.mark.parametrize(
    ("name", "first", "expected"),
    [
        ("in.csv", '{"phone": 1}', "csv"),
        ("IN.JSONL", None, "jsonl"),
        ("in.ndjson", None, "jsonl"),
        ("-", '{"phone": "1"}', "jsonl"),
        ("-", "phone,user_ip", "csv"),
        ("-", None, "csv"),
        ("data", "  {", "jsonl"),
    ],
)
def test_detect_format(name: str, first: str | None, expected: str) -> None:
    """The extension decides; without one, a first line starting with { means JSON Lines."""
    assert detect_format(name, first) == expected


def test_peek_first_line_keeps_every_line() -> None:
    """Peeking returns the first non-blank line and still yields all lines, in order."""
    first, rest = peek_first_line(iter(["\n", "a\n", "b\n"]))
    assert first == "a\n"
    assert list(rest) == ["\n", "a\n", "b\n"]
    assert peek_first_line(iter(["\n"]))[0] is None


def test_count_records() -> None:
    """The count is of non-blank lines, less a CSV header."""
    assert count_records(["phone,user_ip\n", "a,b\n", "\n", "c,d\n"], "csv") == 2
    assert count_records(["a,b\n", "c,d\n"], "csv") == 2
    assert count_records(['{"phone": "1"}\n', "\n"], "jsonl") == 1


def test_read_records_dispatches_on_format() -> None:
    """read_records picks the JSON Lines reader or the CSV reader."""
    assert _pairs(read_records(['{"phone": "8615800001795", "user_ip": "1.2.3.4"}'], "jsonl")) == [
        ("8615800001795", "1.2.3.4")
    ]
    assert _pairs(read_records(["8615800001795,1.2.3.4"], "csv")) == [("8615800001795", "1.2.3.4")]


def test_invalid_row_shape() -> None:
    """A bad record's row says what failed, with no request, no attempts and no code."""
    record = parse_pair(4, 7, "12", "203.0.113.7")
    row = invalid_row(record)
    assert row == {
        "index": 4,
        "line": 7,
        "phone": "12",
        "user_ip": "203.0.113.7",
        "ok": False,
        "request_id": None,
        "url": None,
        "error_code": None,
        "error_class": "InvalidInputError",
        "error_message": row["error_message"],
        "attempts": 0,
        "elapsed_ms": 0.0,
    }
    assert str(row["error_message"]).startswith("phone: must be 6-15 digits")


def test_outcome_row_success_and_api_error() -> None:
    """Rows carry the result or the API code and class, attempts and milliseconds."""
    record = parse_pair(0, 2, "+8615800001795", "203.0.113.7")
    ok = outcome_row(
        record, request_id="r1", url="https://u", error=None, attempts=1, elapsed=0.25
    )
    assert ok["ok"] is True
    assert ok["phone"] == "+8615800001795"
    assert (ok["request_id"], ok["url"], ok["elapsed_ms"]) == ("r1", "https://u", 250.0)
    assert ok["error_class"] is None
    failed = outcome_row(
        record,
        request_id=None,
        url=None,
        error=RateLimitedError(2206, "too frequent"),
        attempts=4,
        elapsed=1.5,
    )
    assert failed["ok"] is False
    assert (failed["error_code"], failed["error_class"]) == (2206, "RateLimitedError")
    assert "too frequent" in str(failed["error_message"])
    assert failed["attempts"] == 4
    plain = outcome_row(
        record, request_id=None, url=None, error=ApiError(7, "x"), attempts=1, elapsed=0
    )
    assert plain["error_code"] == 7
