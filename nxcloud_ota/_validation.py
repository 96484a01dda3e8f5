"""Input validation and masking, as pure functions.

Each validator returns the normalised value or raises :class:`InvalidInputError`
naming the field, so that nothing invalid is ever signed or sent.
"""

from __future__ import annotations

import ipaddress
import re

from ._errors import InvalidInputError

__all__ = [
    "is_local_host",
    "is_loopback_host",
    "mask_phone",
    "normalize_phone",
    "validate_ip",
    "validate_token",
]

_PHONE_SEPARATORS = str.maketrans("", "", " -.()")
_DIGITS = re.compile(r"[0-9]{6,15}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# An IPv4 address already in canonical form (no leading zeros): the common case,
# accepted without the cost of the ipaddress module.
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def normalize_phone(value: object, field: str = "phone") -> str:
    """Return the phone number as sent: country code and number, digits only.

    An optional leading ``+`` and the separators space, ``-``, ``.``, ``(`` and
    ``)`` are removed; what remains must be 6 to 15 digits, not starting with 0.

    >>> normalize_phone("+86 158-0000-1795")
    '8615800001795'
    """
    if not isinstance(value, str):
        raise InvalidInputError(field, f"must be a string, not {type(value).__name__}")
    digits = value.strip()
    digits = digits.removeprefix("+").translate(_PHONE_SEPARATORS)
    if not _DIGITS.fullmatch(digits):
        raise InvalidInputError(
            field, "must be 6-15 digits (country code and number, optional leading '+')"
        )
    if digits.startswith("0"):
        raise InvalidInputError(
            field, "must start with the country code, not 0 (drop a leading '00' or trunk '0')"
        )
    return digits


def validate_ip(value: object, field: str = "user_ip") -> str:
    """Return the end user's IP address in canonical form.

    It must be an IPv4 or IPv6 literal and not the unspecified address.

    >>> validate_ip("2001:DB8:0:0::7")
    '2001:db8::7'
    """
    if not isinstance(value, str):
        raise InvalidInputError(field, f"must be a string, not {type(value).__name__}")
    if _CANONICAL_IPV4.fullmatch(value) and value != "0.0.0.0":  # noqa: S104 - compared, not bound
        return value
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidInputError(field, "must be an IPv4 or IPv6 address") from None
    if address.is_unspecified:
        raise InvalidInputError(field, "must be the phone's address, not the unspecified one")
    return str(address)


def validate_token(value: object, field: str, *, ascii_only: bool = False) -> str:
    """Check a key or identifier: a non-empty string, no surrounding whitespace,
    no control characters (some of them end up in HTTP headers).

    The value itself never appears in the error message.
    """
    if not isinstance(value, str):
        raise InvalidInputError(field, f"must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidInputError(field, "must not be empty")
    if value != value.strip():
        raise InvalidInputError(field, "must not have surrounding whitespace")
    if _CONTROL.search(value):
        raise InvalidInputError(field, "must not contain control characters")
    if ascii_only and not value.isascii():
        raise InvalidInputError(field, "must be ASCII (it is sent as an HTTP header)")
    return value


def mask_phone(phone: str) -> str:
    """Mask a phone number for logs and messages, keeping its shape.

    Args:
        phone: The number, digits only (as the client normalises it).

    >>> mask_phone("8615800001795")
    '8615800****95'
    """
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:-6] + "****" + phone[-2:]


def is_loopback_host(host: str) -> bool:
    """Whether a host is this machine: ``localhost`` or a loopback address.

    >>> [is_loopback_host(h) for h in ("127.0.0.1", "[::1]", "localhost", "0.0.0.0")]
    [True, True, True, False]
    """
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_host(host: str) -> bool:
    """Whether a host never leaves this machine or the reserved test names.

    >>> [is_local_host(h) for h in ("127.0.0.1", "::1", "localhost", "fake.nxcloud.test")]
    [True, True, True, True]
    >>> is_local_host("api2.nxcloud.com"), is_local_host("10.0.0.5")
    (False, False)
    """
    name = host.strip("[]").lower().rstrip(".")
    return name.endswith((".localhost", ".test")) or is_loopback_host(name)
