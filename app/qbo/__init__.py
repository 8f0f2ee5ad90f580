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
from app.qbo.oauth import IntuitOAuth, LazyOAuth, OAuthFailure, TokenSet, token_set

__all__ = [
    "YIELD_TO_BATCHES",
    "BudgetState",
    "BudgetWait",
    "CallRecorder",
    "Category",
    "CompanyProfile",
    "IntuitOAuth",
    "LazyOAuth",
    "Limits",
    "OAuthFailure",
    "QboClient",
    "QboError",
    "RealmBudget",
    "TokenSet",
    "classify_item",
    "company_path",
    "http_client",
    "read_company",
    "throttle_delay",
    "token_set",
    "write_params",
]
