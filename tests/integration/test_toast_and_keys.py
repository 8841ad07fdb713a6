"""TOAST placeholders under primary-key updates: every toastable type, composite keys, chains of
key changes in one batch and across batches, batches that end inside a key update, and a
placeholder that cannot be resolved (dead-lettered, never NULL)."""

from __future__ import annotations

import json
import random
import string
from typing import Any

from psycopg.types.json import Jsonb

PLACEHOLDER = "__debezium_unavailable_value"


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=n))


def _row(rng: random.Random, key: int) -> tuple[Any, ...]:
    """Every toastable column over the TOAST threshold (about 2 KB), incompressible."""
    return (
        key,
        f"title {key}",
        _text(rng, 9000),
        _text(rng, 6000),
        rng.randbytes(8000),
        Jsonb({"k": key, "blob": _text(rng, 5000)}),
        [_text(rng, 50) for _ in range(100)],
        [rng.randint(-(2**31), 2**31 - 1) for _ in range(1500)],
        1,
    )


def _insert(stack: Any, rows: list[tuple[Any, ...]]) -> None:
    for r in rows:
        stack.sql("INSERT INTO lab.toasty VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", r)


def _placeholder_creates(catalog: Any, table: str) -> int:
    """Create events in bronze whose row carries a TOAST placeholder (proof the case was exercised)."""
    rows = catalog.load_table(table).scan(row_filter="op = 'c'").to_arrow().to_pylist()
    return sum(
        1
        for r in rows
        if PLACEHOLDER in (r["after"] or "") or "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ" in (r["after"] or "")
    )


def test_key_updates_keep_unchanged_toast_values_of_every_type(
    stack: Any, merge: Any, assert_equal: Any, catalog: Any
) -> None:
    rng = random.Random(15)
    _insert(stack, [_row(rng, k) for k in range(1, 7)])
    merge(["lab.toasty"])
    assert_equal("lab.toasty")

    # One batch: a key change from silver's row; an update then a key change; a key changed twice;
    # a row inserted and re-keyed in the batch; a new value then a key change; a key change onto
    # a key deleted earlier in the batch.
    stack.sql("UPDATE lab.toasty SET id = 101 WHERE id = 1")
    stack.sql("UPDATE lab.toasty SET title = 'retitled', version = 2 WHERE id = 2")
    stack.sql("UPDATE lab.toasty SET id = 102 WHERE id = 2")
    stack.sql("UPDATE lab.toasty SET id = 103 WHERE id = 3")
    stack.sql("UPDATE lab.toasty SET id = 203, version = 3 WHERE id = 103")
    _insert(stack, [_row(rng, 7)])
    stack.sql("UPDATE lab.toasty SET id = 107 WHERE id = 7")
    stack.sql("UPDATE lab.toasty SET body = %s WHERE id = 4", (_text(rng, 9000),))
    stack.sql("UPDATE lab.toasty SET id = 104 WHERE id = 4")
    stack.sql("DELETE FROM lab.toasty WHERE id = 6")
    stack.sql("UPDATE lab.toasty SET id = 6 WHERE id = 5")
    merge(["lab.toasty"])
    assert_equal("lab.toasty")

    # Across batches: the re-keyed rows are silver's now, and are re-keyed again.
    stack.sql("UPDATE lab.toasty SET id = 301 WHERE id = 101")
    stack.sql("UPDATE lab.toasty SET id = 5, version = 9 WHERE id = 6")
    merge(["lab.toasty"])
    assert_equal("lab.toasty")
    assert _placeholder_creates(catalog, "bronze.toasty") >= 5, "no key update carried a TOAST placeholder"
    dead = catalog.load_table("ops.dead_letter").scan(row_filter="registry_table = 'lab.toasty'").to_arrow()
    assert dead.num_rows == 0, dead.to_pylist()[:3]


def test_composite_key_updates_keep_toast_values(stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    rng = random.Random(16)
    for region, key in (("eu", 1), ("us", 2), ("us", 3)):
        stack.sql(
            "INSERT INTO lab.toasty_pairs VALUES (%s, %s, %s, %s, 1)",
            (region, key, _text(rng, 9000), rng.randbytes(6000)),
        )
    merge(["lab.toasty_pairs"])
    stack.sql("UPDATE lab.toasty_pairs SET region = 'apac' WHERE region = 'eu' AND id = 1")
    stack.sql("UPDATE lab.toasty_pairs SET id = 20 WHERE region = 'us' AND id = 2")
    stack.sql("UPDATE lab.toasty_pairs SET region = 'eu', id = 30 WHERE region = 'us' AND id = 3")
    stack.sql("UPDATE lab.toasty_pairs SET region = 'us', version = 2 WHERE region = 'eu' AND id = 30")
    merge(["lab.toasty_pairs"])
    assert_equal("lab.toasty_pairs")
    assert _placeholder_creates(catalog, "bronze.toasty_pairs") >= 4


def test_a_batch_never_ends_inside_a_key_update(stack: Any, spark: Any, assert_equal: Any, catalog: Any) -> None:
    """With one record per batch, the delete, tombstone and create of a key update still land together."""
    from cdc_merge.job import run_once

    rng = random.Random(17)
    _insert(stack, [_row(rng, k) for k in (501, 502)])
    stack.wait_captured()
    settings = stack.settings
    tiny = settings.with_area("merge", settings.merge.model_copy(update={"max_records_per_batch": 1}))
    spec = settings.registry().by_source("lab.toasty")

    def drain() -> int:
        batches = 0
        while True:
            results = run_once(spark, tiny, print, [spec])
            batches += len(results)
            if not results or all(r.lag == 0 for r in results):
                return batches
            assert batches < 100, "the merge made no progress"

    drain()
    stack.sql("UPDATE lab.toasty SET id = 601 WHERE id = 501")
    stack.sql("UPDATE lab.toasty SET id = 602 WHERE id = 502")
    stack.wait_captured()
    assert drain() >= 2
    assert_equal("lab.toasty")


def test_an_unresolvable_placeholder_is_dead_lettered_not_nulled(
    stack: Any, merge: Any, spark: Any, catalog: Any
) -> None:
    """A row silver never held (here: removed from silver behind the merge's back) whose update carries
    placeholders: the change goes to the dead letters with the columns named, silver gets no NULLs."""
    rng = random.Random(18)
    _insert(stack, [_row(rng, 901)])
    merge(["lab.toasty"])
    spark.sql("DELETE FROM default.silver.toasty WHERE id = 901")
    stack.sql("UPDATE lab.toasty SET title = 'lost', version = 5 WHERE id = 901")
    stack.sql("UPDATE lab.toasty SET id = 902 WHERE id = 901")
    merge(["lab.toasty"])
    silver = catalog.load_table("silver.toasty").scan(row_filter="id IN (901, 902)").to_arrow().to_pylist()
    assert silver == [], f"a row with unresolvable placeholders was written: {[r['id'] for r in silver]}"
    dead = catalog.load_table("ops.dead_letter").scan(row_filter="registry_table = 'lab.toasty'").to_arrow().to_pylist()
    assert len(dead) == 1, [d["reason"] for d in dead]
    reason = dead[0]["reason"]
    assert reason.startswith("unchanged TOAST value unavailable") and "body" in reason and "901" in reason, reason
    assert "REPLICA IDENTITY FULL" in reason
    payload = json.loads(dead[0]["payload"])
    assert payload["op"] == "c"
