"""The end user's IP address: from the connection, or from ``X-Forwarded-For`` only
when the connection comes from a proxy you trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import attrs

from ..._errors import InvalidInputError

__all__ = ["TrustedProxies", "address_key", "client_ip"]

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

    Args:
        networks: The trusted networks (a single address is a ``/32`` or
            ``/128`` network); empty: trust nobody. :meth:`parse` makes them
            from text.
    """

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> TrustedProxies:
        """From a comma-separated string (an environment variable, say) or an
        iterable of addresses and CIDR networks; an empty string trusts nobody.

        Raises :class:`InvalidInputError` (field ``trusted_proxies``) on an entry
        that is neither.

        Args:
            spec: ``"10.0.0.0/8, 127.0.0.1"``, or the entries one by one.
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

    Args:
        peer: The address of the connection's other end, as the web framework
            gives it (``a.b.c.d``, ``[v6]:port``, ...); ``None`` for a Unix socket.
        forwarded_for: The values of every ``X-Forwarded-For`` header, in order.
        trusted: The proxies whose header is believed; by default none.
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


def address_key(user_ip: str, ipv6_prefix: int = 64) -> str:
    """The key a budget counts an address under: an IPv4 address itself, an IPv6
    address by its ``/ipv6_prefix`` network (one subscriber usually holds a whole
    ``/64``, so counting single IPv6 addresses would let one client walk around
    the budget).

    >>> address_key("203.0.113.7"), address_key("2001:db8:1:2:3:4:5:6")
    ('203.0.113.7', '2001:db8:1:2::/64')

    Raises :class:`InvalidInputError` naming ``user_ip`` for anything else.

    Args:
        user_ip: An IPv4 or IPv6 address.
        ipv6_prefix: The length of the network an IPv6 address is counted by.
    """
    address = _parse_address(user_ip)
    if address is None:
        raise InvalidInputError("user_ip", "must be an IPv4 or IPv6 address")
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
