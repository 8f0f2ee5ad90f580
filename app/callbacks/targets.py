"""Which addresses a callback may reach: never this machine, its networks or a cloud's
metadata service, unless CALLBACK_ALLOWED_HOSTS names the exception.

A callback URL is chosen by whoever holds an `events:write` key, and the workers POST to it
and list each answer (`GET /callbacks/deliveries`): without this guard that is a scanner of
everything the workers can reach. The URL is checked twice:

- at registration (`check_url`, then `check_resolved`): its shape (no password in it), its
  host (IP literals in every form the OS resolver accepts, `2130706433` and `0x7f.1` too;
  names that are local by definition), and every address the name resolves to then;
- at delivery, at connect time (`PinnedBackend`): the name is resolved again, every address
  is checked, and the connection is made to a checked address, never to a second lookup, so
  a name that answers a public address first and 127.0.0.1 later (DNS rebinding) is refused.
  httpx keeps the URL's host in the `Host` header and as the TLS server name (SNI), so
  virtual hosts and certificates work as they would without the pin. Redirects are never
  followed (`app.callbacks.delivery.callback_client`), and no proxy from the environment is
  used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import typing
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from app.allowed_hosts import IPAddress, TargetPolicy, canonical_host, parse_ip

# host, port -> the addresses it resolves to (textual IPs), as getaddrinfo answers.
Resolver = Callable[[str, int], Awaitable[list[str]]]

RESOLVE_TIMEOUT = 5.0  # seconds for one name lookup
DEFAULT_PORTS = {"http": 80, "https": 443}
# Names that are local by definition: RFC 6761 (localhost), RFC 6762 (.local), RFC 8375
# (.home.arpa), ICANN's private-use .internal, and the clouds' metadata services.
LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "metadata.google.internal", "metadata.goog"}
)
LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa")
# Letters, digits, '-' and '_' in non-empty dot-separated labels (RFC 1123, plus '_' that
# resolvers accept), at most 253 characters.
HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9_-]+(\.[a-z0-9_-]+)*")
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")  # RFC 4193; AWS metadata: fd00:ec2::254


class TargetRefused(ValueError):
    """The callback URL or one of its addresses may not be reached; the message says why."""


class AddressNotAllowed(httpcore.ConnectError):
    """Raised at connect time for a refused address; httpx turns it into a ConnectError
    whose `__cause__` is this."""


# -- addresses -----------------------------------------------------------------------------


def blocked_reason(address: IPAddress) -> str | None:
    """Why a worker may not connect to `address` (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one reaches that IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"{inner} (as {embedded})" if inner else None
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local (cloud metadata lives here)"),
        (address.is_multicast, "multicast"),
        (
            isinstance(address, ipaddress.IPv6Address) and address.is_site_local,
            "site-local",
        ),
        (address in UNIQUE_LOCAL, "unique-local"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    )
    for matched, reason in checks:
        if matched:
            return reason
    return None


def _refuse_address(host: str, address: IPAddress, policy: TargetPolicy) -> None:
    reason = blocked_reason(address)
    if reason is not None and not policy.allows_address(address):
        if host == str(address):
            shown = host
        elif parse_ip(host) is not None:
            shown = f"{host} ({address})"
        else:
            shown = f"{host} resolves to {address}"
        raise TargetRefused(
            f"address not allowed: {shown} is {reason}; CALLBACK_ALLOWED_HOSTS admits exceptions"
        )


# -- checks --------------------------------------------------------------------------------


def parse_callback_url(url: str) -> httpx.URL:
    """The URL as the sender reads it (httpx's parser): http(s), a host, no user name or
    password. Raises TargetRefused saying why, never repeating the URL."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise TargetRefused("not a valid URL") from None
    if parsed.scheme not in DEFAULT_PORTS:
        raise TargetRefused("the URL must be http or https")
    if parsed.userinfo:
        raise TargetRefused("the URL must not carry a user name or password")
    if not parsed.host:
        raise TargetRefused("the URL needs a host")
    return parsed


def redact_url(url: str) -> str:
    """The URL without the password a callback stored before they were refused."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    return str(parsed.copy_with(username="***", password=None)) if parsed.userinfo else url


def target_port(parsed: httpx.URL) -> int:
    return parsed.port or DEFAULT_PORTS[parsed.scheme]


def check_url(url: str, policy: TargetPolicy) -> httpx.URL:
    """The checks that need no lookup: `parse_callback_url`, and a host that is neither a
    refused IP literal (in any form the resolver reads) nor a local name. Returns the parsed
    URL; raises TargetRefused saying why."""
    parsed = parse_callback_url(url)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as it is resolved
    if policy.allows_host(host, target_port(parsed)):
        return parsed
    address = parse_ip(host)
    if address is not None:
        _refuse_address(host, address, policy)
        return parsed
    name = canonical_host(host)
    if not HOST_NAME.fullmatch(name) or any(len(label) > 63 for label in name.split(".")):
        raise TargetRefused("the URL's host is not a valid host name")
    if name in LOCAL_NAMES or name.endswith(LOCAL_SUFFIXES):
        raise TargetRefused(f"address not allowed: {name} is a local name")
    if "." not in name:
        raise TargetRefused(
            f"address not allowed: {name} is a single-label name (the resolver's search "
            "domains make it local)"
        )
    return parsed


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (getaddrinfo), in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        # Bytes: the host is IDNA-encoded already, and Python's own codec (IDNA 2003) must
        # not encode it a second, different way.
        raw = host.encode("ascii")
    except UnicodeEncodeError:
        raise OSError(f"{host!r} is not an encoded host name") from None
    infos = await asyncio.wait_for(
        loop.getaddrinfo(raw, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_resolved(
    host: str, port: int, policy: TargetPolicy, resolve: Resolver = system_resolve
) -> list[str]:
    """Resolve `host` and check every address; returns them (all allowed). Raises
    TargetRefused when one is refused, OSError / TimeoutError when the name does not
    resolve. A host CALLBACK_ALLOWED_HOSTS names is not checked."""
    addresses = await resolve(host, port)
    if policy.allows_host(host, port):
        return addresses
    for text in addresses:
        address = parse_ip(text)
        if address is None:  # a resolver answers addresses; anything else is not one
            raise TargetRefused(f"address not allowed: {host} resolves to {text!r}")
        _refuse_address(host, address, policy)
    return addresses


async def check_registration(
    url: str, policy: TargetPolicy, resolve: Resolver = system_resolve
) -> None:
    """What `PUT /callbacks` checks: `check_url`, then the addresses the name has now. A name
    that does not resolve yet is accepted; each delivery checks again at connect time."""
    parsed = check_url(url, policy)
    port = target_port(parsed)
    host = parsed.raw_host.decode("ascii")
    if parse_ip(host) is not None or policy.allows_host(host, port):
        return
    try:
        await check_resolved(host, port, policy, resolve)
    except (OSError, TimeoutError):
        return


# -- the pinned connection -----------------------------------------------------------------


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, but every TCP connection goes to an address checked
    here: the host is resolved once, each address is checked, and the connection is made
    to those addresses (in order), never to the name."""

    def __init__(
        self,
        policy: TargetPolicy,
        resolve: Resolver = system_resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolve = resolve
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.check(host, port)
        except TargetRefused as err:
            raise AddressNotAllowed(str(err)) from None
        except (OSError, TimeoutError) as err:
            raise httpcore.ConnectError(f"{host} does not resolve ({err})") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                last = err
        raise last or httpcore.ConnectError(f"{host} has no address")

    async def check(self, host: str, port: int) -> list[str]:
        return await check_resolved(host, port, self.policy, self.resolve)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressNotAllowed("address not allowed: unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over `PinnedBackend`: no proxy, no environment settings."""

    def __init__(
        self,
        policy: TargetPolicy,
        resolve: Resolver = system_resolve,
        limits: httpx.Limits = httpx.Limits(),
        verify: typing.Any = True,
    ) -> None:
        super().__init__(trust_env=False, limits=limits, verify=verify)
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=False)
        # httpx builds its pool without a way to pass a network backend; this pool is the
        # one it would build, plus the backend (tests/callbacks/test_targets.py proves it).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(policy, resolve),
        )


def refused_by_guard(err: BaseException) -> str | None:
    """The reason, when an httpx error is the guard refusing an address."""
    cause = err.__cause__ or err.__context__
    return str(cause) if isinstance(cause, AddressNotAllowed) else None
