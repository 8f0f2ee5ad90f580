"""Settings fail fast, naming the variable, and refuse placeholder secrets outside development."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from app.config import DEV_ENCRYPTION_KEY, Settings, format_settings_error

REAL = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": "postgresql://db/qbo",
    "REDIS_URL": "redis://cache:6379/0",
    "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}


def _error(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    return format_settings_error(caught.value)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"BATCH_MAX_EVENTS": "0"}, "BATCH_MAX_EVENTS"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT"),
        ({"QBO_ENVIRONMENT": "live"}, "QBO_ENVIRONMENT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"TOKEN_ENCRYPTION_KEYS": "short"}, "TOKEN_ENCRYPTION_KEYS"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    assert variable in _error(monkeypatch, env)


@pytest.mark.parametrize(
    ("placeholder", "variable"),
    [
        ({"TOKEN_ENCRYPTION_KEYS": DEV_ENCRYPTION_KEY}, "TOKEN_ENCRYPTION_KEYS"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ],
)
def test_placeholder_secrets_are_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, placeholder: dict[str, str], variable: str
) -> None:
    assert variable in _error(monkeypatch, {**REAL, **placeholder})


def test_production_with_real_values_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.port == 8000
    assert len(settings.token_encryption_keys) == 1
    assert REAL["TOKEN_ENCRYPTION_KEYS"] not in repr(settings)


def test_several_encryption_keys_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [Fernet.generate_key().decode() for _ in range(2)]
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", ",".join(keys))
    settings = Settings(_env_file=None)
    assert [k.get_secret_value() for k in settings.token_encryption_keys] == keys


def test_a_command_exits_with_the_message(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env={"PORT": "not-a-port", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PORT" in result.stderr
    assert "Traceback" not in result.stderr
