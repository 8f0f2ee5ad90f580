"""The console's settings form of one company: which widget each setting is, the choices
its dropdown offers from the company's reference lists, the submitted form read back as a
`CompanySettings` body, and refusals placed beside their fields.

The checks themselves are the API's (`app.connections.company_settings`): this module
only turns a form into a body and lists into options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import ValidationError

from app.config import DriftPolicy
from app.connections.company_settings import REFERENCE_RULES, SettingsView
from app.connections.reference import ReferenceKind, ReferenceRows
from app.connections.settings import CompanySettings, GlobalTaxCalculation

# Empty rows offered below a company's payment method mappings.
SPARE_METHOD_ROWS = 3
MAX_METHOD_ROWS = 50


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    widget: str  # "reference" (a list's dropdown), "choice", "flag", "text", "methods"
    kind: ReferenceKind | None = None
    types: tuple[str, ...] | None = None  # accounts: the AccountTypes offered
    choices: tuple[str, ...] = ()
    country: str | None = None  # "us" / "non_us": shown only for such companies


def _account(name: str, label: str) -> FormField:
    rule = REFERENCE_RULES[name]
    return FormField(name, label, "reference", rule.kind, rule.types)


FIELDS: tuple[FormField, ...] = (
    _account("item_income_account_id", "Income account of new items"),
    _account("item_expense_account_id", "Expense account of non-inventory items"),
    _account("deposit_account_id", "Deposit account of payments"),
    _account("discount_account_id", "Account of discount lines"),
    FormField(
        "tax_code_id", "Tax code of lines that name none", "reference", ReferenceKind.TAX_CODES,
        country="non_us",
    ),
    FormField(
        "global_tax_calculation", "Line amounts", "choice",
        choices=get_args(GlobalTaxCalculation), country="non_us",
    ),
    FormField("default_taxable", "Lines are taxable unless they say", "flag", country="us"),
    FormField("payment_methods", "Payment methods", "methods", ReferenceKind.PAYMENT_METHODS),
    FormField("shipping_item_id", "Item of shipping lines (QBO Item id)", "text"),
    FormField("class_id", "Class of transactions", "reference", ReferenceKind.CLASSES),
    FormField(
        "department_id", "Department (location) of transactions", "reference",
        ReferenceKind.DEPARTMENTS,
    ),
    FormField("display_name_template", "Name when QBO already holds the name", "text"),
    FormField("item_adopt_existing_by_name", "Take over an item of the same name", "flag"),
    FormField("doc_number_ours", "Invoices carry your number as DocNumber", "flag"),
    *(
        FormField(f"drift_policy_{entity}", f"Change made in QBO to {article} {entity}",
                  "choice", choices=get_args(DriftPolicy))
        for article, entity in (("a", "customer"), ("an", "item"), ("an", "invoice"),
                                ("a", "payment"), ("a", "credit_memo"),
                                ("a", "sales_receipt"), ("a", "refund"))
    ),
)  # fmt: skip


def fields_for(is_us: bool | None) -> list[FormField]:
    """The fields that mean something for the company's country (all when unknown)."""
    if is_us is None:
        return list(FIELDS)
    return [f for f in FIELDS if f.country is None or f.country == ("us" if is_us else "non_us")]


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


def options(field: FormField, lists: Mapping[ReferenceKind, ReferenceRows]) -> list[Option] | None:
    """The choices of a reference field from the company's list: active records of the
    right type (the rest is refused anyway). None: the list could not be read (the field is
    a text box then)."""
    if field.kind is None or field.kind not in lists:
        return None
    rows = lists[field.kind].active()
    if field.types is not None:
        rows = [r for r in rows if r.get("type") in field.types]
    return [Option(r["id"], f"{r['name']} ({r['id']})") for r in rows]


def label_of(field: FormField, value: Any, lists: Mapping[ReferenceKind, ReferenceRows]) -> str:
    """How a value reads on the page: a record's name and id, `yes`/`no`, or as it is."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field.kind is not None and field.kind in lists and isinstance(value, str):
        row = lists[field.kind].by_id(value)
        if row is not None:
            return f"{row['name']} ({value})" + ("" if row["active"] else ", inactive")
    if isinstance(value, Mapping):
        shown = (f"{k} → {label_of(field, str(v), lists)}" for k, v in value.items())
        return ", ".join(shown) or "none"
    return str(value)


def method_rows(value: Any) -> list[tuple[str, str]]:
    """The mapping's rows as shown (name, id), and empty rows to add more."""
    rows = [(str(k), str(v)) for k, v in (value or {}).items()]
    return rows + [("", "")] * SPARE_METHOD_ROWS


def read_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted form as a settings body: an empty choice is the default (left out)."""
    body: dict[str, Any] = {}
    for field in FIELDS:
        if field.widget == "methods":
            methods: dict[str, str] = {}
            for i in range(MAX_METHOD_ROWS):
                name = str(form.get(f"method_name_{i}", "")).strip()
                qbo_id = str(form.get(f"method_id_{i}", "")).strip()
                if name or qbo_id:
                    methods[name] = qbo_id
            if methods:
                body[field.name] = methods
            continue
        raw = form.get(field.name)
        text = str(raw).strip() if raw is not None else ""
        if not text:
            continue
        body[field.name] = (
            {"true": True, "false": False}.get(text, text) if (field.widget == "flag") else text
        )
    return body


def parse_body(body: Mapping[str, Any]) -> tuple[CompanySettings | None, dict[str, list[str]]]:
    """The body as CompanySettings, or the problems of each field (by setting name)."""
    try:
        return CompanySettings.model_validate(body), {}
    except ValidationError as err:
        problems: dict[str, list[str]] = {}
        for e in err.errors():
            loc = [str(p) for p in e["loc"]]
            name = loc[0] if loc else ""
            where = f"{loc[1]}: " if len(loc) > 1 and name == "payment_methods" else ""
            problems.setdefault(name, []).append(where + e["msg"])
        return None, problems


def refusals_by_field(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """A refusal's errors (`loc` ["body", name, ...]) by setting name."""
    problems: dict[str, list[str]] = {}
    for e in errors:
        loc = [str(p) for p in e.get("loc", [])][1:]
        name = loc[0] if loc else ""
        where = f"{loc[1]}: " if len(loc) > 1 else ""
        problems.setdefault(name, []).append(where + str(e.get("detail", "")))
    return problems


def shown_values(view: SettingsView, submitted: Mapping[str, Any] | None) -> dict[str, Any]:
    """What each field shows selected: the submitted value after a refusal, else the
    company's own value (None: the default is selected)."""
    if submitted is not None:
        return {f.name: submitted.get(f.name) for f in FIELDS}
    return {name: v.value if v.source == "company" else None for name, v in view.values.items()}
