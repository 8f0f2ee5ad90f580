"""Bringing the database to the newest Alembic migration: for `python -m app migrate`, the
runner, tests and benchmarks alike."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings


def alembic_ini() -> Path:
    """alembic.ini of a source checkout, else of the working directory (as in the image)."""
    for folder in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (folder / "alembic.ini").exists():
            return folder / "alembic.ini"
    raise SystemExit("alembic.ini not found next to the app or in the working directory")


def migrate_to_head(settings: Settings) -> None:
    """Apply every Alembic migration to the configured database."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(alembic_ini()))
    cfg.attributes["database_url"] = settings.server_urls()[0]
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
