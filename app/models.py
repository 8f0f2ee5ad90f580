"""Imports every model module so that Base.metadata knows every table."""

from __future__ import annotations


def load_all_models() -> None:
    import app.callbacks.models
    import app.connections.models
    import app.drift.models
    import app.events.models
    import app.mappings.models
    import app.security
    import app.status.models  # noqa: F401
