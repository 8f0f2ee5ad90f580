"""The README and .env.example name every setting the service reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings
from app.drift.webhook_router import WebhookNotConfigured

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = sorted(name.upper() for name in Settings.model_fields)


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    missing = [v for v in VARIABLES if f"{v}" not in text]
    assert missing == [], f"{document} does not mention {missing}"


def test_env_example_names_only_real_settings() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert names == set(VARIABLES)


def test_the_docs_say_what_the_webhook_answers_without_a_verifier_token() -> None:
    status = WebhookNotConfigured.status
    env = (ROOT / ".env.example").read_text()
    comment = env.split("\nQBO_WEBHOOK_VERIFIER_TOKEN=")[0].rsplit("\n\n", 1)[-1]
    assert f"/webhooks/intuit answers {status}" in " ".join(comment.replace("#", " ").split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"Without the token every delivery is refused with {status}" in readme
    assert f"unset: `/webhooks/intuit` refuses every delivery with {status}" in readme
