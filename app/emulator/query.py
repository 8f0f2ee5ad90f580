"""QBO's query language: a parser and an evaluator over a company's records.

Grammar (keywords case-insensitive, entity names case-sensitive, no OR):
    SELECT (* | COUNT(*) | field [, field]*) FROM Entity
    [WHERE cond [AND cond]*] [ORDERBY field [ASC|DESC] [, ...]]
    [STARTPOSITION n] [MAXRESULTS n]
    cond := field (= | < | > | <= | >= | LIKE) value | field IN (value [, value]*)
Strings are single-quoted, with backslash escapes (`'O\\'Brien'`). A syntax error is
Fault 4000 (QueryParserError); a valid sentence that asks for something impossible
(unknown entity or property, bad paging) is 4001 (QueryValidationError).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.emulator import faults
from app.emulator.company import Company
from app.emulator.jsonio import parse_time, to_decimal
from app.emulator.schema import KNOWN_PROPERTIES
from app.emulator.store import NAME_LIST_ENTITIES, clone

QUERYABLE = (
    "Customer",
    "Item",
    "Invoice",
    "Payment",
    "CreditMemo",
    "SalesReceipt",
    "RefundReceipt",
    "Account",
    "Vendor",
    "Employee",
    "TaxCode",
    "TaxRate",
    "TaxAgency",
    "PaymentMethod",
    "Class",
    "Department",
    "Term",
    "CompanyInfo",
    "Preferences",
)
OPERATORS = frozenset({"=", "<", ">", "<=", ">=", "LIKE", "IN"})
DEFAULT_MAX_RESULTS = 100

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:\\.|[^'\\])*')
      | (?P<unterminated>'(?:\\.|[^'\\])*$)
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<punct>[(),*])
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<word>[A-Za-z_][\w.]*)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)


@dataclass
class Token:
    kind: str
    text: str
    column: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass
class Condition:
    field: str
    op: str
    values: list[Any]


@dataclass
class Query:
    """A parsed SELECT."""

    entity: str
    count: bool = False
    fields: list[str] | None = None
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; Fault 4000 on a lexical error."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        kind = match.lastgroup or "bad"
        value = match.group(kind)
        column = match.start(kind) + 1
        if kind in ("bad", "unterminated"):
            raise faults.query_parse_error(
                f"Lexical error at line 1, column {column}.  Encountered: {value[:1]!r}"
            )
        tokens.append(Token(kind, value, column))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise faults.query_parse_error('Encountered "<EOF>" at line 1.')
        self.index += 1
        return token

    def fail(self, token: Token) -> faults.QboFault:
        return faults.query_parse_error(
            f'Encountered " {token.text} " at line 1, column {token.column}.'
        )

    def keyword(self, word: str) -> None:
        token = self.take()
        if token.upper != word:
            raise self.fail(token)

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.upper == word

    def punct(self, char: str) -> None:
        token = self.take()
        if token.text != char:
            raise self.fail(token)

    def identifier(self) -> str:
        token = self.take()
        if token.kind != "word":
            raise self.fail(token)
        return token.text

    def value(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return _unescape(token.text)
        if token.kind == "number":
            return Decimal(token.text)
        if token.kind == "word" and token.upper in ("TRUE", "FALSE"):
            return token.upper == "TRUE"
        raise self.fail(token)

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or "." in token.text:
            raise self.fail(token)
        return int(token.text)

    def parse(self) -> Query:
        self.keyword("SELECT")
        count, fields = False, None
        if self.at_keyword("COUNT"):
            self.take()
            self.punct("(")
            self.punct("*")
            self.punct(")")
            count = True
        elif (token := self.peek()) is not None and token.text == "*":
            self.take()
        else:
            fields = [self.identifier()]
            while (token := self.peek()) is not None and token.text == ",":
                self.take()
                fields.append(self.identifier())
        self.keyword("FROM")
        query = Query(entity=self.identifier(), count=count, fields=fields)
        if self.at_keyword("WHERE"):
            self.take()
            query.conditions.append(self.condition())
            while self.at_keyword("AND"):
                self.take()
                query.conditions.append(self.condition())
        while (token := self.peek()) is not None:
            word = token.upper
            if word == "ORDERBY" or word == "ORDER":
                self.take()
                if word == "ORDER":
                    self.keyword("BY")
                query.order = self.ordering()
            elif word == "STARTPOSITION":
                self.take()
                query.start = self.integer()
            elif word == "MAXRESULTS":
                self.take()
                query.max_results = self.integer()
            else:
                raise self.fail(token)
        return query

    def condition(self) -> Condition:
        name = self.identifier()
        token = self.take()
        op = token.upper
        if op not in OPERATORS:
            raise self.fail(token)
        if op == "IN":
            self.punct("(")
            values = [self.value()]
            while (nxt := self.peek()) is not None and nxt.text == ",":
                self.take()
                values.append(self.value())
            self.punct(")")
            return Condition(name, op, values)
        return Condition(name, op, [self.value()])

    def ordering(self) -> list[tuple[str, bool]]:
        order = [self.order_item()]
        while (token := self.peek()) is not None and token.text == ",":
            self.take()
            order.append(self.order_item())
        return order

    def order_item(self) -> tuple[str, bool]:
        name = self.identifier()
        descending = False
        if self.at_keyword("ASC") or self.at_keyword("DESC"):
            descending = self.take().upper == "DESC"
        return name, descending


def parse(text: str, max_allowed: int = 1000) -> Query:
    """Parse and validate a query string. Raises Fault 4000 or 4001."""
    query = _Parser(text).parse()
    if query.entity not in QUERYABLE:
        raise faults.invalid_query(f"invalid context declaration: {query.entity}")
    known = KNOWN_PROPERTIES.get(query.entity)
    names = [c.field for c in query.conditions] + [name for name, _ in query.order]
    for name in names + (query.fields or []):
        top = name.split(".")[0]
        if known is not None and top.casefold() not in {k.casefold() for k in known}:
            raise faults.invalid_query(f"property '{top}' is not queryable")
    if query.start < 1:
        raise faults.invalid_query(f"value {query.start} is too small. Min allowed value is 1")
    if query.max_results < 1:
        raise faults.invalid_query(
            f"value {query.max_results} is too small. Min allowed value is 1"
        )
    if query.max_results > max_allowed:
        raise faults.invalid_query(
            f"value {query.max_results} is too large. Max allowed value is {max_allowed}"
        )
    return query


def lookup(record: dict[str, Any], path: str) -> Any:
    """A field by (dotted, case-insensitive) path; a reference yields its `value`."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        key = next((k for k in current if k.casefold() == part.casefold()), None)
        if key is None:
            return None
        current = current[key]
    if isinstance(current, dict) and "value" in current:
        return current["value"]
    return current


def _comparable(stored: Any, wanted: Any) -> tuple[Any, Any] | None:
    if stored is None:
        return None
    if isinstance(stored, bool):
        if isinstance(wanted, str):
            wanted = wanted.strip().lower() == "true"
        return stored, bool(wanted)
    if isinstance(stored, Decimal | int):
        number = to_decimal(wanted)
        return (Decimal(stored), number) if number is not None else None
    text, other = str(stored), str(wanted)
    if "T" in text and len(text) > 10:
        left, right = parse_time(text), parse_time(other)
        if left is not None and right is not None:
            return left, right
    return text.casefold(), other.casefold()


def _like(stored: Any, pattern: Any) -> bool:
    regex = ".*".join(re.escape(part) for part in str(pattern).split("%"))
    return re.fullmatch(regex, str(stored), re.IGNORECASE | re.DOTALL) is not None


def matches(record: dict[str, Any], condition: Condition) -> bool:
    """Whether one record satisfies one condition."""
    stored = lookup(record, condition.field)
    if condition.op == "LIKE":
        return stored is not None and _like(stored, condition.values[0])
    if condition.op == "IN":
        for wanted in condition.values:
            pair = _comparable(stored, wanted)
            if pair is not None and pair[0] == pair[1]:
                return True
        return False
    pair = _comparable(stored, condition.values[0])
    if pair is None:
        return False
    left, right = pair
    try:
        return bool(
            {
                "=": left == right,
                "<": left < right,
                ">": left > right,
                "<=": left <= right,
                ">=": left >= right,
            }[condition.op]
        )
    except TypeError:
        return False


def _default_sort_key(entity: str, record: dict[str, Any]) -> tuple[Any, ...]:
    if entity in NAME_LIST_ENTITIES:
        name = record.get("FullyQualifiedName") or record.get("DisplayName") or record.get("Name")
        return (str(name or "").casefold(), int(record["Id"]))
    return ("", int(record["Id"]))


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | Decimal):
        return (1, Decimal(value))
    text = str(value)
    moment = parse_time(text) if "T" in text else None
    return (2, moment) if moment is not None else (3, text.casefold())


def _sorter(name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda record: _sort_value(lookup(record, name))


def execute(company: Company, query: Query) -> dict[str, Any]:
    """Run a parsed query; answers the `QueryResponse` object.

    On a list entity with `Active` (Customer, Item, Account, Vendor, Employee, TaxCode,
    TaxRate, PaymentMethod, Class, Department, Term) a query that puts no condition on
    `Active` sees only the active records, as QBO does: Intuit's query guides give
    `SELECT * FROM Customer` as the statement that "retrieves all active customers" (Intuit
    developer blog, "Advanced SQL Queries", 2014-03-20, and "Deep dive into QuickBooks
    Online data queries", 2017-02-08). Any condition on `Active` replaces that filter, so
    `WHERE Active = false` finds the inactive ones and `WHERE Active IN (true, false)` all.
    """
    records = list(company.table(query.entity).values())
    conditions = list(query.conditions)
    if query.entity in NAME_LIST_ENTITIES and not any(
        c.field.casefold() == "active" for c in conditions
    ):
        # QBO hides inactive name-list objects unless the query asks about Active.
        conditions.append(Condition("Active", "=", [True]))
    found = [r for r in records if all(matches(r, c) for c in conditions)]
    if query.count:
        return {"totalCount": len(found)}
    found.sort(key=lambda r: _default_sort_key(query.entity, r))
    for name, descending in reversed(query.order):
        found.sort(key=_sorter(name), reverse=descending)
    page = found[query.start - 1 : query.start - 1 + query.max_results]
    if not page:
        return {}
    objects = [clone(r) for r in page]
    if query.fields:
        wanted = {f.split(".")[0].casefold() for f in query.fields} | {"id", "synctoken"}
        objects = [{k: v for k, v in o.items() if k.casefold() in wanted} for o in objects]
        for obj in objects:
            obj["sparse"] = True
    return {query.entity: objects, "startPosition": query.start, "maxResults": len(page)}
