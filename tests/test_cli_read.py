"""The strict input readers of bulk-init: a bad record fails alone, at its own line."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from nxcloud_ota._cli._io import InputRecord
from nxcloud_ota._cli._read import MAX_FIELD_LINES, header_columns, read_csv, read_jsonl

PHONE = "8615800001795"
IP = "203.0.113.7"


def outcomes(records: Iterable[InputRecord]) -> list[tuple[int, str]]:
    """(line, phone) of a valid record, (line, error field) of an invalid one."""
    out = []
    for r in records:
        if r.request is not None:
            out.append((r.line, r.request.phone))
        else:
            assert r.error is not None
            out.append((r.line, r.error.field))
    return out


@pytest.mark.parametrize(
    ("header", "columns"),
    [
        ("phone,user_ip", (0, 1)),
        ("mobile,ip", (0, 1)),
        ("userIp,Phone", (1, 0)),
        ("id,MSISDN,user-ip,note", (1, 2)),
        ("Phone Number,USER_IP", (0, 1)),
        ("phone,mobile,ip", None),  # two phone columns: ambiguous
        ("phone,address", None),
        (f"{PHONE},{IP}", None),
    ],
)
def test_header_columns_by_name_and_alias(header: str, columns: tuple[int, int] | None) -> None:
    """A header names one phone and one IP column, by any documented alias, in any case."""
    assert header_columns(header.split(",")) == columns


def test_an_aliased_header_is_not_taken_for_a_phone() -> None:
    """mobile,ip is a header: the rows under it are read by those columns."""
    assert outcomes(read_csv(["mobile,ip\n", f"{PHONE},{IP}\n"])) == [(2, PHONE)]


def test_a_first_row_that_is_neither_header_nor_data_is_an_input_error() -> None:
    """An unknown header fails as a record of its own; the rows after it are still read."""
    records = list(read_csv(["tel,address\n", f"{PHONE},{IP}\n"]))
    assert outcomes(records) == [(1, "input"), (2, PHONE)]
    assert "not a header" in str(records[0].error)
    assert "mobile" in str(records[0].error)


def test_a_first_row_with_a_bad_phone_is_data() -> None:
    """A first row with digits is data: its bad phone is reported as a phone error."""
    assert outcomes(read_csv(["12,1.2.3.4\n", f"{PHONE},{IP}\n"])) == [(1, "phone"), (2, PHONE)]


def test_a_quoted_field_over_several_lines_that_closes_is_one_record() -> None:
    """A quoted note spanning three lines is one record at its first line; reading goes on."""
    lines = [
        "phone,user_ip,note\n",
        f'{PHONE},{IP},"first\n',
        "second\n",
        'third"\n',
        f"447700900123,{IP},x\n",
    ]
    assert outcomes(read_csv(lines)) == [(2, PHONE), (5, "447700900123")]


def test_a_quote_that_never_closes_costs_its_own_line_only() -> None:
    """Past MAX_FIELD_LINES lines without a closing quote, only the opening line fails."""
    rows = [f"86158{i:08d},{IP}\n" for i in range(MAX_FIELD_LINES + 5)]
    rows[0] = '"' + rows[0]
    records = list(read_csv(rows))
    assert len(records) == len(rows)
    assert outcomes(records)[0] == (1, "input")
    assert "unbalanced quote" in str(records[0].error)
    assert all(r.request is not None for r in records[1:])


def test_a_quote_that_closes_into_a_malformed_row_costs_its_own_line_only() -> None:
    """A second stray quote later does not join the lines between them into one record."""
    lines = [f'"{PHONE},{IP}\n', f"447700900123,{IP}\n", f'"447700900124",{IP},"x\n']
    assert outcomes(read_csv(lines)) == [(1, "input"), (2, "447700900123"), (3, "input")]


def test_junk_after_a_closing_quote_and_a_bad_encoding_fail_alone() -> None:
    """Text after a closing quote and an undecodable line are one failed record each."""
    lines = [f'"{PHONE}"x,{IP}\n', f"\ufffd{PHONE},{IP}\n", f"{PHONE},{IP}\n"]
    records = list(read_csv(lines))
    assert outcomes(records) == [(1, "input"), (2, "input"), (3, PHONE)]
    assert "malformed CSV" in str(records[0].error)
    assert "not valid UTF-8" in str(records[1].error)


def test_jsonl_aliases_and_bad_lines_fail_alone() -> None:
    """JSON keys take the same aliases; broken and undecodable lines fail alone."""
    lines = [
        f'{{"mobile": "{PHONE}", "ip": "{IP}"}}\n',
        '{"phone": \n',
        f'{{"phone": "\ufffd{PHONE}", "user_ip": "{IP}"}}\n',
        f'{{"Phone_Number": {PHONE}, "userIp": "{IP}"}}\n',
    ]
    assert outcomes(read_jsonl(lines)) == [(1, PHONE), (2, "input"), (3, "input"), (4, PHONE)]


def test_a_quote_open_at_the_end_of_the_input_or_before_a_bad_line_costs_its_line() -> None:
    """An open quote on the last line, or followed by an undecodable line, fails alone."""
    assert outcomes(read_csv([f"{PHONE},{IP}\n", f'"{PHONE},{IP}\n'])) == [
        (1, PHONE),
        (2, "input"),
    ]
    lines = [f'"{PHONE},{IP}\n', "\ufffd\n", f"{PHONE},{IP}\n"]
    assert outcomes(read_csv(lines)) == [(1, "input"), (2, "input"), (3, PHONE)]
