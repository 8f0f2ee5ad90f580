"""Callbacks never reach inside the network: refused targets at registration (422 naming
/url) and again at delivery, on the addresses the name resolves to when connecting (DNS
rebinding), with the connection pinned to a checked address; exceptions only through
CALLBACK_ALLOWED_HOSTS; no password in a URL, ever.

Deliveries here go over real sockets to a receiver on 127.0.0.1 (tests.support.receiver).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.allowed_hosts import TargetPolicy, parse_ip
from app.callbacks import verify_notice
from app.callbacks.delivery import DeliveryDeps, callback_client, deliver_due
from app.callbacks.models import Callback, CallbackAttempt, CallbackDelivery
from app.callbacks.service import enqueue_notice, set_callback
from app.callbacks.targets import PinnedTransport, Resolver, blocked_reason
from app.config import Settings
from app.core.cipher import TokenCipher
from app.db import utcnow
from tests.fixtures.logscan import remember_secret
from tests.fixtures.world import World
from tests.support.factories import customer_event
from tests.support.receiver import LocalReceiver

Factory = async_sessionmaker[AsyncSession]
SECRET = "targets-callback-secret-0123456789"
PUBLIC = "93.184.216.34"

# The list, and the other ways to say the same places.
REFUSED_URLS = [
    "http://127.0.0.1/hooks",
    "http://localhost:8000/hooks",
    "http://[::1]/hooks",
    "http://0.0.0.0/hooks",
    "http://2130706433/hooks",
    "http://0x7f.1/hooks",
    "http://017700000001/hooks",
    "http://127.1/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.0.0.1/hooks",
    "http://192.168.1.1/hooks",
    "http://172.16.5.4/hooks",
    "http://100.64.0.1/hooks",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/computeMetadata/v1/",
    "http://api.localhost/hooks",
    "http://printer.local/hooks",
    "http:///nohost",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[::ffff:a9fe:a9fe]/hooks",
    "http://[64:ff9b::a9fe:a9fe]/hooks",
    "http://[2002:7f00:1::1]/hooks",
    "http://[fe80::1]/hooks",
    "http://224.0.0.1/hooks",
    "http://[ff02::1]/hooks",
    "http://240.0.0.1/hooks",
    "http://255.255.255.255/hooks",
    "http://evil.example\\@127.0.0.1/hooks",
    # Not host names at all (the resolver would fail on them, or read them its own way).
    "http://" + "a" * 64 + ".example/hooks",
    "http://a..b.example/hooks",
    "http://%31%32%37.0.0.1/hooks",
]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def resolver(table: dict[str, list[list[str]]]) -> Resolver:
    """Each name answers its lists in turn (the last one from then on); others fail."""

    async def resolve(host: str, port: int) -> list[str]:
        answers = table.get(host)
        if not answers:
            raise OSError(f"{host} does not resolve")
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return resolve


@pytest.fixture
def allow(app: FastAPI) -> Iterator[Any]:
    """`allow("127.0.0.1:9000", ...)`: the API's CALLBACK_ALLOWED_HOSTS for this test."""
    original: Settings = app.state.settings

    def set_allowed(*entries: str) -> Settings:
        app.state.settings = original.model_copy(update={"callback_allowed_hosts": list(entries)})
        return app.state.settings  # type: ignore[no-any-return]

    yield set_allowed
    app.state.settings = original


@pytest.fixture
def names(app: FastAPI) -> Iterator[dict[str, list[list[str]]]]:
    """The table PUT /callbacks resolves names with, for this test."""
    original = app.state.callback_resolver
    table: dict[str, list[list[str]]] = {}
    app.state.callback_resolver = resolver(table)
    yield table
    app.state.callback_resolver = original


async def _stored(factory: Factory) -> list[Callback]:
    async with factory() as session:
        return list((await session.scalars(select(Callback))).all())


async def _attempts(factory: Factory) -> list[CallbackAttempt]:
    async with factory() as session:
        return list(
            (await session.scalars(select(CallbackAttempt).order_by(CallbackAttempt.at))).all()
        )


async def _put(client: httpx.AsyncClient, auth: dict[str, str], url: str) -> httpx.Response:
    return await client.put("/callbacks", json={"url": url, "secret": SECRET}, headers=auth)


# -- registration --------------------------------------------------------------------------


async def test_internal_targets_are_refused_at_registration(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: Factory,
    names: dict[str, list[list[str]]],
) -> None:
    for url in REFUSED_URLS:
        answer = await _put(client, auth, url)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        [error] = answer.json()["errors"]
        assert error["pointer"] == "/url", (url, error)
    assert await _stored(session_factory) == []
    said = (await _put(client, auth, "http://2130706433/hooks")).json()["errors"][0]["detail"]
    assert said == (
        "address not allowed: 2130706433 (127.0.0.1) is loopback; "
        "CALLBACK_ALLOWED_HOSTS admits exceptions"
    )


async def test_a_name_is_refused_when_any_of_its_addresses_is_internal(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: Factory,
    names: dict[str, list[list[str]]],
) -> None:
    names["intranet.example"] = [["10.1.2.3"]]
    names["mixed.example"] = [[PUBLIC, "127.0.0.1"]]
    names["meta.example"] = [["169.254.169.254"]]
    names["v6.example"] = [["2606:2800:220:1:248:1893:25c8:1946", "fd00::1"]]
    for host in ("intranet.example", "mixed.example", "meta.example", "v6.example"):
        answer = await _put(client, auth, f"https://{host}/hooks")
        assert answer.status_code == 422, (host, answer.text)
        [error] = answer.json()["errors"]
        assert error["pointer"] == "/url"
        assert error["detail"].startswith(f"address not allowed: {host} resolves to ")
    assert await _stored(session_factory) == []

    names["billing.example"] = [[PUBLIC]]
    assert (await _put(client, auth, "https://billing.example/hooks")).status_code == 200
    # Not resolvable yet: accepted; every delivery checks when it connects.
    assert (await _put(client, auth, "https://later.example/hooks")).status_code == 200


async def test_a_password_in_the_url_is_refused_and_never_repeated(
    client: httpx.AsyncClient, auth: dict[str, str], session_factory: Factory
) -> None:
    password = "hunter2-callback-password"
    remember_secret(password, kind="callback URL password")
    for url in (
        f"https://ops:{password}@billing.example/hooks",
        f"https://{password}@billing.example/hooks",
        f"https://ops:{password}@127.0.0.1/hooks",
        f"https://ops:{password}@bad host/hooks",
    ):
        answer = await _put(client, auth, url)
        assert answer.status_code == 422, answer.text
        assert [e["pointer"] for e in answer.json()["errors"]] == ["/url"]
        assert password not in answer.text
    assert await _stored(session_factory) == []


async def test_callback_allowed_hosts_admits_named_exceptions_only(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    allow: Any,
    names: dict[str, list[list[str]]],
) -> None:
    allow("127.0.0.1:9000", "10.20.0.0/16", "receiver.internal", "[::1]:9001")
    names["inside.example"] = [["10.20.7.8"]]
    for url in (
        "http://127.0.0.1:9000/hooks",
        "http://10.20.3.4/hooks",
        "http://receiver.internal/hooks",
        "http://[::1]:9001/hooks",
        "https://inside.example/hooks",
    ):
        assert (await _put(client, auth, url)).status_code == 200, url
    for url in (
        "http://127.0.0.1:9001/hooks",  # another port
        "http://10.21.0.1/hooks",
        "http://other.internal/hooks",
        "http://169.254.169.254/",
    ):
        assert (await _put(client, auth, url)).status_code == 422, url


def test_the_setting_is_read_from_the_environment_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1:9000, 10.0.0.0/8,receiver.internal")
    settings = Settings(_env_file=None)
    assert settings.callback_allowed_hosts == ["127.0.0.1:9000", "10.0.0.0/8", "receiver.internal"]
    policy = settings.callback_targets
    assert policy.allows_host("127.0.0.1", 9000)
    assert not policy.allows_host("127.0.0.1", 80)
    assert policy.allows_host("RECEIVER.internal.", 443)
    assert policy.allows_address(ipaddress.ip_address("10.9.9.9"))
    assert Settings(_env_file=None, callback_allowed_hosts=[]).callback_allowed_hosts == []
    for bad in ("10.0.0.0/33", "host:0", "host:http", "[::1"):
        monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", bad)
        with pytest.raises(ValidationError, match="CALLBACK_ALLOWED_HOSTS"):
            Settings(_env_file=None)


def test_ip_literals_are_read_as_the_resolver_reads_them() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    for text in ("2130706433", "0x7f.1", "017700000001", "127.1", "0x7f000001", "127.0.0.1."):
        assert parse_ip(text) == loopback, text
    assert parse_ip("[::1]") == ipaddress.ip_address("::1")
    assert parse_ip("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    for name in ("billing.example", "1.2.3.4.example", "0x7f.example", ""):
        assert parse_ip(name) is None, name
    for public in (PUBLIC, "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"):
        assert blocked_reason(ipaddress.ip_address(public)) is None, public
    assert blocked_reason(ipaddress.ip_address("::ffff:10.0.0.1")) == "private (as 10.0.0.1)"


# -- delivery ------------------------------------------------------------------------------


def _deps(world: World, http: httpx.AsyncClient, **settings: Any) -> DeliveryDeps:
    """One attempt per notice and run: a failed one is next due in an hour."""
    hour = {"callback_retry_base_seconds": 3600.0, "callback_retry_cap_seconds": 3600.0}
    return DeliveryDeps(
        settings=world.settings.model_copy(update={**hour, **settings}),
        session_factory=world.factory,
        cipher=TokenCipher.from_settings(world.settings),
        http=http,
    )


async def _legacy_callback(world: World, url: str) -> None:
    """A callback stored as it was before the rules (straight into the table)."""
    remember_secret(SECRET)
    async with world.factory.begin() as session:
        await set_callback(
            session, "billing", url, SecretStr(SECRET), TokenCipher.from_settings(world.settings)
        )
        await enqueue_notice(session, "billing", "drift.found", {"n": 1})


async def test_a_stored_internal_url_is_refused_at_send_time(world: World) -> None:
    async with LocalReceiver() as receiver:
        for host in ("127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"):
            await _legacy_callback(world, f"http://{host}:{receiver.port}/hooks")
            async with callback_client() as http:
                run = await deliver_due(_deps(world, http))
            assert run.attempted == 1
        assert receiver.heard == []
    attempts = await _attempts(world.factory)
    assert len(attempts) == 4
    for attempt in attempts:
        assert attempt.status_code is None
        assert attempt.error is not None
        assert attempt.error.startswith("address not allowed: "), attempt.error
        assert "loopback" in attempt.error


async def test_a_name_that_rebinds_to_an_internal_address_is_refused_when_connecting(
    world: World, names: dict[str, list[list[str]]]
) -> None:
    async with LocalReceiver() as receiver:
        # Public when PUT /callbacks looks, 127.0.0.1 when the worker connects.
        names["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
        url = f"http://rebind.example:{receiver.port}/hooks"
        assert (await _put(world.client, world.auth, url)).status_code == 200
        async with world.factory.begin() as session:
            await enqueue_notice(session, "billing", "drift.found", {"n": 1})
        worker_names = resolver({"rebind.example": [["127.0.0.1"]]})
        async with callback_client(resolve=worker_names) as http:
            await deliver_due(_deps(world, http))
        # One public and one internal address: refused as a whole, nothing is sent.
        mixed = resolver({"rebind.example": [[PUBLIC, "127.0.0.1"]]})
        async with callback_client(resolve=mixed) as http:
            await _retry_now(world)
            await deliver_due(_deps(world, http))
        assert receiver.heard == []
    attempts = await _attempts(world.factory)
    assert [a.error for a in attempts] == [
        "address not allowed: rebind.example resolves to 127.0.0.1 is loopback; "
        "CALLBACK_ALLOWED_HOSTS admits exceptions"
    ] * 2
    listed = (await world.client.get("/callbacks/deliveries", headers=world.auth)).json()
    assert listed["items"][0]["last_error"].startswith("address not allowed: rebind.example")


async def _retry_now(world: World) -> None:
    async with world.factory.begin() as session:
        await session.execute(update(CallbackDelivery).values(next_attempt_at=utcnow()))


async def test_the_connection_goes_to_the_checked_address_and_keeps_the_host(
    world: World,
) -> None:
    async with LocalReceiver() as receiver:
        await _legacy_callback(world, f"http://receiver.example:{receiver.port}/hooks")
        names = resolver({"receiver.example": [["127.0.0.1"]]})
        policy = TargetPolicy.parse(["127.0.0.1/32"])
        async with callback_client(policy=policy, resolve=names) as http:
            await deliver_due(_deps(world, http, callback_allowed_hosts=["127.0.0.1/32"]))
        [heard] = receiver.heard
    assert heard.line == "POST /hooks HTTP/1.1"
    assert heard.headers["host"] == f"receiver.example:{receiver.port}"
    [attempt] = await _attempts(world.factory)
    assert (attempt.status_code, attempt.error) == (200, None)


def _certificate(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for `name` only, client context trusting it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


async def test_tls_is_verified_against_the_name_not_the_pinned_address(
    world: World, tmp_path: Path
) -> None:
    server_tls, client_tls = _certificate(tmp_path, "receiver.example")
    names = resolver({"receiver.example": [["127.0.0.1"]]})
    policy = TargetPolicy.parse(["127.0.0.1/32"])
    async with LocalReceiver(tls=server_tls) as receiver:
        await _legacy_callback(world, f"https://receiver.example:{receiver.port}/hooks")
        transport = PinnedTransport(policy, names, verify=client_tls)
        async with httpx.AsyncClient(transport=transport) as http:
            await deliver_due(_deps(world, http, callback_allowed_hosts=["127.0.0.1/32"]))
        [heard] = receiver.heard
    assert heard.headers["host"] == f"receiver.example:{receiver.port}"
    [attempt] = await _attempts(world.factory)
    assert (attempt.status_code, attempt.error) == (200, None)


async def test_redirects_are_not_followed(world: World) -> None:
    async with LocalReceiver(status=302, location="http://169.254.169.254/") as receiver:
        allowed = [f"127.0.0.1:{receiver.port}"]
        await _legacy_callback(world, f"http://127.0.0.1:{receiver.port}/hooks")
        async with callback_client(policy=TargetPolicy.parse(allowed)) as http:
            await deliver_due(_deps(world, http, callback_allowed_hosts=allowed))
        assert len(receiver.heard) == 1
    [attempt] = await _attempts(world.factory)
    assert (attempt.status_code, attempt.error) == (302, "HTTP 302")


async def test_a_stored_password_is_never_shown_nor_sent(world: World) -> None:
    password = "legacy-url-password-42"
    remember_secret(password, kind="callback URL password")
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    await _legacy_callback(world, f"https://ops:{password}@billing.example/hooks")
    async with callback_client(httpx.MockTransport(record)) as http:
        await deliver_due(_deps(world, http))

    assert sent == []
    shown = await world.client.get("/callbacks", headers=world.auth)
    assert shown.json()["url"] == "https://***@billing.example/hooks"
    listed = await world.client.get("/callbacks/deliveries", headers=world.auth)
    assert password not in shown.text + listed.text
    [attempt] = await _attempts(world.factory)
    assert attempt.error == "the URL must not carry a user name or password"


async def test_the_worker_delivers_to_a_local_receiver_named_in_the_setting(
    world: World, allow: Any
) -> None:
    async with LocalReceiver() as receiver:
        entry = f"127.0.0.1:{receiver.port}"
        allow(entry)
        world.settings = world.settings.model_copy(update={"callback_allowed_hosts": [entry]})
        await world.connect()
        url = f"http://{entry}/hooks"
        assert (await _put(world.client, world.auth, url)).status_code == 200

        assert await world.send(customer_event("c1")) == {"synced": 1}

        [heard] = receiver.heard
    assert heard.headers["host"] == entry
    assert verify_notice(
        SECRET,
        heard.body,
        heard.headers["x-qbosync-timestamp"],
        heard.headers["x-qbosync-signature"],
    )
    # Without the setting the same worker refuses it.
    world.settings = world.settings.model_copy(update={"callback_allowed_hosts": []})
    async with callback_client(policy=world.settings.callback_targets) as http:
        await _legacy_callback(world, url)
        await deliver_due(_deps(world, http))
    last = (await _attempts(world.factory))[-1]
    assert last.error is not None
    assert last.error.startswith("address not allowed: 127.0.0.1 is loopback")
