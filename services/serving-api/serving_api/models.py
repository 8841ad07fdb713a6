"""Response models of the serving API: what each endpoint returns, as the OpenAPI schema shows it.

Money is exact: `revenue` and `lifetime_value` leave the API as JSON strings of the stored
decimal ("1234.50"), never as floats. Timestamps are ISO-8601 in UTC with an explicit offset
("2024-05-01T12:00:00+00:00").
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema


def money_text(value: Decimal) -> str:
    """The exact decimal as plain text (never an exponent: Decimal('1E+3') -> '1000')."""
    return format(value, "f")


def utc_text(value: datetime) -> str:
    """ISO-8601 in UTC with a `+00:00` offset; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


Money = Annotated[
    Decimal,
    PlainSerializer(money_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?\d+\.\d{2}$",
            "examples": ["1234.50"],
            "description": "exact decimal with two places, as a string",
        }
    ),
]
Timestamp = Annotated[
    datetime,
    PlainSerializer(utc_text, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2024-05-01T12:00:00+00:00"]}),
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Customer(_Model):
    """A customer as of the last publication of `gold.customer_lifetime`, with lifetime stats."""

    customer_id: int = Field(description="the customer's id in the source shop database")
    email: str | None = Field(description="email address")
    name: str | None = Field(description="full name")
    country: str | None = Field(description="country code")
    created_at: Timestamp | None = Field(description="when the customer was created in the source")
    updated_at: Timestamp | None = Field(description="when the customer was last changed in the source")
    orders: int = Field(description="number of counted (not cancelled) orders")
    lifetime_value: Money = Field(description="sum over counted orders of quantity * unit price")
    first_order_at: Timestamp | None = Field(description="first counted order (null: none)")
    last_order_at: Timestamp | None = Field(description="last counted order (null: none)")


class DailyRevenue(_Model):
    """One UTC day of `gold.daily_revenue`."""

    day: date = Field(description="UTC date of the orders' creation")
    orders: int = Field(description="number of counted (not cancelled) orders created that day")
    revenue: Money = Field(description="sum of quantity * unit price of their items")


class DailyRevenueRange(_Model):
    """The days of an inclusive date range that are present in the serving store, oldest first."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    from_: date = Field(alias="from", description="first day of the range (inclusive)")
    to: date = Field(description="last day of the range (inclusive)")
    days: list[DailyRevenue] = Field(description="days with revenue in the range, ascending; absent days are omitted")


class TableFreshness(_Model):
    """How fresh one published gold table is."""

    gold_table: str = Field(description="gold table name, e.g. gold.daily_revenue")
    watermark: Timestamp | None = Field(description="every source change committed before this is included")
    published_at: Timestamp = Field(description="when the table was last published to the serving store")
    age_seconds: float | None = Field(description="now - watermark in seconds (null when there is no watermark)")
    row_count: int = Field(description="rows published")
    snapshot_id: int | None = Field(description="Iceberg snapshot of the gold table that was published")


class Freshness(_Model):
    """Freshness of every gold table the API serves."""

    now: Timestamp = Field(description="the serving store's clock when this was read")
    tables: list[TableFreshness] = Field(description="published gold tables, by name")
    unpublished: list[str] = Field(description="gold tables the API serves that have not been published yet")


class Health(_Model):
    """Liveness: the process answers."""

    status: str = Field(examples=["ok"])


class Readiness(_Model):
    """Readiness: whether the API can serve data now, and if not, why."""

    status: str = Field(description="`ready`, `store_unreachable` or `not_published`", examples=["ready"])
    store_reachable: bool = Field(description="the serving store answered a query as the read-only role")
    published: list[str] = Field(description="gold tables with a publication")
    unpublished: list[str] = Field(description="gold tables the API serves that have no publication yet")
    detail: str = Field(description="human-readable explanation")


class ErrorDetail(_Model):
    """An error answer (404, 503)."""

    detail: str
