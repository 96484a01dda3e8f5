"""The values that go in and come out: requests, results and the callback event.

All are frozen attrs classes. Requests validate in ``__init__`` (so an instance is
always valid); results parse in named constructors (``InitResult.from_data``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime

import attrs

from ._errors import InvalidInputError
from ._validation import mask_phone, normalize_phone, validate_ip, validate_token

__all__ = ["CallbackEvent", "InitRequest", "InitResult", "VerifyResult", "VerifyStatus"]


class VerifyStatus(str, enum.Enum):
    """The outcome of a login, as ``verify`` and the status callback report it.

    A status this release does not know (one the provider adds later, say
    ``"EXPIRED"``) is kept as it came: ``VerifyStatus("EXPIRED")`` is a
    ``VerifyStatus`` whose ``value`` is ``"EXPIRED"``, that is none of the five
    members below (``is_known`` is ``False``) and that counts as final. Comparing
    with ``is VerifyStatus.PENDING`` and the like keeps working.

    >>> status = VerifyStatus("EXPIRED")
    >>> status.value, status.is_known, status.is_final, status is VerifyStatus.PENDING
    ('EXPIRED', False, True, False)

    Args:
        value: The status as the API writes it (``"SUCCESS"``, ...).
    """

    SUCCESS = "SUCCESS"
    """The phone's SIM matches the number: the login is confirmed."""
    PENDING = "PENDING"
    """The phone has not opened the url yet (or the carrier has not answered)."""
    MISMATCH = "MISMATCH"
    """The SIM belongs to another number."""
    FAILURE = "FAILURE"
    """The verification failed (for example not on mobile data)."""
    UNKNOWN = "UNKNOWN"
    """The carrier gave no usable answer."""

    @property
    def is_final(self) -> bool:
        """``True`` for every status but ``PENDING``: polling can stop."""
        return self is not VerifyStatus.PENDING

    @property
    def is_known(self) -> bool:
        """``False`` for a status this release does not know (kept as received)."""
        return self._name_ in VerifyStatus.__members__

    @classmethod
    def _missing_(cls, value: object) -> VerifyStatus | None:
        # Not one of the members: a short printable text becomes a status of its
        # own, not cached (a hostile server could send endless distinct ones).
        if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isprintable():
            return None
        status = str.__new__(cls, value)
        status._name_ = value
        status._value_ = value
        return status


def _phone(value: str) -> str:
    return normalize_phone(value, "phone")


def _ip(value: str) -> str:
    return validate_ip(value, "user_ip")


@attrs.frozen
class InitRequest:
    """One login to start: a validated, normalised phone number and user IP.

    Constructing it validates both fields and raises :class:`InvalidInputError`
    naming the field. The phone number is masked in the ``repr``.

    Args:
        phone: The number with its country code; ``+``, spaces, dashes, dots and
            parentheses are removed.
        user_ip: The public IPv4 or IPv6 address of the user's phone.

    >>> InitRequest(phone="+86 158 0000 1795", user_ip="203.0.113.7")
    InitRequest(phone='8615800****95', user_ip='203.0.113.7')
    """

    phone: str = attrs.field(converter=_phone, repr=lambda p: repr(mask_phone(p)))
    user_ip: str = attrs.field(converter=_ip)


def _require_str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"data.{key} is missing or not a non-empty string")
    return value


@attrs.frozen
class InitResult:
    """A started login: hand ``url`` to the phone, keep ``request_id`` for ``verify``.

    Args:
        request_id: The login's id, for :meth:`AsyncOtaClient.verify`.
        url: The page the phone opens, over mobile data, to complete the login.
    """

    request_id: str
    url: str

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> InitResult:
        """Parse the envelope's ``data`` object; ``ValueError`` if a field is missing.

        Args:
            data: The ``data`` object of the API's answer, as decoded from JSON.
        """
        return cls(request_id=_require_str(data, "requestId"), url=_require_str(data, "url"))


def _status(value: object, where: str) -> VerifyStatus:
    """One of the known statuses (the callback's), or ``InvalidInputError``."""
    status = VerifyStatus.__members__.get(value) if isinstance(value, str) else None
    if status is None:
        allowed = ", ".join(s.value for s in VerifyStatus)
        raise InvalidInputError(where, f"must be one of {allowed}")
    return status


@attrs.frozen
class VerifyResult:
    """The state of a login: ``status`` is final unless it is ``PENDING``.

    A status the provider added after this release is returned as it came (see
    :class:`VerifyStatus`), not refused.

    Args:
        request_id: The login's id.
        status: Where the login stands.
    """

    request_id: str
    status: VerifyStatus

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> VerifyResult:
        """Parse the envelope's ``data`` object; ``ValueError`` if a field is missing.

        Args:
            data: The ``data`` object of the API's answer, as decoded from JSON.
        """
        raw = _require_str(data, "status")
        try:
            status = VerifyStatus(raw)  # one it does not know is kept, not refused
        except ValueError:
            raise ValueError("data.status is not a short printable text") from None
        return cls(request_id=_require_str(data, "requestId"), status=status)


_DR_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@attrs.frozen
class CallbackEvent:
    """The provider's status callback, parsed from the query string it POSTs.

    The callback carries no signature: treat it as a hint and confirm a
    ``SUCCESS`` with :meth:`AsyncOtaClient.verify` before trusting it.

    Args:
        request_id: The login's id (``requestId``).
        phone: The number, digits only; masked in the ``repr``.
        status: The login's final state.
        dr_time: The provider's report time as given (``drTime``; no time zone
            is documented).

    >>> event = CallbackEvent.from_query({
    ...     "requestId": "989d535f", "phone": "8615800001795",
    ...     "status": "SUCCESS", "drTime": "2026-11-28 16:20:00",
    ... })
    >>> event.status, event.dr_time.minute
    (<VerifyStatus.SUCCESS: 'SUCCESS'>, 20)
    """

    request_id: str
    phone: str = attrs.field(repr=lambda p: repr(mask_phone(p)))
    status: VerifyStatus
    dr_time: datetime

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> CallbackEvent:
        """Parse the callback's query parameters (``drTime``, or ``drtime``).

        Works with any mapping: Starlette's ``request.query_params``, aiohttp's
        ``request.query``, or a plain dict. A missing field, an unknown status or a
        malformed time raises :class:`InvalidInputError` naming the parameter.

        Args:
            query: The callback's query parameters.
        """
        request_id = validate_token(query.get("requestId"), "requestId")
        phone = normalize_phone(query.get("phone"), "phone")
        status = _status(query.get("status"), "status")
        time_key = "drTime" if "drTime" in query else "drtime"
        raw_time = query.get(time_key)
        if not isinstance(raw_time, str):
            raise InvalidInputError("drTime", "is missing")
        try:
            dr_time = datetime.strptime(raw_time, _DR_TIME_FORMAT)
        except ValueError:
            raise InvalidInputError(time_key, "must look like 2026-01-31 23:59:59") from None
        return cls(request_id=request_id, phone=phone, status=status, dr_time=dr_time)
