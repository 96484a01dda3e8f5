"""How the simulator judges a request, as pure functions: authentication and body.

:func:`authenticate` checks, in the provider's order: the five common headers
(1001), ``bizType`` and ``action`` (1002), the access key (1005), ``ts`` against
the simulator's clock (1004), then the signature over the raw body bytes and the
Content-Type (1003). :func:`parse_body` checks the JSON body (9901).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Mapping

import attrs

from .._signing import ALGORITHMS, Algorithm, compute_sign
from ._records import Account

__all__ = [
    "BIZ_TYPE",
    "MESSAGES",
    "REQUIRED_FIELDS",
    "REQUIRED_HEADERS",
    "TS_WINDOW_MS",
    "Rejection",
    "authenticate",
    "parse_body",
    "rejection",
]

BIZ_TYPE = "6"
TS_WINDOW_MS = 60_000
REQUIRED_HEADERS = ("accessKey", "ts", "bizType", "action", "sign")
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "init": ("appkey", "phone", "userIp"),
    "verify": ("appkey", "requestId"),
}

MESSAGES: Mapping[int, str] = {
    0: "Request successful",
    88: "Request failed",
    99: "System error",
    1001: "Missing common header",
    1002: "Invalid bizType or action",
    1003: "Invalid signature",
    1004: "Timestamp expired",
    1005: "No permission",
    2205: "Message record does not exist",
    2206: "Request is too frequent",
    9901: "Parameter error or missing",
    9906: "Application does not exist or is not available",
    9907: "Application has no corresponding quotation",
    9908: "Insufficient account balance",
}

_PHONE = re.compile(r"[1-9][0-9]{5,14}")
_ALGORITHM_BY_NAME: Mapping[str, Algorithm] = {name: name for name in ALGORITHMS}


@attrs.frozen
class Rejection:
    """A non-zero envelope: ``code`` and its English ``msg``."""

    code: int
    msg: str


def rejection(code: int, detail: str = "") -> Rejection:
    """Return the rejection for ``code``, its standard text followed by ``detail``."""
    msg = MESSAGES.get(code, "Simulated error")
    return Rejection(code, f"{msg}: {detail}" if detail else msg)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    *,
    action: str,
    accounts: Mapping[str, Account],
    now_ms: int,
) -> Account | Rejection:
    """Return the calling account, or why the request is refused.

    ``headers`` has lower-case names; ``now_ms`` is the simulator's clock.
    """
    for name in REQUIRED_HEADERS:
        if not headers.get(name.lower()):
            return rejection(1001, name)
    if headers["biztype"] != BIZ_TYPE or headers["action"] != action:
        return rejection(1002)
    account = accounts.get(headers["accesskey"])
    if account is None:
        return rejection(1005)
    ts = headers["ts"]
    if not (ts.isascii() and ts.isdigit()) or abs(int(ts) - now_ms) > TS_WINDOW_MS:
        return rejection(1004)
    algorithm = _ALGORITHM_BY_NAME.get((headers.get("algorithm") or "md5").lower())
    if algorithm is None:
        return rejection(1003, f"algorithm must be one of {', '.join(ALGORITHMS)}")
    expected = compute_sign(
        access_key=account.access_key,
        action=action,
        biz_type=BIZ_TYPE,
        ts=ts,
        body=body,
        access_secret=account.access_secret,
        algorithm=algorithm,
    )
    if not hmac.compare_digest(expected.encode(), headers["sign"].encode("latin-1")):
        return rejection(1003)
    if not _is_json(headers.get("content-type", "")):
        return rejection(1003, "Content-Type must be application/json")
    return account


def parse_body(body: bytes, action: str) -> dict[str, str] | Rejection:
    """Return the required body fields as strings, or a 9901 rejection naming one."""
    try:
        data = json.loads(body)
    except ValueError:
        return rejection(9901, "body must be a JSON object")
    if not isinstance(data, dict):
        return rejection(9901, "body must be a JSON object")
    fields: dict[str, str] = {}
    for name in REQUIRED_FIELDS[action]:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            return rejection(9901, name)
        fields[name] = value
    if action == "init":
        if not _PHONE.fullmatch(fields["phone"]):
            return rejection(9901, "phone")
        try:
            ipaddress.ip_address(fields["userIp"])
        except ValueError:
            return rejection(9901, "userIp")
    return fields
