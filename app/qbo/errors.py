"""Every way QBO says no, parsed and classified in one place.

QBO answers errors in several shapes: `{"Fault": {"Error": [...]}}`, the lower-case
`{"fault": {"error": [...]}}` of a 401, XML (`IntuitResponse/Fault/Error`, even when JSON
was asked for), and Faults inside an HTTP 200 (batch items, attachables). `classify` turns
any of them, with the HTTP status, into one `QboError` whose `category` decides what the
sync engine does; code branches on the category, never on status codes. `QboError` is the
QBO branch of the tree of sync failures (app.core.failures).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from app.core.failures import RETRYABLE, Category, SyncFailure

# Fault codes whose meaning does not depend on the HTTP status they came with.
CODE_CATEGORIES: dict[str, Category] = {
    "3001": Category.THROTTLED,
    "3200": Category.AUTH,
    "100": Category.AUTH,
    "120": Category.CONNECTION,
    "3100": Category.CONNECTION,
    "5010": Category.STALE,
    "6240": Category.DUPLICATE_NAME,
    "610": Category.NOT_FOUND,
}
# How a 429 for the month's used-up reads is told from a throttle (`monthly_quota`).
MONTHLY_QUOTA_WORDS = re.compile(r"month|quota|coreplus|core plus", re.IGNORECASE)
# Intuit: "500: resubmit the request once"; the same for SystemFault (10000 and up).
SERVER_ERROR_RETRIES = 1
# Intuit's transaction id, as each of its services spells the header: `Intuit-Tid` on the
# Accounting API (every recorded sandbox answer, qbo_api VCR cassettes 2020) and `intuit_tid`
# on the OAuth token endpoint (intuit/oauth-jsclient's mocks of real answers). Intuit support
# asks for it: developer.intuit.com/app/developer/qbo/docs/develop/
# sdks-and-samples-collections/php/exception-handling
TID_HEADERS = ("intuit-tid", "intuit_tid")


def tid_from(headers: Mapping[str, str] | None) -> str | None:
    """The transaction id of an Intuit answer under either spelling of its header (any case).

    Takes `httpx.Headers` or a plain dict."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    return next((lowered[name] for name in TID_HEADERS if lowered.get(name)), None)


@dataclass(frozen=True, slots=True)
class FaultError:
    code: str | None
    message: str
    detail: str | None = None
    element: str | None = None


@dataclass(slots=True)
class QboError(SyncFailure):
    """One failed QBO call (or batch item), classified.

    `retry_limit` caps retries where Intuit says so (HTTP 500: once); `ambiguous` marks a
    write whose outcome is unknown (the answer was lost; it may have been applied).
    `retryable` follows the category (`RETRYABLE`).
    """

    category: Category
    status: int | None
    errors: tuple[FaultError, ...] = ()
    fault_type: str | None = None
    intuit_tid: str | None = None
    retry_after: float | None = None
    ambiguous: bool = False
    retry_limit: int | None = None
    note: str = field(default="")
    retryable: bool = field(init=False)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.summary)
        self.retryable = self.category in RETRYABLE

    @property
    def code(self) -> str | None:
        return self.errors[0].code if self.errors else None

    @property
    def message(self) -> str:
        if self.errors:
            first = self.errors[0]
            return f"{first.message}: {first.detail}" if first.detail else first.message
        return self.note or f"HTTP {self.status}"

    @property
    def element(self) -> str | None:
        return next((e.element for e in self.errors if e.element), None)

    @property
    def maybe_written(self) -> bool:
        """A write whose outcome is unknown: no answer, or a server error after sending."""
        return self.ambiguous or (self.category is Category.TRANSIENT and (self.status or 0) >= 500)

    @property
    def needs_reauth(self) -> bool:
        return self.category is Category.CONNECTION

    @property
    def monthly_quota(self) -> bool:
        """A 429 that says the app's monthly CorePlus calls are used up, not a throttle:
        Intuit documents the status (429) but not the Fault's wording (qbo-facts.md
        section 3, UNCONFIRMED), and third parties report the throttle's own 3001 with it;
        so the Fault's text decides: it speaks of the month, a quota or CorePlus."""
        if self.status != 429:
            return False
        return any(MONTHLY_QUOTA_WORDS.search(f"{e.message} {e.detail or ''}") for e in self.errors)

    @property
    def summary(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"QBO {self.category.value}{code}: {self.message}"

    def reason(self) -> dict[str, Any]:
        """What an event stores as its last error (no tokens or bodies, just the facts)."""
        return {
            "category": self.category.value,
            "code": self.code,
            "message": self.message,
            "element": self.element,
            "intuit_tid": self.intuit_tid,
            "http_status": self.status,
            "ambiguous": self.ambiguous,
        }

    def log_warning(self, logger: logging.Logger, extra: dict[str, Any]) -> None:
        logger.warning(
            "QBO refused: %s", self.summary, extra={**extra, "intuit_tid": self.intuit_tid}
        )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _from_json(body: dict[str, Any]) -> tuple[str | None, list[FaultError]]:
    fault = body.get("Fault") or body.get("fault")
    if not isinstance(fault, dict):
        return None, []
    raw = fault.get("Error") or fault.get("error") or []
    errors = [
        FaultError(
            code=_text(e.get("code")),
            message=str(e.get("Message") or e.get("message") or "QBO error"),
            detail=_text(e.get("Detail") or e.get("detail")),
            element=_text(e.get("element")),
        )
        for e in (raw if isinstance(raw, list) else [raw])
        if isinstance(e, dict)
    ]
    return _text(fault.get("type")), errors


def _from_xml(text: str) -> tuple[str | None, list[FaultError]]:
    # Strip the namespace so `Fault` is found in both namespaced and bare documents.
    cleaned = re.sub(r'\sxmlns="[^"]+"', "", text, count=1)
    try:
        root = ElementTree.fromstring(cleaned)  # noqa: S314 - QBO's own answer, no DTDs
    except ElementTree.ParseError:
        return None, []
    fault = root if root.tag == "Fault" else root.find("Fault")
    if fault is None:
        return None, []
    errors = [
        FaultError(
            code=error.get("code"),
            message=(error.findtext("Message") or "QBO error").strip(),
            detail=_text((error.findtext("Detail") or "").strip()),
            element=_text(error.get("element")),
        )
        for error in fault.findall("Error")
    ]
    return fault.get("type"), errors


def parse_fault(body: bytes | str | dict[str, Any] | None) -> tuple[str | None, list[FaultError]]:
    """(fault type, errors) of any QBO error body; ([]) when it holds no Fault."""
    if body is None:
        return None, []
    if isinstance(body, dict):
        return _from_json(body)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return _from_xml(stripped)
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return None, []
    return _from_json(parsed) if isinstance(parsed, dict) else (None, [])


def _retry_after(headers: dict[str, str] | None) -> float | None:
    raw = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def classify(
    status: int,
    body: bytes | str | dict[str, Any] | None,
    headers: dict[str, str] | None = None,
) -> QboError | None:
    """The error in a QBO answer, or None when it is a success (a 2xx without a Fault)."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    fault_type, errors = parse_fault(body)
    if 200 <= status < 300 and not errors:
        return None
    tid = tid_from(lowered)
    codes = [e.code for e in errors if e.code]
    by_code = next((CODE_CATEGORIES[c] for c in codes if c in CODE_CATEGORIES), None)
    limit: int | None = None
    # A known code is more precise than its status: a 401 carrying 120 is not cured by a refresh.
    if by_code is not None:
        category = by_code
    elif status == 429:
        category = Category.THROTTLED
    elif status == 401:
        category = Category.AUTH
    elif status in (502, 503, 504):
        category = Category.TRANSIENT
    elif status >= 500 or fault_type == "SystemFault" or any(_system(c) for c in codes):
        category, limit = Category.TRANSIENT, SERVER_ERROR_RETRIES
    else:
        category = Category.PERMANENT
    return QboError(
        category=category,
        status=status,
        errors=tuple(errors),
        fault_type=fault_type,
        intuit_tid=tid,
        retry_after=_retry_after(lowered) if category is Category.THROTTLED else None,
        retry_limit=limit,
    )


def _system(code: str) -> bool:
    return code.isdigit() and int(code) >= 10000


def classify_item(item: dict[str, Any]) -> QboError | None:
    """The error of one batch item (`BatchItemResponse[]`, matched by `bId`), or None."""
    if "Fault" not in item and "fault" not in item:
        return None
    tid = item.get("intuit_tid")
    return classify(200, item, {"intuit_tid": str(tid)} if tid else None)


def lost_answer(exc: BaseException, *, write: bool) -> QboError:
    """A call whose answer never came (timeout, reset): retry; a write may have happened."""
    return QboError(
        category=Category.TRANSIENT,
        status=None,
        ambiguous=write,
        note=f"no answer from QBO ({type(exc).__name__})",
    )
