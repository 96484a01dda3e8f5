"""``bulk-init``'s output file: when it may be opened, and what ``--resume`` finds in it.

A record is matched to a line of the output by the pair (input line where the
record starts, phone as written in the input). Every record that already has a
line is final and skipped; those whose line says a login may have started
(``error_class`` ``RequestMaybeSentError``) are listed for reconciliation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Literal

import attrs

from .._errors import InvalidInputError
from .._validation import mask_phone
from ._io import InputRecord

__all__ = ["Recorded", "output_mode", "read_recorded", "record_key"]

Key = tuple[int, str | None]


def record_key(line: object, phone: object) -> Key | None:
    """The key that matches a record to its output line; ``None`` if ``line`` is no line.

    >>> record_key(12, "8615800001795"), record_key("x", None)
    ((12, '8615800001795'), None)
    """
    if not isinstance(line, int) or isinstance(line, bool):
        return None
    return line, phone if isinstance(phone, str) else None


@attrs.frozen
class Recorded:
    """What an existing output says: the records it has a line for."""

    keys: frozenset[Key] = frozenset()
    maybe_started: tuple[tuple[object, str], ...] = ()
    """(line, masked phone) of the lines whose login may have started."""
    unreadable: int = 0
    """Lines that are not result rows (only a crash in the middle of a write leaves one)."""

    def has(self, record: InputRecord) -> bool:
        """Whether ``record`` already has a line in the output."""
        return (record.line, record.phone) in self.keys


def read_recorded(lines: Iterable[str]) -> Recorded:
    """Read an existing output (JSON lines as ``bulk-init`` writes them)."""
    keys: set[Key] = set()
    maybe: list[tuple[object, str]] = []
    unreadable = 0
    for text in lines:
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            unreadable += 1
            continue
        key = record_key(row.get("line"), row.get("phone")) if isinstance(row, dict) else None
        if key is None:
            unreadable += 1
            continue
        keys.add(key)
        if row.get("error_class") == "RequestMaybeSentError":
            maybe.append((key[0], mask_phone(key[1]) if key[1] is not None else "?"))
    return Recorded(frozenset(keys), tuple(maybe), unreadable)


def output_mode(
    source: str, output: str, *, resume: bool, overwrite: bool
) -> Literal["a", "w", "x"] | None:
    """How to open ``output`` (``None``: it is stdout); refuses, with an
    :class:`InvalidInputError` on ``output``, whatever could lose a record.

    An existing output is appended to with ``resume``, replaced with ``overwrite``,
    refused otherwise; an output that is the input is always refused.
    """
    if resume and overwrite:
        raise InvalidInputError("output", "give --resume or --overwrite, not both")
    if output == "-":
        if resume:
            raise InvalidInputError("output", "--resume needs the output file (--output FILE)")
        return None
    if not os.path.exists(output):
        if resume:
            raise InvalidInputError("output", f"{output} does not exist: nothing to resume")
        return "x"
    if source != "-" and os.path.samefile(source, output):
        raise InvalidInputError("output", f"{output} is the input file")
    if resume:
        return "a"
    if overwrite:
        return "w"
    raise InvalidInputError(
        "output",
        f"{output} exists: give --resume to continue the run it records, "
        "or --overwrite to replace it",
    )
