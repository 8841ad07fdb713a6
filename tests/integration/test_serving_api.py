"""The serving API as deployed: the real `lakehouse-serving-api serve` process (uvicorn) on a free port, reading
a real PostgreSQL serving store (the real DDL, the real read-only role) that the tests publish to as the
publisher role, the way the gold-and-serve flow does (rows and publication row in one transaction)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import errors
from stackctl.ephemeral import free_port

from tests.integration.conftest import REPO

SERVE = REPO / ".venv" / "bin" / "lakehouse-serving-api"
DAILY, CUSTOMERS = "gold.daily_revenue", "gold.customer_lifetime"


@dataclass
class Api:
    """A running API process, its HTTP client and its log file."""

    proc: subprocess.Popen[bytes]
    client: httpx.Client
    log: Path

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.client.get(path, params=params or None)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_api(env: dict[str, str], log: Path) -> Iterator[Api]:
    """Start `lakehouse-serving-api serve --port N` with `env`; wait for /healthz; SIGTERM it afterwards."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(SERVE), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15)
    api = Api(proc, client, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serving API exited {proc.returncode} at start-up:\n{api.output()}")
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serving API did not answer /healthz within 30s:\n{api.output()}")
            time.sleep(0.2)
        yield api
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def api(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(stack.env, tmp_path_factory.mktemp("serving-api") / "api.log") as running:
        yield running


def publisher(stack: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(stack.settings.serving.conninfo(reader=False))


def clear_store(stack: Any) -> None:
    with publisher(stack) as conn:
        conn.execute("TRUNCATE serving.daily_revenue, serving.customer_lifetime, serving.publications")


def publish(
    conn: psycopg.Connection[Any], gold_table: str, row_count: int, *, watermark_age_s: float = 60, snapshot_id: int = 1
) -> None:
    """Upsert the publication row (call inside the transaction that replaced the table's rows)."""
    conn.execute(
        """INSERT INTO serving.publications (gold_table, published_at, watermark, row_count, snapshot_id)
           VALUES (%s, now(), now() - make_interval(secs => %s), %s, %s)
           ON CONFLICT (gold_table) DO UPDATE SET published_at = excluded.published_at,
               watermark = excluded.watermark, row_count = excluded.row_count, snapshot_id = excluded.snapshot_id""",
        (gold_table, watermark_age_s, row_count, snapshot_id),
    )


def publish_daily_revenue(stack: Any, *, watermark_age_s: float = 60, snapshot_id: int = 11) -> None:
    """Days inserted out of order; 2024-01-01 is a sum 0.10 + 0.20 computed in numeric, as gold does."""
    with publisher(stack) as conn, conn.transaction():
        conn.execute("DELETE FROM serving.daily_revenue")
        conn.execute("""INSERT INTO serving.daily_revenue (day, orders, revenue) VALUES
                        ('2024-12-31', 1, 5.00), ('2025-01-01', 4, 99.99), ('2024-01-03', 7, 12345678901234567.89)""")
        conn.execute("""INSERT INTO serving.daily_revenue (day, orders, revenue)
                        SELECT '2024-01-01', count(*), sum(v) FROM (VALUES (0.10::numeric), (0.20::numeric)) t(v)""")
        publish(conn, DAILY, 4, watermark_age_s=watermark_age_s, snapshot_id=snapshot_id)


def publish_customers(stack: Any, *, snapshot_id: int = 22) -> None:
    with publisher(stack) as conn, conn.transaction():
        conn.execute("DELETE FROM serving.customer_lifetime")
        conn.execute("""INSERT INTO serving.customer_lifetime VALUES
            (1, 'ada@example.com', 'Ada Lovelace', 'GB', '2023-05-01 10:00:00+02', '2024-02-01 00:00:00.123456+00',
             3, 1234.50, '2023-06-01 12:00:00+00', '2024-01-15 18:30:00+00'),
            (2, NULL, 'No Orders', NULL, '2024-01-01 00:00:00+00', NULL, 0, 0.00, NULL, NULL)""")
        publish(conn, CUSTOMERS, 2, snapshot_id=snapshot_id)


@pytest.fixture
def published(stack: Any) -> None:
    clear_store(stack)
    publish_daily_revenue(stack)
    publish_customers(stack)


def test_readyz_is_503_until_both_gold_tables_are_published(stack: Any, api: Api) -> None:
    clear_store(stack)
    assert api.get("/healthz").json() == {"status": "ok"}
    r = api.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not_published" and body["store_reachable"] is True
    assert body["unpublished"] == [CUSTOMERS, DAILY] and body["published"] == []

    publish_daily_revenue(stack)
    r = api.get("/readyz")
    assert r.status_code == 503 and r.json()["unpublished"] == [CUSTOMERS]
    assert CUSTOMERS in r.json()["detail"]

    publish_customers(stack)
    r = api.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready" and r.json()["published"] == [CUSTOMERS, DAILY]


def test_customer_fields_and_lifetime_stats(api: Api, published: None) -> None:
    r = api.get("/v1/customers/1")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "customer_id": 1,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "country": "GB",
        "created_at": "2023-05-01T08:00:00+00:00",
        "updated_at": "2024-02-01T00:00:00.123456+00:00",
        "orders": 3,
        "lifetime_value": "1234.50",
        "first_order_at": "2023-06-01T12:00:00+00:00",
        "last_order_at": "2024-01-15T18:30:00+00:00",
    }
    none = api.get("/v1/customers/2").json()
    assert none["orders"] == 0 and none["lifetime_value"] == "0.00"
    assert none["first_order_at"] is None and none["email"] is None


def test_unknown_customer_is_404_and_bad_id_is_422(api: Api, published: None) -> None:
    r = api.get("/v1/customers/999")
    assert r.status_code == 404
    assert r.json() == {"detail": "customer 999 not found in the published gold.customer_lifetime"}
    for bad in ("abc", "1.5", "99999999999999999999"):
        r = api.get(f"/v1/customers/{bad}")
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"][0]["loc"] == ["path", "customer_id"]


def test_daily_revenue_is_inclusive_ascending_and_exact(api: Api, published: None) -> None:
    r = api.get("/v1/revenue/daily", **{"from": "2024-01-01", "to": "2024-12-31"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "from": "2024-01-01",
        "to": "2024-12-31",
        "days": [
            {"day": "2024-01-01", "orders": 2, "revenue": "0.30"},
            {"day": "2024-01-03", "orders": 7, "revenue": "12345678901234567.89"},
            {"day": "2024-12-31", "orders": 1, "revenue": "5.00"},
        ],
    }
    # the raw body carries strings, not numbers a client would parse into floats
    assert '"revenue":"0.30"' in r.text
    one = api.get("/v1/revenue/daily", **{"from": "2025-01-01", "to": "2025-01-01"}).json()
    assert one["days"] == [{"day": "2025-01-01", "orders": 4, "revenue": "99.99"}]
    assert api.get("/v1/revenue/daily", **{"from": "2024-01-02", "to": "2024-01-02"}).json()["days"] == []


@pytest.mark.parametrize(
    ("params", "loc", "message"),
    [
        ({"from": "2024-13-01", "to": "2024-12-31"}, "from", "not a valid date"),
        ({"from": "2024-01-01", "to": "31.12.2024"}, "to", "YYYY-MM-DD"),
        ({"from": "yesterday", "to": "2024-12-31"}, "from", "YYYY-MM-DD"),
        ({"from": "2024-02-01", "to": "2024-01-31"}, "from", "is after `to`"),
        ({"from": "2024-01-01", "to": "2025-01-01"}, "to", "at most 366 days"),
        ({"from": "2024-01-01"}, "to", "Field required"),
        ({}, "from", "Field required"),
    ],
)
def test_daily_revenue_rejects_bad_ranges(api: Api, params: dict[str, str], loc: str, message: str) -> None:
    r = api.get("/v1/revenue/daily", **params)
    assert r.status_code == 422, r.text
    errs = r.json()["detail"]
    assert any(e["loc"] == ["query", loc] and message in e["msg"] for e in errs), errs


def test_freshness_per_gold_table(stack: Any, api: Api) -> None:
    clear_store(stack)
    publish_daily_revenue(stack, watermark_age_s=90, snapshot_id=4242)
    r = api.get("/v1/freshness")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unpublished"] == [CUSTOMERS]
    assert body["now"].endswith("+00:00")
    (daily,) = body["tables"]
    assert daily["gold_table"] == DAILY and daily["row_count"] == 4 and daily["snapshot_id"] == 4242
    assert daily["watermark"].endswith("+00:00") and daily["published_at"].endswith("+00:00")
    assert 90 <= daily["age_seconds"] < 90 + 60

    publish_customers(stack)
    tables = api.get("/v1/freshness").json()["tables"]
    assert [t["gold_table"] for t in tables] == [CUSTOMERS, DAILY]


def test_reader_role_cannot_write(stack: Any) -> None:
    serving = stack.settings.serving
    with psycopg.connect(serving.conninfo(reader=True)) as conn:
        assert conn.info.user == serving.reader_user
        conn.execute("SELECT count(*) FROM serving.publications")
    for statement in (
        "INSERT INTO serving.daily_revenue VALUES ('1999-01-01', 1, 1.00)",
        "DELETE FROM serving.publications",
        "CREATE TABLE serving.sneaky (id int)",
    ):
        with psycopg.connect(serving.conninfo(reader=True)) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)


def test_metrics_count_requests_by_route_template(api: Api, published: None) -> None:
    api.get("/v1/customers/1")
    api.get("/v1/customers/424242")
    api.get("/no/such/route")
    api.get("/v1/freshness")
    r = api.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'serving_api_http_requests_total{method="GET",route="/v1/customers/{customer_id}",status="200"}' in text
    assert 'serving_api_http_requests_total{method="GET",route="/v1/customers/{customer_id}",status="404"}' in text
    assert 'serving_api_http_requests_total{method="GET",route="<unmatched>",status="404"}' in text
    assert "/no/such/route" not in text
    assert 'serving_api_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/v1/freshness"' in text
    assert 'serving_api_freshness_age_seconds{gold_table="gold.daily_revenue"}' in text
    assert "serving_api_store_up 1.0" in text


def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = api.get("/openapi.json").json()
    assert "/v1/revenue/daily" in spec["paths"]
    assert spec["components"]["schemas"]["DailyRevenue"]["properties"]["revenue"]["type"] == "string"
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_store_down_at_start_up_serves_503_not_a_crash(stack: Any, tmp_path: Path) -> None:
    env = {**stack.env, "LAKEHOUSE_SERVING_PORT": str(free_port())}  # nothing listens there
    with running_api(env, tmp_path / "down.log") as down:
        r = down.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "store_unreachable" and body["store_reachable"] is False
        assert "unreachable" in body["detail"]
        for path in ("/v1/customers/1", "/v1/freshness"):
            r = down.get(path)
            assert r.status_code == 503, (path, r.text)
            assert "serving store unreachable" in r.json()["detail"] and r.headers["retry-after"]
        r = down.get("/v1/revenue/daily", **{"from": "2024-01-01", "to": "2024-01-31"})
        assert r.status_code == 503
        # validation still answers without the store
        assert down.get("/v1/revenue/daily", **{"from": "x", "to": "y"}).status_code == 422
        assert "serving_api_store_up 0.0" in down.get("/metrics").text
        assert down.proc.poll() is None


def test_sigterm_finishes_cleanly(stack: Any, tmp_path: Path) -> None:
    with running_api(stack.env, tmp_path / "term.log") as api:
        assert api.get("/v1/freshness").status_code == 200
        os.kill(api.proc.pid, signal.SIGTERM)
        assert api.proc.wait(timeout=20) == 0
        out = api.output()
    assert "Application shutdown complete" in out and "serving store pool closed" in out
    assert '"GET /v1/freshness HTTP/1.1" 200' in out  # access log on stdout
