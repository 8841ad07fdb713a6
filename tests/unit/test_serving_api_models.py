"""Serialization rules of the serving API (exact money, UTC offsets), its OpenAPI schema, metrics and CLI."""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lakehouse.settings import ServingSettings
from serving_api.app import create_app
from serving_api.cli import main as cli_main
from serving_api.metrics import UNMATCHED_ROUTE, Metrics, route_template
from serving_api.models import Customer, DailyRevenue, DailyRevenueRange, money_text, utc_text
from serving_api.store import Publication, Publications

pytestmark = pytest.mark.unit


def test_money_is_an_exact_string() -> None:
    assert money_text(Decimal("0.10") + Decimal("0.20")) == "0.30"
    assert money_text(Decimal("12345678901234567.89")) == "12345678901234567.89"
    assert money_text(Decimal("1E+3")) == "1000"
    assert money_text(Decimal("0.00")) == "0.00"
    day = DailyRevenue(day=date(2024, 1, 1), orders=2, revenue=Decimal("1234.50"))
    assert json.loads(day.model_dump_json()) == {"day": "2024-01-01", "orders": 2, "revenue": "1234.50"}


def test_timestamps_are_utc_with_offset() -> None:
    cet = timezone(timedelta(hours=1))
    assert utc_text(datetime(2024, 5, 1, 13, 0, tzinfo=cet)) == "2024-05-01T12:00:00+00:00"
    assert utc_text(datetime(2024, 5, 1, 12, 0)) == "2024-05-01T12:00:00+00:00"
    c = Customer(
        customer_id=1,
        email=None,
        name=None,
        country=None,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        updated_at=None,
        orders=0,
        lifetime_value=Decimal("0.00"),
        first_order_at=None,
        last_order_at=None,
    )
    out = json.loads(c.model_dump_json())
    assert out["created_at"] == "2024-01-01T00:00:00+00:00" and out["lifetime_value"] == "0.00"
    assert out["first_order_at"] is None


def test_range_serializes_from_by_its_query_name() -> None:
    r = DailyRevenueRange(from_=date(2024, 1, 1), to=date(2024, 1, 2), days=[])
    assert json.loads(r.model_dump_json()) == {"from": "2024-01-01", "to": "2024-01-02", "days": []}


def test_openapi_documents_every_endpoint_and_money_as_string() -> None:
    app = create_app(ServingSettings(password="x", reader_password="y"))  # type: ignore[arg-type]
    spec = app.openapi()
    assert {
        "/healthz",
        "/readyz",
        "/v1/customers/{customer_id}",
        "/v1/revenue/daily",
        "/v1/freshness",
        "/metrics",
    } <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert schemas["DailyRevenue"]["properties"]["revenue"]["type"] == "string"
    assert schemas["Customer"]["properties"]["lifetime_value"]["type"] == "string"
    params = {p["name"] for p in spec["paths"]["/v1/revenue/daily"]["get"]["parameters"]}
    assert params == {"from", "to"}
    assert "404" in spec["paths"]["/v1/customers/{customer_id}"]["get"]["responses"]


def test_route_template_bounds_the_label() -> None:
    class Route:
        path = "/v1/customers/{customer_id}"

    assert route_template({"route": Route()}) == "/v1/customers/{customer_id}"
    assert route_template({}) == UNMATCHED_ROUTE


def test_freshness_gauge_drops_unknown_ages() -> None:
    m = Metrics()
    now = datetime(2024, 1, 1, tzinfo=UTC)
    pub = Publication("gold.daily_revenue", now - timedelta(seconds=90), now, 90.0, 3, 7)
    m.observe_publications(Publications(now, [pub]))
    m.observe_request("GET", "/v1/freshness", 200, 0.01)
    text = m.render().decode()
    assert 'serving_api_freshness_age_seconds{gold_table="gold.daily_revenue"} 90.0' in text
    assert 'gold_table="gold.customer_lifetime"' not in text
    assert 'serving_api_http_requests_total{method="GET",route="/v1/freshness",status="200"} 1.0' in text
    assert "serving_api_store_up 1.0" in text
    m.observe_publications(None)
    text = m.render().decode()
    assert "gold_table=" not in text and "serving_api_store_up 0.0" in text


def test_cli_help_needs_no_settings_and_serve_names_missing_variables(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["serve", "--help"]):
        with pytest.raises(SystemExit) as exc:
            cli_main(argv)
        assert exc.value.code == 0
    assert "--port" in capsys.readouterr().out
    assert cli_main(["serve", "--port", "8123"]) == 2
    err = capsys.readouterr().err
    assert "LAKEHOUSE_SERVING_READER_PASSWORD is not set" in err
    with pytest.raises(SystemExit) as exc:
        cli_main(["serve", "--port", "70000"])
    assert exc.value.code == 2 and "port must be 1..65535" in capsys.readouterr().err
