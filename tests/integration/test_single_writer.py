"""One writer per table (contract 4) by mechanism: the catalog lease, not scheduling."""

from __future__ import annotations

import subprocess
from typing import Any

from stackctl.ephemeral import BIN

from tests.lake_records import kafka_positions

TABLE = "shop.customers"


def test_a_held_table_is_skipped_with_one_line_naming_the_holder(stack: Any, merge: Any, catalog: Any) -> None:
    from cdc_merge.lease import EXIT_BUSY, TableLease, application_name

    stack.workload(ops=100, seed=151)
    stack.wait_captured()
    lease = TableLease(stack.settings.catalog.conninfo())
    try:
        lease.acquire(TABLE, wait_s=0)
        busy = stack.run(
            "lakehouse-merge",
            "once",
            "--table",
            TABLE,
            "--table",
            "shop.products",
            check=False,
            extra_env={"LAKEHOUSE_MERGE_LEASE_WAIT_S": "1"},
        )
    finally:
        lease.close()
    assert busy.returncode == EXIT_BUSY, busy.stderr[-3000:]
    lines = [ln for ln in busy.stderr.splitlines() if ln.startswith("busy:")]
    assert len(lines) == 1 and TABLE in lines[0] and application_name() in lines[0], busy.stderr[-3000:]
    assert "Traceback" not in busy.stderr
    # The other table flowed on; the held one is merged by the next run.
    merge([TABLE, "shop.products"])


def test_two_merges_of_one_table_at_once_write_nothing_twice(
    stack: Any, merge: Any, assert_equal: Any, catalog: Any
) -> None:
    stack.workload(ops=600, seed=152)
    stack.wait_captured()
    cmd = [str(BIN / "lakehouse-merge"), "once", "--table", TABLE, "--table", "shop.orders"]
    env = {**stack.env, "LAKEHOUSE_MERGE_LEASE_WAIT_S": "300"}
    runs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(timeout=900), p.stderr.read() if p.stderr else "") for p in runs]
    for code, err in outcomes:
        assert code == 0, err[-3000:]
        assert "Traceback" not in err
    merge([TABLE, "shop.orders"])
    assert_equal(TABLE, "shop.orders")
    for table in ("bronze.customers", "bronze.orders", "ops.dead_letter"):
        offsets = kafka_positions(catalog, table)
        assert len(offsets) == len(set(offsets)), f"{table} holds the same Kafka record twice"
