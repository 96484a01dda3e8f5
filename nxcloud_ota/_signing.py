"""The NXCloud request signature, as pure functions.

The recipe (from the provider's "API Interface Calling Convention"):

1. ``headersStr``: the headers ``accessKey``, ``action``, ``bizType`` and ``ts``,
   sorted by name in ASCII order, each as ``name=value``, joined with ``&``.
   The optional ``algorithm`` header is not part of it.
2. ``bodyStr``: ``&body=`` followed by the request body text exactly as sent;
   left out when the body is empty.
3. ``&accessSecret=<secret>`` is appended. The secret itself is never sent.
4. ``sign`` is the lower-case hex MD5 (or SHA-256) digest of the UTF-8 bytes.

The body is handled as bytes throughout, so the signed text and the bytes on
the wire are identical by construction.
"""

from __future__ import annotations

import hashlib
from typing import Literal

__all__ = ["ALGORITHMS", "Algorithm", "compute_sign", "signing_payload"]

Algorithm = Literal["md5", "sha256"]
ALGORITHMS: tuple[Algorithm, ...] = ("md5", "sha256")


def signing_payload(
    *,
    access_key: str,
    action: str,
    biz_type: str,
    ts: str,
    body: bytes,
    access_secret: str,
) -> bytes:
    """Return the exact bytes that are hashed into ``sign``."""
    # The four names are fixed, so their ASCII order is fixed too.
    head = f"accessKey={access_key}&action={action}&bizType={biz_type}&ts={ts}"
    tail = f"&accessSecret={access_secret}"
    if body:
        return b"".join((head.encode(), b"&body=", body, tail.encode()))
    return (head + tail).encode()


def compute_sign(
    *,
    access_key: str,
    action: str,
    biz_type: str,
    ts: str,
    body: bytes,
    access_secret: str,
    algorithm: Algorithm = "md5",
) -> str:
    """Return the ``sign`` header value: a lower-case hex digest.

    The client signs every request itself; this is for checking a signature by
    hand, or for signing another of the provider's APIs the same way.

    Args:
        access_key: The ``accessKey`` header.
        action: The ``action`` header (``"init"``, ``"verify"``, ...).
        biz_type: The ``bizType`` header (``"6"`` for OTA).
        ts: The ``ts`` header: milliseconds since the epoch, as text.
        body: The exact bytes of the request body.
        access_secret: The account's secret.
        algorithm: ``"md5"`` or ``"sha256"``.

    >>> compute_sign(
    ...     access_key="fme2na3kdi3ki", action="send", biz_type="1",
    ...     ts="1655710885431", body='{"id":10001,"name":"牛小信"}'.encode(),
    ...     access_secret="abciiiko2k3",
    ... )
    '7750759da06333f20d0640be09355e34'
    """
    payload = signing_payload(
        access_key=access_key,
        action=action,
        biz_type=biz_type,
        ts=ts,
        body=body,
        access_secret=access_secret,
    )
    if algorithm == "md5":
        return hashlib.md5(payload, usedforsecurity=False).hexdigest()
    if algorithm == "sha256":
        return hashlib.sha256(payload).hexdigest()
    raise ValueError(f"algorithm must be 'md5' or 'sha256', not {algorithm!r}")
