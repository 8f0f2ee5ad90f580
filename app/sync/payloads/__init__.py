"""QBO request bodies built from validated event data: pure functions, no I/O.

Every builder returns the JSON object of a create as a dict. Money and quantities are
`Decimal` values, never floats: the HTTP client must serialise them as bare JSON numbers
(`body_json` does exactly that). Updates wrap a create body with `sparse_update`; line
arrays are always sent whole, because QBO replaces an entity's lines with the ones sent.
Builders raise `PayloadError` when an event cannot become a body the company accepts.
"""

from app.sync.payloads.bodies import (
    OWNED_FIELDS,
    applied_credit_body,
    customer_body,
    invoice_body,
    item_body,
    number_note,
    paid_sale_body,
    payment_body,
    sales_form_body,
)
from app.sync.payloads.context import (
    CompanyContext,
    NameLists,
    PayloadError,
    code_rates,
    name_keys,
    resolve_name,
)
from app.sync.payloads.text import (
    DEFAULT_DISAMBIGUATION,
    clean_name,
    disambiguated_name,
    has_marker,
    marked_ids,
    marked_note,
    marker,
    query_escape,
    query_literal,
    requestid,
)
from app.sync.payloads.updates import (
    CREATE_ONLY_FIELDS,
    body_json,
    deactivate_body,
    delete_body,
    json_ready,
    sparse_update,
    void_invoice_body,
    void_payment_body,
)

__all__ = [
    "CREATE_ONLY_FIELDS",
    "DEFAULT_DISAMBIGUATION",
    "OWNED_FIELDS",
    "CompanyContext",
    "NameLists",
    "PayloadError",
    "applied_credit_body",
    "body_json",
    "clean_name",
    "code_rates",
    "customer_body",
    "deactivate_body",
    "delete_body",
    "disambiguated_name",
    "has_marker",
    "invoice_body",
    "item_body",
    "json_ready",
    "marked_ids",
    "marked_note",
    "marker",
    "name_keys",
    "number_note",
    "paid_sale_body",
    "payment_body",
    "query_escape",
    "query_literal",
    "requestid",
    "resolve_name",
    "sales_form_body",
    "sparse_update",
    "void_invoice_body",
    "void_payment_body",
]
