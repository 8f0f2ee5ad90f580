"""`python -m app emulator`: run the QBO emulator with uvicorn."""

from __future__ import annotations

import argparse

from app.emulator.config import EmulatorConfig, LimitsConfig, WebhookConfig


def _client(text: str) -> tuple[str, str]:
    client_id, sep, secret = text.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError("expected CLIENT_ID:CLIENT_SECRET")
    return client_id, secret


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `emulator` command and its options."""
    parser = subparsers.add_parser(
        "emulator",
        help="run the local QuickBooks Online emulator (OAuth + Accounting API)",
        description="A local stand-in for Intuit: OAuth endpoints, the Accounting API "
        "with QBO's rules and limits, an admin API under /admin and a page at /.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--base-url", help="public base URL for the discovery document")
    parser.add_argument("--seed", type=int, help="seed for realm ids and fault injection")
    parser.add_argument("--no-limits", action="store_true", help="switch all throttles off")
    parser.add_argument(
        "--requests-per-minute", type=int, default=500, metavar="N", help="per realm (500)"
    )
    parser.add_argument(
        "--requests-per-second", type=int, default=10, metavar="N", help="per realm (10)"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=10, metavar="N", help="concurrent per realm (10)"
    )
    parser.add_argument(
        "--batch-per-minute", type=int, default=40, metavar="N", help="batch calls (40)"
    )
    parser.add_argument(
        "--rotation-seconds",
        type=float,
        default=86_400,
        help="age after which a refresh returns a new refresh token (default one day)",
    )
    parser.add_argument(
        "--access-token-ttl",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="access token lifetime (Intuit: 3600)",
    )
    parser.add_argument(
        "--client",
        type=_client,
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="accept only these clients (repeatable; default: accept any pair)",
    )
    parser.add_argument(
        "--state-file",
        metavar="PATH",
        help="keep companies, records and tokens in this file across restarts "
        "(default: in memory only)",
    )
    webhooks = parser.add_argument_group("webhooks (change notifications, off without a url)")
    webhooks.add_argument("--webhook-url", metavar="URL", help="POST notifications here")
    webhooks.add_argument(
        "--webhook-verifier-token",
        default=WebhookConfig().verifier_token,
        metavar="TOKEN",
        help="key of the intuit-signature HMAC",
    )
    webhooks.add_argument(
        "--webhook-format",
        choices=["legacy", "cloudevents"],
        default="legacy",
        help="body format (default legacy)",
    )
    webhooks.add_argument(
        "--webhook-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait before each delivery (default 0)",
    )
    webhooks.add_argument(
        "--webhook-loss-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="share of deliveries silently lost, 0..1 (default 0)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        type=str.lower,
        choices=["debug", "info", "warning", "error"],
        help="log level",
    )
    parser.set_defaults(func=handler)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The emulator configuration the command line asks for."""
    limits = LimitsConfig(
        enabled=not args.no_limits,
        requests_per_window=args.requests_per_minute,
        requests_per_second=args.requests_per_second,
        max_in_flight=args.max_in_flight,
        batch_per_window=args.batch_per_minute,
    )
    return EmulatorConfig(
        limits=limits,
        access_token_ttl_seconds=args.access_token_ttl,
        refresh_rotation_seconds=args.rotation_seconds,
        base_url=args.base_url,
        clients=dict(args.client),
        seed=args.seed,
        state_file=args.state_file,
        webhooks=WebhookConfig(
            url=args.webhook_url,
            verifier_token=args.webhook_verifier_token,
            format=args.webhook_format,
            delay_seconds=args.webhook_delay,
            loss_rate=args.webhook_loss_rate,
        ),
    )


def handler(args: argparse.Namespace) -> int:
    """Serve the emulator until interrupted; returns the exit status."""
    import uvicorn

    from app.emulator.app import create_app
    from app.logs import configure_logging

    # The same JSON-lines logs as the rest of the service.
    configure_logging(args.log_level.upper())
    uvicorn.run(
        create_app(config_from_args(args)),
        host=args.host,
        port=args.port,
        log_config=None,
    )
    return 0
