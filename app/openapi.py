"""Renders the committed `openapi.yaml` from the app."""

from __future__ import annotations

import yaml

from app.config import Settings


def render_openapi() -> str:
    from app.main import create_app

    schema = create_app(Settings()).openapi()
    return yaml.safe_dump(schema, sort_keys=False, allow_unicode=True, width=100)
