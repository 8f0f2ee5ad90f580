"""Settings: every knob of the service is an environment variable, read here and nowhere else."""

from __future__ import annotations

import sys
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.allowed_hosts import TargetPolicy

# A valid Fernet key that everyone can read in this file: fine on a laptop, refused elsewhere.
DEV_ENCRYPTION_KEY = "cWJvLXN5bmMgZGV2ZWxvcG1lbnQga2V5LCBwdWJsaWM="
# The emulator accepts any client pair; this one names the service in its records.
EMULATOR_CLIENT_ID = "qbo-sync-local"
EMULATOR_CLIENT_SECRET = "qbo-sync-local-secret"  # noqa: S105
# A customer name QBO already holds elsewhere becomes this (see DISPLAY_NAME_TEMPLATE).
DEFAULT_DISPLAY_NAME_TEMPLATE = "{display_name} ({external_id})"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class QboEnvironment(StrEnum):
    EMULATOR = "emulator"
    SANDBOX = "sandbox"
    PRODUCTION = "production"


DriftPolicy = Literal["report", "restore", "accept"]


class Settings(BaseSettings):
    """The whole configuration. Field `foo_bar` is the environment variable `FOO_BAR`."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    environment: Environment = Environment.DEVELOPMENT
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    # Servers. Unset URLs mean: start the embedded PostgreSQL / Redis under DATA_DIR.
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    data_dir: Path = Path(".data")
    db_pool_size: int = Field(20, ge=1, le=500)
    db_max_overflow: int = Field(10, ge=0, le=500)

    # HTTP API
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    batch_max_events: int = Field(500, ge=1, le=5000)

    # Delivery
    sweep_interval_seconds: int = Field(10, ge=1, le=60)
    sweep_batch_size: int = Field(1000, ge=1, le=100_000)
    worker_max_jobs: int = Field(20, ge=1, le=1000)

    # Sync engine
    retry_base_seconds: float = Field(5.0, gt=0, le=3600)
    retry_cap_seconds: float = Field(3600.0, gt=0, le=86_400)
    retry_give_up_hours: float = Field(24.0, gt=0, le=720)
    dependency_timeout_minutes: float = Field(1440.0, gt=0, le=43_200)
    display_name_template: str = Field(DEFAULT_DISPLAY_NAME_TEMPLATE, min_length=1, max_length=200)
    # An item whose name the company's QBO already uses is created under the disambiguated
    # name, unless this allows taking over the existing item (one not linked to another).
    item_adopt_existing_by_name: bool = False
    item_income_account_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    item_income_account_name: str = Field("Services", min_length=1, max_length=100)
    item_expense_account_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    tax_code_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    default_taxable: bool = False
    global_tax_calculation: Literal["TaxExcluded", "TaxInclusive", "NotApplicable"] = "TaxExcluded"
    # Unset: QBO's Undeposited Funds.
    deposit_account_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    # JSON: the callers' payment method names to PaymentMethod ids, {"card": "3", ...}.
    payment_methods: dict[str, Annotated[str, Field(pattern=r"^[0-9]{1,32}$")]] = Field(
        default_factory=dict
    )
    shipping_item_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    discount_account_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    class_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    department_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    # Unset: as the company's custom transaction numbers preference says.
    doc_number_ours: bool | None = None
    # How far QBO's booked invoice total or tax may be from the caller's before the synced
    # event carries a mismatch (and an `invoice.mismatch` notice goes out).
    mismatch_tolerance: Decimal = Field(Decimal("0.00"), ge=0, le=100, decimal_places=2)
    # Each company may set its own of the values above (app/connections/settings.py); its
    # reference lists (accounts, tax codes, ...) are read from QBO at most this often.
    reference_cache_seconds: float = Field(600.0, ge=0, le=86_400)

    # Secrets
    token_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(DEV_ENCRYPTION_KEY)]
    )

    # QuickBooks Online
    qbo_environment: QboEnvironment = QboEnvironment.EMULATOR
    qbo_client_id: str | None = None
    qbo_client_secret: SecretStr | None = None
    qbo_redirect_uri: str | None = None
    qbo_minor_version: int = Field(75, ge=75)
    # Per-realm budget shared by all workers (Intuit: 500/min, 10/s, 10 in flight, 40
    # batches/min); the defaults keep a small margin for clock and network jitter.
    qbo_limit_per_minute: int = Field(495, ge=1, le=500)
    qbo_limit_per_second: int = Field(10, ge=1, le=10)
    qbo_limit_in_flight: int = Field(9, ge=1, le=10)
    qbo_limit_batches_per_minute: int = Field(38, ge=1, le=40)
    qbo_batch_size: int = Field(30, ge=2, le=30)
    refresh_ahead_minutes: int = Field(15, ge=6, le=55)
    refresh_idle_days: int = Field(7, ge=1, le=90)
    # Changes made in QBO: webhooks (Intuit's verifier token), CDC, and what drift does.
    qbo_webhook_verifier_token: SecretStr | None = None
    # Intuit's largest delivery (8,000 CloudEvents) is about 2.4 MB; MAX_BODY_BYTES is
    # for the callers' requests.
    webhook_max_body_bytes: int = Field(4_194_304, ge=1024)
    cdc_interval_minutes: float = Field(15.0, ge=0, le=1440)
    # A company whose webhooks arrive needs CDC only as a backstop: once a day by default.
    cdc_interval_with_webhooks_minutes: float = Field(1440.0, ge=0, le=1440)
    # Intuit's monthly allowance of metered reads (CorePlus calls) for this app, across every
    # company; 0 = an unmetered tier (counted, never held back). See app/qbo/meter.py.
    qbo_monthly_read_allowance: int = Field(500_000, ge=0)
    drift_policy_customer: DriftPolicy = "report"
    drift_policy_item: DriftPolicy = "report"
    drift_policy_invoice: DriftPolicy = "report"
    drift_policy_payment: DriftPolicy = "report"
    drift_policy_credit_memo: DriftPolicy = "report"
    drift_policy_sales_receipt: DriftPolicy = "report"
    drift_policy_refund: DriftPolicy = "report"
    drift_unmapped_recheck_seconds: float = Field(60.0, ge=0, le=3600)
    # Ops console: how long a login lasts.
    ops_session_hours: float = Field(8.0, gt=0, le=168)
    ops_webhook_url: str | None = None
    ops_webhook_secret: SecretStr | None = None
    # Callbacks: notices to the callers' URLs, retried with exponential backoff.
    callback_retry_base_seconds: float = Field(10.0, gt=0, le=3600)
    callback_retry_cap_seconds: float = Field(3600.0, gt=0, le=86_400)
    callback_max_attempts: int = Field(12, ge=1, le=100)
    # Callback targets that may be private (comma-separated host, host:port or CIDR): every
    # other loopback, private, link-local or metadata address is refused (app/callbacks/targets).
    callback_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    emulator_url: str = "http://127.0.0.1:8765"
    emulator_port: int = Field(8765, ge=1, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _split_key_list(cls, data: object) -> object:
        if isinstance(data, dict):
            raw = data.get("token_encryption_keys")
            if isinstance(raw, str):
                data = {**data, "token_encryption_keys": [k for k in raw.split(",") if k.strip()]}
            hosts = data.get("callback_allowed_hosts")
            if isinstance(hosts, str):
                data = {**data, "callback_allowed_hosts": [h.strip() for h in hosts.split(",")]}
        return data

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            if any(k.get_secret_value() == DEV_ENCRYPTION_KEY for k in self.token_encryption_keys):
                raise ValueError("TOKEN_ENCRYPTION_KEYS holds the development key; set real keys")
            if self.database_url is None or self.redis_url is None:
                raise ValueError("DATABASE_URL and REDIS_URL are required in production")
        if not self.uses_emulator and (
            self.qbo_client_id is None or self.qbo_client_secret is None
        ):
            raise ValueError(
                "QBO_CLIENT_ID and QBO_CLIENT_SECRET are required unless QBO_ENVIRONMENT=emulator"
            )
        if self.ops_webhook_url and self.ops_webhook_secret is None:
            raise ValueError(
                "OPS_WEBHOOK_SECRET is required with OPS_WEBHOOK_URL (it signs notices)"
            )
        try:
            TargetPolicy.parse(self.callback_allowed_hosts)
        except ValueError as err:
            raise ValueError(f"CALLBACK_ALLOWED_HOSTS: {err}") from None
        if "{external_id}" not in self.display_name_template:
            raise ValueError("DISPLAY_NAME_TEMPLATE must contain {external_id}")
        if not self.token_encryption_keys:
            raise ValueError("TOKEN_ENCRYPTION_KEYS needs at least one key")
        for key in self.token_encryption_keys:
            try:
                Fernet(key.get_secret_value().strip())
            except ValueError:
                raise ValueError(
                    "TOKEN_ENCRYPTION_KEYS: each key must be 32 url-safe base64-encoded bytes"
                ) from None
        return self

    def server_urls(self) -> tuple[str, str]:
        """(database URL, Redis URL); raises RuntimeError if they have not been resolved yet."""
        if self.database_url is None or self.redis_url is None:
            raise RuntimeError("server URLs are not resolved; call devservers.with_servers first")
        return self.database_url.get_secret_value(), self.redis_url.get_secret_value()

    @property
    def callback_targets(self) -> TargetPolicy:
        """The exceptions CALLBACK_ALLOWED_HOSTS makes to the callback address rules."""
        return TargetPolicy.parse(self.callback_allowed_hosts)

    @property
    def uses_emulator(self) -> bool:
        return self.qbo_environment is QboEnvironment.EMULATOR

    @property
    def redirect_uri(self) -> str:
        """Where Intuit sends the person back: QBO_REDIRECT_URI, or this API's callback."""
        return self.qbo_redirect_uri or f"http://{self.host}:{self.port}/connections/callback"

    @property
    def oauth_client(self) -> tuple[str, SecretStr]:
        """(client id, secret); the emulator accepts any pair, so it gets a local one."""
        if self.qbo_client_id and self.qbo_client_secret:
            return self.qbo_client_id, self.qbo_client_secret
        return EMULATOR_CLIENT_ID, SecretStr(EMULATOR_CLIENT_SECRET)


def format_settings_error(err: ValidationError) -> str:
    """One line per bad variable, naming it as the user sets it."""
    lines = ["invalid configuration:"]
    for e in err.errors():
        name = "_".join(str(p) for p in e["loc"] if not isinstance(p, int)).upper() or "settings"
        lines.append(f"  {name}: {e['msg']}")
    return "\n".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; exits with a message naming the variable when one is invalid."""
    try:
        return Settings()
    except ValidationError as err:
        print(format_settings_error(err), file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None
