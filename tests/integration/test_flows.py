"""The Prefect flows run the way an operator runs them: deployments on the real Prefect server,
executed by the stack's process worker; the serving API then answers from what they published."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from loadgen.workload import Workload

from tests.gold_sql import PG_CUSTOMERS, PG_DAILY

SHOP = ["shop.customers", "shop.products", "shop.orders", "shop.order_items"]


def run_deployment(stack: Any, name: str, params: dict[str, Any] | None = None, timeout: int = 1200) -> Any:
    """`prefect deployment run NAME --watch`: exit 0 only when the flow run completed."""
    argv = ["prefect", "deployment", "run", name, "--watch", "--watch-timeout", str(timeout)]
    for key, value in (params or {}).items():
        argv += ["--param", f"{key}={json.dumps(value)}"]
    started = time.monotonic()
    proc = stack.run(*argv, check=False, timeout=timeout + 120)
    print(f"{name}: exit {proc.returncode} after {time.monotonic() - started:.0f}s")
    return proc


def prefect_api(stack: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    resp = httpx.post(f"{stack.env['PREFECT_API_URL']}{path}", json=body or {}, timeout=30)
    resp.raise_for_status()
    return resp.json()


def flow_runs(stack: Any, flow_name: str, since: float) -> list[dict[str, Any]]:
    """Runs of `flow_name` created after the epoch time `since`, newest first."""
    flows = {f["name"]: f["id"] for f in prefect_api(stack, "/flows/filter")}
    if flow_name not in flows:
        return []
    runs = prefect_api(
        stack, "/flow_runs/filter", {"flows": {"id": {"any_": [flows[flow_name]]}}, "sort": "EXPECTED_START_TIME_DESC"}
    )
    return [r for r in runs if datetime.fromisoformat(r["created"]).timestamp() >= since]


def publications(stack: Any) -> dict[str, Any]:
    with psycopg.connect(stack.settings.serving.conninfo(reader=False)) as conn:
        return {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT gold_table, published_at, watermark, row_count, snapshot_id FROM serving.publications"
            )
        }


@pytest.fixture(scope="module")
def backdated_orders(stack: Any) -> list[int]:
    """A workload, plus orders spread over past days (some cancelled, one without items)."""
    with psycopg.connect(stack.settings.source.conninfo(), autocommit=True) as conn:
        wl = Workload(conn, seed=4)
        wl.seed(customers=40, products=20)
        wl.run(ops=1500)
        customer = conn.execute("SELECT min(id) FROM shop.customers").fetchone()[0]  # type: ignore[index]
        product = conn.execute("SELECT min(id) FROM shop.products").fetchone()[0]  # type: ignore[index]
        ids = []
        for days_ago, status, lines in [
            (3, "paid", 2),
            (3, "cancelled", 1),
            (2, "shipped", 3),
            (2, "new", 0),
            (1, "paid", 1),
        ]:
            oid = conn.execute(
                "INSERT INTO shop.orders (customer_id, status, created_at) "
                "VALUES (%s, %s, date_trunc('day', now()) - make_interval(days => %s) + interval '23 hours 59 min') "
                "RETURNING id",
                (customer, status, days_ago),
            ).fetchone()[0]  # type: ignore[index]
            for line in range(1, lines + 1):
                conn.execute(
                    "INSERT INTO shop.order_items VALUES (%s, %s, %s, %s, %s)",
                    (oid, line, product, line, Decimal("0.10") * line + Decimal("19.99")),
                )
            ids.append(oid)
    return ids


def test_pipeline_publishes_what_postgres_says(stack: Any, backdated_orders: list[int]) -> None:
    started = time.time()
    proc = run_deployment(stack, "pipeline/local", {"tables": SHOP})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # Every flow of the pipeline ran as its own (sub)flow run, visible in the UI, and completed.
    for name in ("pipeline", "cdc-merge", "quality", "gold-and-serve"):
        runs = flow_runs(stack, name, started)
        assert runs and runs[0]["state_type"] == "COMPLETED", f"{name}: {[r['state_type'] for r in runs]}"
    keys = {a["key"] for a in prefect_api(stack, "/artifacts/filter")}
    assert {"cdc-merge-results", "quality-results", "gold-and-serve-results"} <= keys
    limits = {c["name"]: c["limit"] for c in prefect_api(stack, "/v2/concurrency_limits/filter")}
    assert all(limits.get(f"cdc-merge-{t}") == 1 for t in SHOP), limits

    api = stack.env["SERVING_API_URL"]
    with psycopg.connect(stack.settings.source.conninfo()) as conn:
        daily = conn.execute(PG_DAILY).fetchall()
        customers = conn.execute(PG_CUSTOMERS).fetchall()
    assert len(daily) >= 4, daily
    got = httpx.get(
        f"{api}/v1/revenue/daily", params={"from": str(daily[0][0]), "to": str(daily[-1][0])}, timeout=10
    ).json()
    rows = got["days"]
    assert [(date.fromisoformat(r["day"]), r["orders"], Decimal(r["revenue"])) for r in rows] == [
        (d, n, Decimal(v)) for d, n, v in daily
    ]
    assert all(isinstance(r["revenue"], str) for r in rows)

    for cid, email, n, value, first, last in customers:
        body = httpx.get(f"{api}/v1/customers/{cid}", timeout=10).json()
        assert (body["email"], body["orders"], Decimal(body["lifetime_value"])) == (email, n, value), body
        for field, expected in (("first_order_at", first), ("last_order_at", last)):
            assert (body[field] and datetime.fromisoformat(body[field])) == expected, (field, body)
    assert httpx.get(f"{api}/v1/customers/999999999", timeout=10).status_code == 404

    fresh = httpx.get(f"{api}/v1/freshness", timeout=10).json()
    tables = {t["gold_table"]: t for t in fresh["tables"]}
    assert set(tables) == {"gold.daily_revenue", "gold.customer_lifetime"}
    for t in tables.values():
        assert t["watermark"] is not None and t["age_seconds"] >= 0
        assert datetime.fromisoformat(t["watermark"]).timestamp() >= started - 5
    assert httpx.get(f"{api}/readyz", timeout=10).status_code == 200


def test_failed_quality_blocks_publishing(stack: Any, spark: Any, backdated_orders: list[int]) -> None:
    registry = stack.settings.registry()
    silver = registry.silver(registry.by_source("shop.customers"))
    cid, name = spark.sql(f"SELECT id, name FROM {silver} ORDER BY id LIMIT 1").collect()[0]
    before = publications(stack)
    spark.sql(f"UPDATE {silver} SET name = 'tampered' WHERE id = {cid}")
    started = time.time()
    try:
        proc = run_deployment(stack, "pipeline/local", {"tables": SHOP})
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
        quality = flow_runs(stack, "quality", started)
        assert quality and quality[0]["state_type"] == "FAILED"
        assert "shop.customers" in (quality[0]["state"]["message"] or ""), quality[0]["state"]
        assert not flow_runs(stack, "gold-and-serve", started), "gold was built after a failed quality check"
        assert publications(stack) == before, "the serving store changed after a failed quality check"
    finally:
        spark.sql(f"UPDATE {silver} SET name = '{name}' WHERE id = {cid}")
    # Repaired: the next run passes and publishes again.
    assert run_deployment(stack, "quality/local", {"tables": SHOP}).returncode == 0


def test_maintenance_flow_keeps_contents(stack: Any, backdated_orders: list[int], assert_equal: Any) -> None:
    started = time.time()
    proc = run_deployment(stack, "lake-maintenance/local", {"tables": SHOP})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = flow_runs(stack, "lake-maintenance", started)
    assert runs and runs[0]["state_type"] == "COMPLETED"
    assert "lake-maintenance-results" in {a["key"] for a in prefect_api(stack, "/artifacts/filter")}
    assert_equal(*SHOP)
