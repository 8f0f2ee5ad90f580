"""Where the browser tests find Chromium (Debian's package) and how they launch it."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = "QBO_SYNC_REQUIRE_BROWSER"
INSTALL_HINT = "apt-get install -y chromium (and pip install playwright)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing_browser() -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM}"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed"
    return None
