"""Server-rendered HTML: the home page listing companies and their records, and the
OAuth consent page. Every value is escaped."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from app.emulator.gateway import StoreDep
from app.emulator.jsonio import dumps

if TYPE_CHECKING:
    from app.emulator.company import Company

router = APIRouter()

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:72rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}
th{background:#f3f3f3} .muted{color:#777} .box{border:1px solid #ccc;padding:1rem;margin:1rem 0}
button{padding:.4rem 1rem;margin-right:.5rem}
"""


def _layout(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body or ''}</table>"


def _ref(value: Any) -> str:
    return str(value.get("name") or value.get("value")) if isinstance(value, dict) else ""


def company_section(company: Company) -> str:
    """The records of one company as HTML tables."""
    customers = sorted(company.table("Customer").values(), key=lambda r: int(r["Id"]))
    items = sorted(company.table("Item").values(), key=lambda r: int(r["Id"]))
    invoices = sorted(company.table("Invoice").values(), key=lambda r: int(r["Id"]))
    payments = sorted(company.table("Payment").values(), key=lambda r: int(r["Id"]))
    parts = [
        f"<h2>{escape(company.name)} <span class='muted'>realm {escape(company.realm_id)}, "
        f"{escape(company.country)}, custom numbers "
        f"{'on' if company.custom_txn_numbers else 'off'}</span></h2>",
        "<h3>Customers</h3>",
        _table(
            ["Id", "SyncToken", "DisplayName", "Balance", "Active"],
            (
                [r["Id"], r["SyncToken"], r["DisplayName"], r["Balance"], r["Active"]]
                for r in customers
            ),
        ),
        "<h3>Items</h3>",
        _table(
            ["Id", "SyncToken", "Name", "Type", "UnitPrice", "Active"],
            (
                [r["Id"], r["SyncToken"], r["Name"], r["Type"], r["UnitPrice"], r["Active"]]
                for r in items
            ),
        ),
        "<h3>Invoices</h3>",
        _table(
            ["Id", "SyncToken", "DocNumber", "Customer", "TotalAmt", "Balance", "Note"],
            (
                [
                    r["Id"],
                    r["SyncToken"],
                    r.get("DocNumber", ""),
                    _ref(r["CustomerRef"]),
                    r["TotalAmt"],
                    r["Balance"],
                    r.get("PrivateNote", ""),
                ]
                for r in invoices
            ),
        ),
        "<h3>Payments</h3>",
        _table(
            ["Id", "SyncToken", "Customer", "TotalAmt", "UnappliedAmt", "Note"],
            (
                [
                    r["Id"],
                    r["SyncToken"],
                    _ref(r["CustomerRef"]),
                    r["TotalAmt"],
                    r["UnappliedAmt"],
                    r.get("PrivateNote", ""),
                ]
                for r in payments
            ),
        ),
    ]
    return "".join(parts)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, store: StoreDep) -> HTMLResponse:
    kept = store.config.state_file
    where = (
        f"Companies, records and tokens are kept in <code>{escape(kept)}</code>. "
        if kept
        else "Everything lives in memory and is gone on restart. "
    )
    intro = (
        "<h1>QuickBooks Online emulator</h1>"
        f"<p class='muted'>{where}"
        "Admin API under <code>/admin</code>; discovery at "
        "<code>/.well-known/openid_sandbox_configuration</code>.</p>"
    )
    if not store.companies:
        return HTMLResponse(_layout("QBO emulator", intro + "<p>No companies yet.</p>"))
    sections = "".join(company_section(c) for c in store.companies.values())
    return HTMLResponse(_layout("QBO emulator", intro + sections))


@router.get("/companies/{realm_id}", response_class=HTMLResponse)
async def company_page(realm_id: str, store: StoreDep) -> HTMLResponse:
    company = store.company(realm_id)
    if company is None:
        return HTMLResponse(_layout("Not found", "<p>No such company.</p>"), status_code=404)
    raw = escape(dumps({k: list(v.values()) for k, v in company.records.items()}))
    body = company_section(company) + f"<details><summary>Raw JSON</summary><pre>{raw}</pre>"
    return HTMLResponse(_layout(company.name, body + "</details>"))


def authorize_page(
    companies: list[Company], client_id: str, redirect_uri: str, scope: str, state: str
) -> str:
    """The consent page: pick or create a company, then Approve or Deny."""
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{escape(value, quote=True)}'>"
        for name, value in (
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("state", state),
        )
    )
    choices = "".join(
        f"<label><input type='radio' name='realm_id' value='{escape(c.realm_id, quote=True)}'"
        f"{' checked' if index == 0 else ''}> {escape(c.name)} "
        f"<span class='muted'>({escape(c.realm_id)}, {escape(c.country)})</span></label><br>"
        for index, c in enumerate(companies)
    )
    new_checked = "" if companies else " checked"
    body = (
        "<h1>Connect to QuickBooks (emulator)</h1>"
        f"<p><b>{escape(client_id)}</b> wants access to: <code>{escape(scope)}</code></p>"
        f"<form method='post' action='/connect/oauth2/decision'>{hidden}"
        f"<div class='box'>{choices}"
        f"<label><input type='radio' name='realm_id' value='new'{new_checked}> "
        "Create a new company:</label> "
        "<input name='company_name' placeholder='Company name' value='Sandbox Company'> "
        "<select name='country'><option>US</option><option>GB</option><option>CA</option>"
        "<option>AU</option></select> "
        "<label><input type='checkbox' name='custom_txn_numbers'> custom transaction numbers"
        "</label></div>"
        "<button name='action' value='approve'>Approve</button>"
        "<button name='action' value='deny'>Deny</button></form>"
    )
    return _layout("Connect to QuickBooks", body)


def error_page(message: str, detail: str) -> str:
    """A plain error page for consent requests that cannot go on."""
    return _layout("Error", f"<h1>{escape(message)}</h1><p>{escape(detail)}</p>")
