"""The committed openapi.yaml is exactly what the app serves."""

from __future__ import annotations

from pathlib import Path

from app.openapi import render_openapi

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"


def test_committed_spec_matches_the_app() -> None:
    assert SPEC.read_text() == render_openapi(), "run `python -m app openapi` and commit it"
