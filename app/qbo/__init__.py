"""The one door to Intuit: the Accounting API client, OAuth, the error classes and the
per-realm request budget. Code outside this package imports from `app.qbo` only, never
from its modules (an import-linter contract in pyproject.toml checks it); what is not
listed in `__all__` is this package's own business.

This package imports nothing of the service's domains: callers hand in what it needs
(settings, a budget, a `CallRecorder` for their metrics).
"""

from app.core.failures import Category
from app.qbo.client import (
    CallRecorder,
    CompanyProfile,
    QboClient,
    company_path,
    http_client,
    read_company,
    throttle_delay,
    write_params,
)
from app.qbo.errors import QboError, classify_item
from app.qbo.limiter import YIELD_TO_BATCHES, BudgetState, BudgetWait, Limits, RealmBudget
from app.qbo.meter import (
    ALERT_LEVELS,
    OPTIONAL_STOP,
    CallKind,
    Fold,
    MonthReads,
    ReadMeter,
    ReadPriority,
    ReadPurpose,
    ReadsWait,
    month_of,
    month_start,
    next_month_start,
)
from app.qbo.oauth import IntuitOAuth, LazyOAuth, OAuthFailure, TokenSet, token_set

__all__ = [
    "ALERT_LEVELS",
    "OPTIONAL_STOP",
    "YIELD_TO_BATCHES",
    "BudgetState",
    "BudgetWait",
    "CallKind",
    "CallRecorder",
    "Category",
    "CompanyProfile",
    "Fold",
    "IntuitOAuth",
    "LazyOAuth",
    "Limits",
    "MonthReads",
    "OAuthFailure",
    "QboClient",
    "QboError",
    "ReadMeter",
    "ReadPriority",
    "ReadPurpose",
    "ReadsWait",
    "RealmBudget",
    "TokenSet",
    "classify_item",
    "company_path",
    "http_client",
    "month_of",
    "month_start",
    "next_month_start",
    "read_company",
    "throttle_delay",
    "token_set",
    "write_params",
]
