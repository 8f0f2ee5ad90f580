"""QBO Fault bodies: the exception the model raises and the builders for each rule.

Texts follow recorded QBO answers (qbo_api VCR cassettes, quickbooks-ruby fixtures) and
Intuit's error-code pages. `QboFault` is raised anywhere in the model; the routes turn it
into `{"Fault": {...}, "time": ...}` with its HTTP status, or put it inside a batch item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VALIDATION = "ValidationFault"
SYSTEM = "SystemFault"
SERVICE = "SERVICE"
AUTHENTICATION = "AUTHENTICATION"

INACTIVE_DETAIL = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
DELETED_TXN_DETAIL = "Object Not Found : Another user has deleted this transaction."


@dataclass(frozen=True)
class FaultError:
    """One `Error` entry of a Fault; `element` None means the key is left out."""

    code: str
    message: str
    detail: str | None = None
    element: str | None = ""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Message": self.message}
        if self.detail is not None:
            body["Detail"] = self.detail
        body["code"] = self.code
        if self.element is not None:
            body["element"] = self.element
        return body


@dataclass
class QboFault(Exception):
    """A Fault answer: raised by rules and handlers, rendered by the routes."""

    errors: list[FaultError]
    status: int = 400
    fault_type: str = VALIDATION
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{e.code} {e.message}" for e in self.errors)

    @property
    def code(self) -> str:
        """Code of the first error (what tests and logs look at)."""
        return self.errors[0].code

    def fault_json(self) -> dict[str, Any]:
        """The `Fault` object, as placed in a body or in a batch item."""
        return {"Error": [e.as_json() for e in self.errors], "type": self.fault_type}


def _one(
    code: str,
    message: str,
    detail: str | None,
    element: str | None = "",
    status: int = 400,
    fault_type: str = VALIDATION,
) -> QboFault:
    return QboFault([FaultError(code, message, detail, element)], status, fault_type)


def duplicate_name() -> QboFault:
    """6240: DisplayName (or Item Name) already used by a customer, vendor or employee."""
    return _one(
        "6240",
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee is "
        "already using this name. Please use a different name.",
    )


def duplicate_item_name() -> QboFault:
    """6240 for items: the Name is unique among products and services."""
    return _one(
        "6240",
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another product or service is already "
        "using this name. Please use a different name.",
    )


def stale_object() -> QboFault:
    """5010: the SyncToken sent is not the current one."""
    return _one(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and QuickBooks were working on this at the same time. "
        "QuickBooks finished before you did, so your work was not saved.",
    )


def inactive_reference() -> QboFault:
    """610: a referenced name-list object (customer, item, account) is inactive."""
    return _one("610", "Object Not Found", INACTIVE_DETAIL)


def object_not_found(transaction: bool) -> QboFault:
    """610: the object addressed by Id does not exist (or was deleted)."""
    return _one("610", "Object Not Found", DELETED_TXN_DETAIL if transaction else INACTIVE_DETAIL)


def invalid_reference(path: str, ref_id: str) -> QboFault:
    """2500: a reference points to an object that does not exist."""
    return _one(
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : {path} element id {ref_id} not found",
        path,
    )


def required_param(name: str) -> QboFault:
    """2020: a required element is missing."""
    return _one(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        name,
    )


def invalid_chars(element: str, value: str) -> QboFault:
    """2040: a name contains a colon, tab or newline."""
    return _one(
        "2040",
        "Invalid String. The String may contain unsupported or illegal chars",
        f"Element contains invalid characters. {value}",
        element,
    )


def string_too_long(element: str, max_len: int, supplied: int) -> QboFault:
    """2050: a string exceeds its maximum length."""
    return _one(
        "2050",
        "String length specified does not match the supported length",
        "String length specified does not match the supported length. "
        f"Min:0 Max:{max_len} supported. Supplied length:{supplied}",
        element,
    )


def invalid_enum(element: str, value: str) -> QboFault:
    """2170: a value outside the element's enumeration."""
    return _one("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element)


def invalid_number(element: str, value: Any) -> QboFault:
    """2080-like malformed number; QBO reports it as an unsupported property (2010)."""
    return _one(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:Can not deserialize value of type java.math.BigDecimal from "
        f'"{value}" specified is unsupported or invalid',
        element,
    )


def invalid_id(value: str) -> QboFault:
    """2030: an Id that is not a number."""
    return _one("2030", "Invalid ID", f"Id should be a valid number. Supplied value:{value}", "Id")


def unknown_property(entity: str, name: str, known: list[str]) -> QboFault:
    """2010: a JSON property the entity does not have (Jackson's wording, as QBO relays it)."""
    listed = ", ".join(f'"{k}"' for k in known)
    return _one(
        "2010",
        "Request has invalid or unsupported property",
        f'Property Name:Unrecognized field "{name}" (class com.intuit.schema.finance.v3.'
        f"{entity}), not marked as ignorable ({len(known)} known properties: {listed}])\n"
        " specified is unsupported or invalid",
        None,
    )


def malformed_json(reason: str) -> QboFault:
    """2010: the body is not parseable JSON."""
    return _one(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{reason} specified is unsupported or invalid",
        None,
    )


def amount_mismatch(supplied: Any) -> QboFault:
    """6070: a sales line's Amount is not Qty x UnitPrice."""
    return _one(
        "6070",
        "Amount calculation incorrect in the request",
        f"Amount is not equal to Qty * UnitPrice. Supplied value:{supplied}",
        "Line.Amount",
    )


def invalid_line_tax_code(value: str) -> QboFault:
    """6100: US line TaxCodeRef other than TAX/NON."""
    return _one(
        "6100",
        "Invalid Line TaxCode in the request",
        f"Valid Line TaxCodes for US should be TAX or NON. Supplied value:{value}",
        "Line.TaxCodeRef",
    )


def duplicate_doc_number(doc_number: str, txn_type: str, txn_id: str) -> QboFault:
    """6140: DocNumber already used by another transaction of that type."""
    return _one(
        "6140",
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number "
        f"has already been used. DocNumber={doc_number} is assigned to TxnType={txn_type} "
        f"with TxnId={txn_id}",
    )


def txn_cannot_be_linked() -> QboFault:
    """620: a payment line links an invoice that belongs to another customer."""
    return _one(
        "620",
        "TxnID Cannot Be Linked",
        "TxnID Cannot Be Linked : Cannot validate linked transactions: Something you're "
        "trying to use has been made inactive. Check the fields with accounts, customers, "
        "items, vendors or employees.",
    )


def business_validation(detail: str) -> QboFault:
    """6000: a business rule without a code of its own."""
    return _one(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
    )


def no_name_provided() -> QboFault:
    """6080: a customer with neither DisplayName nor any name part."""
    return _one(
        "6080",
        "No Name Provided",
        "Title, GivenName, MiddleName, FamilyName, DisplayName, Suffix - one of these must "
        "be non-empty",
    )


def query_parse_error(detail: str) -> QboFault:
    """4000: the query does not parse (QueryParserError)."""
    return _one("4000", "Error parsing query", f"QueryParserError: {detail}", None)


def invalid_query(detail: str) -> QboFault:
    """4001: the query parses but is not valid (QueryValidationError)."""
    return _one("4001", "Invalid query", f"QueryValidationError: {detail}", None)


def unsupported_operation(detail: str) -> QboFault:
    """500 (code, answered with HTTP 400): a path or operation QBO does not offer."""
    return _one("500", "Unsupported Operation", f"Operation {detail} is not supported.", None)


def batch_too_large(size: int, limit: int) -> QboFault:
    """1040: more operations in one batch than allowed."""
    return _one(
        "1040",
        "Batch size exceeds allowed limit",
        f"Batch size {size} exceeds the maximum allowed size of {limit}",
    )


def throttled() -> QboFault:
    """3001 with HTTP 429: a per-realm limit was reached."""
    return _one(
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later",
        None,
        status=429,
        fault_type=SERVICE,
    )


def monthly_quota(quota: int) -> QboFault:
    """HTTP 429 once the app's monthly CorePlus calls are used up. Intuit documents the
    status and that reads stay blocked until the next month (qbo-facts.md section 3, S14,
    S17); the Fault's wording is not published: third parties report the throttle's 3001,
    so the code and message are the throttle's and the Detail says which limit it is."""
    return _one(
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        f"The app has used its monthly limit of {quota} CorePlus API calls; CorePlus calls"
        " are blocked until the next month",
        None,
        status=429,
        fault_type=SERVICE,
    )


def forbidden_realm() -> QboFault:
    """3100 with HTTP 403: the token is not for this company."""
    return _one(
        "3100",
        "message=AuthorizationFailed; errorCode=003100; statusCode=403",
        "Authorization failed: the token does not grant access to this company",
        None,
        status=403,
        fault_type=SERVICE,
    )


def system_error() -> QboFault:
    """10000 with HTTP 500: an injected server failure (nothing was applied)."""
    return _one(
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving "
        "your data. Please wait a few minutes and try again.",
        None,
        status=500,
        fault_type=SYSTEM,
    )


def auth_fault_body(detail: str, epoch_ms: int) -> dict[str, Any]:
    """The 401 body in the lower-case shape QBO's gateway really sends (Fault 3200)."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": AUTHENTICATION,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": epoch_ms,
        "status": None,
        "cdcresponse": [],
    }


WWW_AUTHENTICATE = 'Bearer realm="Intuit", error="invalid_token"'
