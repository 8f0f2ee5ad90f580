"""Field types of the intake contract: money, quantities, names, dates, the strict base model.

Each type carries QBO's rule where one is known, so the OpenAPI schema shows it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class DecimalString:
    """Metadata: a Decimal that must arrive as a canonical decimal string matching `pattern`.

    Floats cannot carry cents exactly, so numbers are refused; the same pattern is published
    in the OpenAPI schema, so what the schema allows is what intake accepts.
    """

    pattern: str
    meaning: str
    example: str
    positive: bool = False

    def _check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f'must be a decimal string such as "{self.example}"')
        if not re.fullmatch(self.pattern, value):
            raise ValueError(f'must be {self.meaning}, such as "{self.example}"')
        if self.positive and Decimal(value) == 0:
            raise ValueError(f'must be {self.meaning}, such as "{self.example}"')
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": self.pattern,
            "examples": [self.example],
            "description": self.meaning,
        }


def _iso_text(value: Any) -> Any:
    # Lax parsing would read 0 as 1970-01-01; dates and times must be ISO 8601 strings.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string")
    return value


def _no_name_separators(value: str) -> str:
    # QBO uses ':' to join parent and child names and refuses tab and newline.
    for bad, label in ((":", "colon"), ("\t", "tab"), ("\n", "newline"), ("\r", "newline")):
        if bad in value:
            raise ValueError(f"must not contain a {label}")
    return value


def _email_shape(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or domain.startswith(".") or " " in value:
        raise ValueError("must be an e-mail address such as name@example.com")
    return value


# Canonical forms: no sign, no leading zeros, at most 13 integer digits and 2 places for money.
# "Above zero" is checked apart from the pattern, so that "0.50" is as welcome as "0.5".
NonNegativeMoney = Annotated[
    Decimal,
    DecimalString(
        r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$",
        "an amount with at most 2 decimal places",
        "12.50",
    ),
]
PositiveMoney = Annotated[
    Decimal,
    DecimalString(
        r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$",
        "an amount above zero with at most 2 decimal places",
        "12.50",
        positive=True,
    ),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
]
Name = Annotated[Text, StringConstraints(max_length=100), AfterValidator(_no_name_separators)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Quantity = Annotated[
    Decimal,
    DecimalString(
        r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,5})?$",
        "a quantity above zero with at most 5 decimal places",
        "1.5",
        positive=True,
    ),
]
Day = Annotated[date, BeforeValidator(_iso_text)]


def _in_utc_range(value: datetime) -> datetime:
    """A time must exist in UTC too: 0001-01-01T00:00+03:01 would be in year 0."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time between years 1 and 9999 in UTC") from None
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_utc_range)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text and jsonb cannot hold U+0000; refuse it here, naming the field.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain the NUL character")
        return value
