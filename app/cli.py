"""`python -m app ...`: every command of the service.

Commands that need PostgreSQL or Redis attach to the configured servers, or to the embedded
ones under DATA_DIR when DATABASE_URL / REDIS_URL are unset (starting them if needed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from app.config import Settings, get_settings
from app.migrate import migrate_to_head


def _settings_with_servers() -> Settings:
    from app.devservers import with_servers

    return with_servers(get_settings())


def cmd_migrate(args: argparse.Namespace) -> int:
    migrate_to_head(_settings_with_servers())
    print("database is at the newest migration")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app

    settings = _settings_with_servers()
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_config=None,
        proxy_headers=True,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker until a signal stops it. Losing Redis (a restart, a failover) ends
    arq's loop with an error: the worker starts again after a pause instead of exiting.
    A worker whose loop stalls exits (`app.worker.watchdog`) for its supervisor to restart."""
    import time

    from arq.worker import run_worker
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from app.worker import watchdog
    from app.worker.settings import worker_settings

    settings = _settings_with_servers()
    watchdog.start()
    while True:
        try:
            run_worker(worker_settings(settings))
            return 0
        except (RedisConnectionError, RedisTimeoutError, OSError) as err:
            logging.getLogger(__name__).error("worker lost Redis (%s); starting again in 2 s", err)
            watchdog.progress()
            time.sleep(2)


async def _with_session(settings: Settings, action: str, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app import security
    from app.db import create_engine, create_session_factory
    from app.uow import unit_of_work

    engine = create_engine(settings.server_urls()[0], pool_size=1)
    try:
        async with unit_of_work(create_session_factory(engine)) as uow:
            session = uow.session
            if action == "create":
                try:
                    scopes = security.parse_scopes(args.scopes)
                    key = await security.create_api_key(session, args.name, scopes)
                except ValueError as err:
                    print(f"error: {err}", file=sys.stderr)
                    return 2
                print(f"created API key {args.name!r} with scopes {', '.join(scopes)}")
                print("store it now: it is shown once and only its hash is kept")
                print(key)
            elif action == "list":
                rows = await session.scalars(
                    select(security.ApiKey).order_by(security.ApiKey.created_at)
                )
                print(f"{'NAME':<24} {'SCOPES':<60} {'CREATED':<26} REVOKED")
                for row in rows:
                    revoked = row.revoked_at.isoformat() if row.revoked_at else "-"
                    created = row.created_at.isoformat(timespec="seconds")
                    print(f"{row.name:<24} {','.join(row.scopes):<60} {created:<26} {revoked}")
            elif action == "revoke":
                if not await security.revoke_api_key(session, args.name):
                    print(f"error: no active key named {args.name!r}", file=sys.stderr)
                    return 1
                print(f"revoked API key {args.name!r}")
    finally:
        await engine.dispose()
    return 0


async def _rotate_encryption(settings: Settings) -> int:
    from app.callbacks.service import rotate_callback_secrets
    from app.connections.tokens import rotate_encryption
    from app.core.cipher import TokenCipher, TokenDecryptError
    from app.db import create_engine, create_session_factory
    from app.uow import unit_of_work

    engine = create_engine(settings.server_urls()[0], pool_size=1)
    try:
        # Batches commit one by one, so it needs the factory rather than one session.
        count = await rotate_encryption(
            create_session_factory(engine), TokenCipher.from_settings(settings)
        )
        # Callback secrets are few (one per API key): one transaction.
        async with unit_of_work(create_session_factory(engine)) as uow:
            secrets = await rotate_callback_secrets(
                uow.session, TokenCipher.from_settings(settings)
            )
    except TokenDecryptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"re-encrypted the tokens of {count} connection(s) with the newest key")
    print(f"re-encrypted {secrets} callback secret(s) with the newest key")
    return 0


async def _discard_events(settings: Settings, realm_id: str) -> int:
    """Delete the events of a company that was never connected (a wrong realm id, a test):
    they could never reach QBO and would keep it `failing` in /sync-status for ever. A
    company that has been connected keeps its events, which wait for a reconnect."""
    from app.connections.service import get_connection
    from app.db import create_engine, create_session_factory
    from app.events.repository import delete_events_of_realm
    from app.uow import unit_of_work

    if not realm_id.isdigit():
        print(f"error: bad realm id {realm_id!r}: QBO company ids are digits", file=sys.stderr)
        return 2
    engine = create_engine(settings.server_urls()[0], pool_size=1)
    try:
        async with unit_of_work(create_session_factory(engine)) as uow:
            session = uow.session
            connection = await get_connection(session, realm_id)
            if connection is not None:
                print(
                    f"error: company {realm_id} has been connected (now {connection.status}); "
                    "its events wait for it to be reconnected, nothing discarded",
                    file=sys.stderr,
                )
                return 1
            count = await delete_events_of_realm(session, realm_id)
    finally:
        await engine.dispose()
    if count:
        print(f"discarded {count} events of company {realm_id}, which was never connected")
    else:
        print(f"no events of company {realm_id}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    return asyncio.run(_discard_events(_settings_with_servers(), args.realm_id))


def cmd_keys(args: argparse.Namespace) -> int:
    if args.keys_command == "rotate-encryption":
        return asyncio.run(_rotate_encryption(_settings_with_servers()))
    return asyncio.run(_with_session(_settings_with_servers(), args.keys_command, args))


def cmd_openapi(args: argparse.Namespace) -> int:
    from app.openapi import render_openapi

    text = render_openapi()
    target = Path(args.output)
    if args.check:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is out of date: run `python -m app openapi`", file=sys.stderr)
            return 1
        print(f"{target} is up to date")
        return 0
    target.write_text(text)
    print(f"wrote {target}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from app.runner import run_all

    return run_all(get_settings(), with_emulator=not args.no_emulator)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="qbo-sync commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start everything for local use (what `make run` does)")
    run.add_argument("--no-emulator", action="store_true", help="do not start the QBO emulator")
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    serve.add_argument("--host", default=None, help="default: HOST")
    serve.add_argument("--port", type=int, default=None, help="default: PORT")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run an arq worker (sync jobs and crons)")
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="create a key; prints it once, as the last line")
    create.add_argument("--name", required=True, help="who uses it; becomes the events' source")
    create.add_argument(
        "--scopes",
        required=True,
        help=(
            "comma-separated: events:write, events:read (its own events), events:read_all "
            "(every source's), connections:admin, status:read"
        ),
    )
    keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    keys_sub.add_parser(
        "rotate-encryption",
        help="re-encrypt stored QBO tokens with the newest TOKEN_ENCRYPTION_KEYS key",
    )
    keys.set_defaults(func=cmd_keys)

    events = sub.add_parser("events", help="manage stored events")
    events_sub = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    discard = events_sub.add_parser(
        "discard", help="delete the events of a company that was never connected"
    )
    discard.add_argument("--realm-id", required=True, help="the company's id (digits)")
    events.set_defaults(func=cmd_events)

    openapi = sub.add_parser("openapi", help="write openapi.yaml from the app")
    openapi.add_argument("--output", default="openapi.yaml")
    openapi.add_argument("--check", action="store_true", help="fail if the file differs")
    openapi.set_defaults(func=cmd_openapi)

    from app.emulator.cli import register as register_emulator

    register_emulator(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
