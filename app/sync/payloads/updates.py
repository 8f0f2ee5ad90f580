"""Update, deactivate, void and delete bodies, and exact JSON for any body."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.sync.payloads.ownership import OWNED, Written

Json = dict[str, Any]
# Sent on create only: the currency (QBO fixes a customer's, and so its transactions', once
# set) and what the company's settings chose (accounts, class, department).
CREATE_ONLY_FIELDS = frozenset(
    f.name for fields in OWNED.values() for f in fields if f.written is Written.CREATE
)


def sparse_update(body: Mapping[str, Any], qbo_id: str, sync_token: str) -> Json:
    """A sparse update of record `qbo_id` at `sync_token` carrying the fields of `body`
    (a builder's create body), minus create-only fields (`CREATE_ONLY_FIELDS`).

    Fields not in `body` keep their QBO values; a `Line` array replaces all lines.
    `body` is not modified.
    """
    fields = {k: copy.deepcopy(v) for k, v in body.items() if k not in CREATE_ONLY_FIELDS}
    return {"Id": str(qbo_id), "SyncToken": str(sync_token), "sparse": True, **fields}


def deactivate_body(qbo_id: str, sync_token: str) -> Json:
    """Sparse update setting `Active: false` (customers and items have no delete).
    Reactivation is a `sparse_update` of a body with `Active: true`."""
    return {"Id": str(qbo_id), "SyncToken": str(sync_token), "sparse": True, "Active": False}


def delete_body(qbo_id: str, sync_token: str) -> Json:
    """Body of an invoice or payment delete: POST `/invoice?operation=delete` or
    `/payment?operation=delete`. An invoice with payments applied must be unlinked first."""
    return {"Id": str(qbo_id), "SyncToken": str(sync_token)}


def void_invoice_body(qbo_id: str, sync_token: str) -> Json:
    """Body of an invoice void: POST `/invoice?operation=void` (amounts become 0)."""
    return {"Id": str(qbo_id), "SyncToken": str(sync_token)}


def void_payment_body(qbo_id: str, sync_token: str) -> Json:
    """Body of a payment void: POST `/payment?operation=update&include=void`, a sparse
    update (not `operation=void`, which is the invoice form)."""
    return {"Id": str(qbo_id), "SyncToken": str(sync_token), "sparse": True}


def body_json(body: Any) -> str:
    """Compact JSON of a body with every Decimal written exactly as a bare number
    (`Decimal("12.50")` -> `12.50`); the standard encoder would go through float.

    Raises TypeError for values JSON cannot hold (floats are refused too: money must
    never pass through binary floating point).
    """
    if isinstance(body, bool) or body is None or isinstance(body, int | str):
        return json.dumps(body, ensure_ascii=False)
    if isinstance(body, Decimal):
        if not body.is_finite():
            raise TypeError(f"cannot encode {body} as JSON")
        return format(body, "f")
    if isinstance(body, Mapping):
        items = (
            f"{json.dumps(str(k), ensure_ascii=False)}:{body_json(v)}" for k, v in body.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(body, list | tuple):
        return "[" + ",".join(body_json(v) for v in body) + "]"
    raise TypeError(f"cannot encode {type(body).__name__} as JSON")


def json_ready(body: Any) -> Any:
    """`body` as plain JSON values, every Decimal as the text of the number `body_json`
    writes for it (`Decimal("12.50")` -> `"12.50"`): how a request is stored and shown,
    exactly, without passing through binary floating point. Raises TypeError as
    `body_json` does."""
    if isinstance(body, bool) or body is None or isinstance(body, int | str):
        return body
    if isinstance(body, Decimal):
        return body_json(body)
    if isinstance(body, Mapping):
        return {str(k): json_ready(v) for k, v in body.items()}
    if isinstance(body, list | tuple):
        return [json_ready(v) for v in body]
    raise TypeError(f"cannot encode {type(body).__name__} as JSON")
