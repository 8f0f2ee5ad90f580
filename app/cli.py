"""`python -m app ...`: every command of the service."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="qbo-sync commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from app.emulator.cli import register as register_emulator

    register_emulator(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
