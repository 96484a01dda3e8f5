"""The strict readers behind ``nxcloud-ota bulk-init``: CSV and JSON Lines.

Generators over text lines: a record is parsed only when it is asked for. Every
rule here serves one promise: a malformed record fails alone, reported at the
line where it starts, and reading goes on at the next line.

- A line that is not valid UTF-8 (decoded with U+FFFD by ``decode_lines``) is
  one failed record.
- A CSV quote never swallows the lines after it, unless it opens a quoted field
  that closes within :data:`MAX_FIELD_LINES` lines and the lines so joined make
  one well-formed row of the expected width. Otherwise the line where the quote
  opened is one failed record and the next line is read afresh.
- A CSV header is recognised by its column names (:data:`PHONE_COLUMNS`,
  :data:`IP_COLUMNS`; case, ``_``, ``-`` and spaces do not matter). A first row
  that is no such header and cannot be data (its first cell has no digit) is a
  failed record, never a phone number.
"""

from __future__ import annotations

import csv
import json
from collections import deque
from collections.abc import Iterable, Iterator

from ._io import InputFormat, InputRecord, malformed, parse_pair

__all__ = [
    "IP_COLUMNS",
    "MAX_FIELD_LINES",
    "PHONE_COLUMNS",
    "count_records",
    "header_columns",
    "read_csv",
    "read_jsonl",
    "read_records",
]

PHONE_COLUMNS = ("phone", "mobile", "phone_number", "msisdn")
"""Names a CSV header or a JSON key may give the phone number."""
IP_COLUMNS = ("user_ip", "userIp", "ip")
"""Names a CSV header or a JSON key may give the user's IP address."""
MAX_FIELD_LINES = 20
"""The most lines one quoted CSV field may span."""

_UNCLOSED = "unexpected end of data"  # csv's strict-mode error for an open quote
_BAD_UTF8 = "\ufffd"


def _norm(name: str) -> str:
    return "".join(ch for ch in name.strip().lower() if ch not in "_- ")


_PHONE_NAMES = frozenset(_norm(n) for n in PHONE_COLUMNS)
_IP_NAMES = frozenset(_norm(n) for n in IP_COLUMNS)
_HEADER_HELP = (
    f"not a header naming one phone column ({', '.join(PHONE_COLUMNS)}) and one IP "
    f"column ({', '.join(IP_COLUMNS)}), and not a data row (no digit in the first column)"
)


def header_columns(cells: list[str]) -> tuple[int, int] | None:
    """The (phone, IP) column positions if ``cells`` is a header, else ``None``.

    >>> header_columns(["Mobile", "user-ip"]), header_columns(["8615800001795", "1.2.3.4"])
    ((0, 1), None)
    """
    names = [_norm(cell) for cell in cells]
    phones = [i for i, name in enumerate(names) if name in _PHONE_NAMES]
    ips = [i for i, name in enumerate(names) if name in _IP_NAMES]
    if len(phones) == 1 and len(ips) == 1:
        return phones[0], ips[0]
    return None


def _parse(texts: list[str]) -> list[str] | str | None:
    """One row from these lines; ``None`` while a quoted field is still open; else
    the problem."""
    try:
        rows = list(csv.reader(texts, strict=True))
    except csv.Error as exc:
        return None if _UNCLOSED in str(exc) else f"malformed CSV ({exc})"
    # One row: lines are added one at a time while a quote is open, so the row ends
    # with the last of them (csv refuses a line break outside quotes within a line).
    return rows[0]


def read_csv(lines: Iterable[str]) -> Iterator[InputRecord]:
    """Read CSV records: a header naming the phone and IP columns (any order, other
    columns ignored) or, without a header, exactly two columns per row.

    >>> [r.request.phone for r in read_csv(["mobile,ip", "8615800001795,203.0.113.7"])]
    ['8615800001795']
    """
    source = enumerate(lines, start=1)
    pending: deque[tuple[int, str]] = deque()  # lines read ahead and given back
    index = 0
    columns: tuple[int, int] | None = None
    width = 2
    first = True

    def take() -> tuple[int, str] | None:
        return pending.popleft() if pending else next(source, None)

    while (item := take()) is not None:
        line, text = item
        if not text.strip():
            continue
        if _BAD_UTF8 in text:
            cells: list[str] | str = "not valid UTF-8"
        else:
            parsed = _parse([text])
            taken = [item]
            while parsed is None and len(taken) < MAX_FIELD_LINES:
                more = take()
                if more is None:
                    break
                taken.append(more)
                if _BAD_UTF8 in more[1]:
                    break
                parsed = _parse([t for _, t in taken])
            closed = isinstance(parsed, list) and len(parsed) == width
            if parsed is None or (len(taken) > 1 and not closed):
                # The quote never closed (or closed into a bad row): it owns its line only.
                pending.extendleft(reversed(taken[1:]))
                parsed = "unbalanced quote (a quoted field that does not close)"
            cells = parsed
        if first and isinstance(cells, list):
            first = False
            columns = header_columns(cells)
            if columns is not None:
                width = len(cells)
                continue
            if not any(ch.isdigit() for ch in cells[0]):
                cells = _HEADER_HELP
        first = False
        if isinstance(cells, str):
            yield malformed(index, line, cells)
        elif len(cells) != width:
            like = "like the header" if columns is not None else "(phone,user_ip)"
            yield malformed(index, line, f"expected {width} columns {like}, got {len(cells)}")
        else:
            phone_col, ip_col = columns if columns is not None else (0, 1)
            yield parse_pair(index, line, cells[phone_col].strip(), cells[ip_col].strip())
        index += 1


def _pick(obj: dict[str, object], names: frozenset[str]) -> object:
    for key, value in obj.items():
        if _norm(key) in names:
            # A JSON number is a fair way to write a phone number.
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
            return value
    return None


def read_jsonl(lines: Iterable[str]) -> Iterator[InputRecord]:
    """Read JSON Lines records: one object ``{"phone": ..., "user_ip": ...}`` a line
    (the aliases of :data:`PHONE_COLUMNS` and :data:`IP_COLUMNS` are accepted too).
    Blank lines are skipped.

    >>> [r.error.field for r in read_jsonl(['{"phone": "12"}'])]
    ['phone']
    """
    index = 0
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if _BAD_UTF8 in text:
            yield malformed(index, line, "not valid UTF-8")
        else:
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield malformed(index, line, f"not valid JSON ({exc.msg}, column {exc.colno})")
            else:
                if not isinstance(obj, dict):
                    yield malformed(
                        index, line, 'expected an object {"phone": ..., "user_ip": ...}'
                    )
                else:
                    yield parse_pair(index, line, _pick(obj, _PHONE_NAMES), _pick(obj, _IP_NAMES))
        index += 1


def read_records(lines: Iterable[str], fmt: InputFormat) -> Iterator[InputRecord]:
    """Read records from text lines in the given format, lazily."""
    if fmt == "jsonl":
        return read_jsonl(lines)
    return read_csv(lines)


def count_records(lines: Iterable[str], fmt: InputFormat) -> int:
    """Estimate the number of records cheaply (for the progress bar's total):
    non-blank lines, less a CSV header. Quoted multi-line CSV fields overcount.
    """
    count = 0
    first: str | None = None
    for text in lines:
        if text.strip():
            if first is None:
                first = text
            count += 1
    if fmt == "csv" and first is not None:
        cells = next(csv.reader([first]), [])
        if header_columns(cells) is not None:
            count -= 1
    return count
