"""Keep the callback's query string, the full phone number in it, out of access logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

__all__ = ["HIDE_QUERY_STRINGS", "HideQueryStrings"]

_QUERY = re.compile(r'(/[^\s?"]*)\?[^\s"]*')


class HideQueryStrings(logging.Filter):
    """A logging filter that cuts the query string off every path in a record.

    The provider puts the status callback's parameters, the full phone number
    among them, in the query string, and servers' access logs write it out.
    Add :data:`HIDE_QUERY_STRINGS` to the access logger (``uvicorn.access``,
    ``aiohttp.access``); records pass, rewritten.

    >>> record = logging.LogRecord("aiohttp.access", logging.INFO, "", 0,
    ...     '"%s %s HTTP/1.1" %d', ("POST", "/cb?phone=8615800001795", 200), None)
    >>> HIDE_QUERY_STRINGS.filter(record), record.getMessage()
    (True, '"POST /cb HTTP/1.1" 200')

    Args:
        name: Inherited from :class:`logging.Filter` and not used: every record
            is rewritten, whichever logger it comes from.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Cut query strings from the record's arguments, or from its message if it
        has none (so a formatter that reads the arguments, as uvicorn's does, still
        finds them); keep the record.

        Args:
            record: The log record, rewritten in place.
        """
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(_cut(arg) for arg in args)
        elif isinstance(args, Mapping) and args:
            record.args = {key: _cut(value) for key, value in args.items()}
        else:
            record.msg = _cut(record.msg)
        return True


def _cut(value: object) -> object:
    return _QUERY.sub(r"\1", value) if isinstance(value, str) else value


HIDE_QUERY_STRINGS = HideQueryStrings()
"""The one instance to add (``addFilter`` adds it once per logger, however often called)."""
