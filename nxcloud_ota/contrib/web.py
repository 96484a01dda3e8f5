"""Framework-free pieces of a web backend that starts OTA logins.

The FastAPI and aiohttp examples are thin shells around these three:

- :class:`TrustedProxies` and :func:`client_ip`: the end user's IP address for
  ``init``, from the connection, or from ``X-Forwarded-For`` only when the
  connection comes from a proxy you trust.
- :func:`error_reply`: the HTTP status and JSON body that answer an
  :class:`~nxcloud_ota.NxCloudError` (422 bad input, 502 provider error, 503 no
  answer, ...).
- :func:`receive_callback`: parse the provider's status callback and confirm it
  with ``verify``, since the callback carries no signature.
- :data:`HIDE_QUERY_STRINGS`: a logging filter for access logs, which would
  otherwise keep the callback's query string, the full phone number in it.

None of them imports a web framework.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping

import attrs

from .._client import AsyncOtaClient
from .._errors import (
    ApiError,
    InvalidInputError,
    NxCloudError,
    ProtocolError,
    RecordNotFoundError,
    RequestMaybeSentError,
    TransportError,
)
from .._models import CallbackEvent, VerifyStatus
from .._validation import mask_phone

__all__ = [
    "HIDE_QUERY_STRINGS",
    "CallbackReply",
    "ErrorReply",
    "HideQueryStrings",
    "TrustedProxies",
    "client_ip",
    "error_reply",
    "receive_callback",
]

_log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _unmapped(address: IPAddress) -> IPAddress:
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: ``a.b.c.d``, ``a.b.c.d:port``, ``v6``,
    ``[v6]`` or ``[v6]:port``; ``None`` if it is none of these."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return _unmapped(ipaddress.ip_address(text))
    except ValueError:
        return None


@attrs.frozen
class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` header is believed: addresses or networks.

    >>> trusted = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1")
    >>> ipaddress.ip_address("10.1.2.3") in trusted, ipaddress.ip_address("8.8.8.8") in trusted
    (True, False)
    """

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> TrustedProxies:
        """From a comma-separated string (an environment variable, say) or an
        iterable of addresses and CIDR networks; an empty string trusts nobody.

        Raises :class:`InvalidInputError` (field ``trusted_proxies``) on an entry
        that is neither.
        """
        items = spec.split(",") if isinstance(spec, str) else spec
        networks: list[IPNetwork] = []
        for item in (i.strip() for i in items):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise InvalidInputError(
                    "trusted_proxies", "each entry must be an IP address or a CIDR network"
                ) from None
        return cls(tuple(networks))

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return False
        address = _unmapped(address)
        return any(address in network for network in self.networks)


def client_ip(
    peer: str | None,
    forwarded_for: Iterable[str] = (),
    trusted: TrustedProxies = TrustedProxies(),
) -> str:
    """Return the end user's IP address, for :meth:`AsyncOtaClient.init`.

    ``peer`` is the address of the connection's other end; ``forwarded_for``
    holds the values of every ``X-Forwarded-For`` header, in order.

    The rule: anyone can send ``X-Forwarded-For``, so it is ignored unless
    ``peer`` is a trusted proxy. Each proxy appends the address it saw, so the
    list is read from the right: trusted proxies are skipped, and the first
    address that is not one is the client (what is left of it may be forged).
    If every address is trusted, the left-most is taken; a trusted proxy that
    sent no header is itself the client.

    >>> trusted = TrustedProxies.parse("10.0.0.0/8")
    >>> client_ip("10.0.0.2", ["198.51.100.66, 203.0.113.7, 10.0.0.9"], trusted)
    '203.0.113.7'
    >>> client_ip("192.0.2.50", ["198.51.100.66"], trusted)  # not a trusted proxy
    '192.0.2.50'

    Raises :class:`InvalidInputError` naming ``user_ip`` when the connection has
    no IP address (a Unix socket), or ``X-Forwarded-For`` when a trusted hop
    passed on something that is not an address.
    """
    address = _parse_address(peer) if peer else None
    if address is None:
        raise InvalidInputError("user_ip", "the connection has no IP address to use")
    if address not in trusted:
        return str(address)
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse_address(hop)
        if address is None:
            raise InvalidInputError("X-Forwarded-For", "a trusted proxy sent a malformed address")
        if address not in trusted:
            return str(address)
    return str(address)


@attrs.frozen
class ErrorReply:
    """What to answer for an error: an HTTP ``status`` and a JSON ``body``."""

    status: int
    body: dict[str, str | int]


def error_reply(exc: NxCloudError) -> ErrorReply:
    """Map a package error to the answer a web backend gives its own caller.

    ==========================================  ======  ==========================
    error                                       status  body ``error``
    ==========================================  ======  ==========================
    :class:`InvalidInputError`                  422     ``invalid_input``, ``field``
    :class:`RecordNotFoundError` (2205)         404     ``not_found``, ``code``
    any other :class:`ApiError`                 502     ``provider_error``, ``code``
    :class:`RequestMaybeSentError` from init    503     ``login_may_have_started``
    (an :class:`UnreadableAnswerError` too)
    any other :class:`ProtocolError`            502     ``provider_error``
    any other :class:`TransportError`           503     ``provider_unavailable``
    anything else                               500     ``internal_error``
    ==========================================  ======  ==========================

    The provider's ``msg`` is not passed on: it can describe your account (its
    balance, its apps) to whoever called you. Log the exception for that.

    >>> error_reply(InvalidInputError("phone", "must be 6-15 digits")).body["field"]
    'phone'
    """
    if isinstance(exc, InvalidInputError):
        return ErrorReply(422, {"error": "invalid_input", "field": exc.field, "detail": str(exc)})
    if isinstance(exc, RecordNotFoundError):
        detail = "no such login, or it has expired"
        return ErrorReply(404, {"error": "not_found", "code": exc.code, "detail": detail})
    if isinstance(exc, ApiError):
        detail = "the login provider refused the request"
        return ErrorReply(502, {"error": "provider_error", "code": exc.code, "detail": detail})
    if isinstance(exc, RequestMaybeSentError) and exc.action == "init":
        # Before ProtocolError: an unreadable answer to init is both.
        detail = (
            "the login provider did not answer clearly, but a login may have started: "
            "wait for it before starting another"
        )
        return ErrorReply(503, {"error": "login_may_have_started", "detail": detail})
    if isinstance(exc, ProtocolError):
        detail = "the login provider gave an unreadable answer"
        return ErrorReply(502, {"error": "provider_error", "detail": detail})
    if isinstance(exc, TransportError):
        detail = "the login provider could not be reached; try again later"
        return ErrorReply(503, {"error": "provider_unavailable", "detail": detail})
    return ErrorReply(500, {"error": "internal_error"})


@attrs.frozen
class CallbackReply:
    """How a status callback was handled.

    Answer the provider with ``text`` (``success`` or ``error``) and HTTP
    ``status``. Record ``confirmed`` for ``request_id`` when it is not ``None``:
    it is ``verify``'s final answer, never the callback's unsigned claim.
    """

    status: int
    text: str
    request_id: str | None = None
    confirmed: VerifyStatus | None = None


async def receive_callback(client: AsyncOtaClient, query: Mapping[str, str]) -> CallbackReply:
    """Handle one status callback: parse its query string, then ask ``verify``.

    - A malformed callback answers 400 ``error``.
    - Otherwise ``verify`` is asked for the real status, whatever the callback
      says (a forged ``FAILURE`` could lock a user out as surely as a forged
      ``SUCCESS`` could let one in). A final status is returned as
      ``confirmed``; a ``PENDING`` one, or a login the provider does not know,
      is acknowledged with ``success`` and not confirmed.
    - When ``verify`` fails (the provider unreachable, an API error), the answer
      is ``error`` with the status of :func:`error_reply`, so a provider that
      redelivers can try again.

    Logs name the ``requestId``, the statuses and the masked phone number.
    """
    try:
        event = CallbackEvent.from_query(query)
    except InvalidInputError as exc:
        _log.warning("rejected a malformed status callback: %s", exc)
        return CallbackReply(400, "error")
    phone = mask_phone(event.phone)
    what = f"status callback for {event.request_id} ({event.status.value}, {phone})"
    try:
        checked = await client.verify(event.request_id)
    except RecordNotFoundError:
        _log.warning("%s: the provider knows no such login; ignored", what)
        return CallbackReply(200, "success", event.request_id)
    except NxCloudError as exc:
        _log.warning("%s: could not be confirmed: %s", what, exc)
        return CallbackReply(error_reply(exc).status, "error", event.request_id)
    if not checked.status.is_final:
        _log.warning("%s: verify still says %s; not recorded", what, checked.status.value)
        return CallbackReply(200, "success", event.request_id)
    if checked.status is not event.status:
        _log.warning("%s: verify says %s; recording that", what, checked.status.value)
    else:
        _log.info("%s: confirmed by verify", what)
    return CallbackReply(200, "success", event.request_id, checked.status)


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
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Cut query strings from the record's arguments, or from its message if it
        has none (so a formatter that reads the arguments, as uvicorn's does, still
        finds them); keep the record."""
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
