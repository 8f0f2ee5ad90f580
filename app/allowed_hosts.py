"""CALLBACK_ALLOWED_HOSTS read as a policy: the hosts and networks a callback may reach
although the address rules of `app.callbacks.targets` refuse them, and how a host is read
(IP literals in every form the OS resolver accepts).

Settings parse the policy when they load, so a bad entry stops the service at start-up;
this module therefore sits beneath `app.config` and imports nothing of the service.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Exceptions to the rule: `hosts` are (host, port or None for any port) reachable
    whatever they resolve to; `networks` are address ranges that may be reached."""

    hosts: frozenset[tuple[str, int | None]] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TargetPolicy:
        """`host`, `host:port`, `[v6]:port` or a CIDR (`10.1.0.0/16`); raises ValueError
        naming a bad entry."""
        hosts: set[tuple[str, int | None]] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"{entry!r} is not a CIDR network") from None
                continue
            host, port = _split_host_port(entry)
            hosts.add((host, port))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str, port: int) -> bool:
        key = canonical_host(host)
        return (key, port) in self.hosts or (key, None) in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def _split_host_port(entry: str) -> tuple[str, int | None]:
    host, port_text = entry, ""
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{entry!r} is not host[:port]")
        port_text = rest[1:]
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{entry!r}: the port must be 1-65535")
        port = int(port_text)
    if not host:
        raise ValueError(f"{entry!r} has no host")
    return canonical_host(host), port


def canonical_host(host: str) -> str:
    """A host compared as the resolver would read it: IP literals in their standard form,
    names lower-case without a trailing dot."""
    address = parse_ip(host)
    if address is not None:
        return str(address)
    return host.lower().rstrip(".")


def parse_ip(host: str) -> IPAddress | None:
    """The address an IP literal means to the OS resolver, or None for a name.

    IPv4 is read as inet_aton reads it, so the decimal (`2130706433`), hexadecimal
    (`0x7f.1`), octal (`017700000001`) and short (`127.1`) forms are the addresses they
    reach; IPv6 may be bracketed and carry a zone (`fe80::1%eth0`).
    """
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    if not text or not all(c.isalnum() or c == "." for c in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None
