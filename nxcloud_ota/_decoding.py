"""Undoing a response's ``Content-Encoding``, incrementally and never past a cap.

A compressed body can expand a thousandfold per layer: 1,827 bytes of
``gzip, gzip`` make a gibibyte. So decoding is done here, chunk by chunk, with
``zlib``'s ``max_length``: no layer ever produces more than the cap allows, and
decoding stops with :class:`UndecodableBody` the moment the cap is passed. Only
``gzip`` (``x-gzip``), ``deflate`` and ``identity`` are decoded, stacked in any
order; any other coding (``br``, ``zstd``, ``compress``, ...) is refused unread.

>>> import gzip
>>> decoder = BodyDecoder("gzip", limit=100)
>>> decoder.feed(gzip.compress(b'{"code":0}'))
>>> decoder.finish()
b'{"code":0}'
"""

from __future__ import annotations

import zlib

__all__ = [
    "ACCEPT_ENCODING",
    "RAW_BODY",
    "BodyDecoder",
    "UndecodableBody",
    "parse_content_encoding",
    "too_large",
]

ACCEPT_ENCODING = "identity"
"""What requests ask for: the answers are a few hundred bytes, not worth compressing.
A server that compresses anyway is still decoded, within the cap."""

RAW_BODY = "nxcloud_ota.raw_body"
"""The response extension in which a transport that read the body whole hands it
over, as it came (still encoded), so that it is decoded here without streaming it."""

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
_MAX_LAYERS = 4


class UndecodableBody(ValueError):
    """The body cannot be decoded within the cap; the message says why."""


def parse_content_encoding(header: str | None) -> list[str]:
    """The codings applied to a body, in the order they were applied.

    ``identity`` is dropped; an unknown coding, or more layers than anyone
    needs, raises :class:`UndecodableBody`.

    >>> parse_content_encoding("gzip, identity, deflate")
    ['gzip', 'deflate']
    """
    if header is None:
        return []
    codings = [part.strip().lower() for part in header.split(",")]
    codings = [coding for coding in codings if coding not in ("", "identity")]
    for coding in codings:
        if coding not in _WBITS:
            raise UndecodableBody(f"the Content-Encoding {coding!r} is not accepted")
    if len(codings) > _MAX_LAYERS:
        raise UndecodableBody(f"{len(codings)} stacked Content-Encodings are not accepted")
    return codings


class _Layer:
    """One ``zlib`` stream being undone; ``deflate`` may come with or without a header."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._stream = zlib.decompressobj(_WBITS[coding])
        self._head = b"" if coding == "deflate" else None  # bytes held to tell the two apart
        self._produced = 0

    def decode(self, data: bytes, limit: int) -> bytes:
        """Decode ``data``; raise once this layer has produced more than ``limit`` bytes.

        ``zlib`` stops at one byte past the room left, so a bomb is never expanded further.
        """
        if self._head is not None:
            data = self._sniff_deflate(self._head + data)
        try:
            out = self._stream.decompress(data, limit - self._produced + 1)
        except zlib.error as exc:
            raise UndecodableBody(f"the {self._coding} body is corrupt ({exc})") from None
        self._produced += len(out)
        if self._produced > limit:
            raise too_large(limit)
        if self._stream.unused_data:
            raise UndecodableBody(f"bytes follow the end of the {self._coding} body")
        return out

    def _sniff_deflate(self, data: bytes) -> bytes:
        """Hold the first two bytes of a ``deflate`` body: they say whether a zlib
        header is there (as the standard says) or the stream is raw (as some servers send)."""
        if len(data) < 2:
            self._head = data
            return b""
        self._head = None
        if not (data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0):
            self._stream = zlib.decompressobj(-zlib.MAX_WBITS)
        return data

    def check_complete(self) -> None:
        if not self._stream.eof:
            raise UndecodableBody(f"the {self._coding} body ends before its end marker")


class BodyDecoder:
    """Decode a body's ``Content-Encoding`` as it arrives, keeping at most ``limit`` bytes.

    :meth:`feed` raises :class:`UndecodableBody` as soon as the decoded body would
    pass ``limit`` (every intermediate layer is held to ``limit`` as well), or
    when the data is corrupt; :meth:`finish` returns the decoded body once the
    whole encoded body was fed.
    """

    def __init__(self, content_encoding: str | None, *, limit: int) -> None:
        # Undone from the outermost coding (the last applied) inwards.
        codings = parse_content_encoding(content_encoding)
        self._layers = [_Layer(coding) for coding in reversed(codings)]
        self._limit = limit
        self._chunks: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        """Decode one more piece of the encoded body."""
        data = chunk
        for layer in self._layers:
            data = layer.decode(data, self._limit)
        self._size += len(data)
        if self._size > self._limit:
            raise too_large(self._limit)
        self._chunks.append(data)

    def finish(self) -> bytes:
        """Return the decoded body; raise if a compressed layer was cut short."""
        for layer in self._layers:
            layer.check_complete()
        return b"".join(self._chunks)


def too_large(limit: int) -> UndecodableBody:
    """The error for a body over ``limit`` bytes, encoded or decoded."""
    return UndecodableBody(f"the response is over the {limit} bytes accepted")
