"""Silver takes an append instead of the MERGE only when no key of the batch can be there.

Iceberg's scan planning over the key's bounds decides (cdc_merge.silver): new keys that no live
data file's range covers (above, below, or in a gap between files) are appended; a batch
touching a key inside a file's range (an update, a delete, a key re-inserted after its delete,
a primary-key update) takes the MERGE. Silver equals the source after every batch either way,
and the snapshot's operation shows which path was taken.
"""

from __future__ import annotations

from typing import Any

TABLE = "lab.growing"


def _merge(merge: Any) -> str:
    results = [r for r in merge([TABLE]) if r.table == TABLE and r.records]
    assert results, "the batch merged nothing"
    return str(results[-1].silver_write)


def _operation(catalog: Any) -> str:
    return str(catalog.load_table("silver.growing").current_snapshot().summary.operation.value)


def test_appends_only_where_no_key_can_be_in_silver(stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    def insert(first: int, last: int) -> None:
        stack.sql(f"INSERT INTO {TABLE} SELECT g, 'v' || g, g % 7 FROM generate_series({first}, {last}) g")

    insert(100, 199)
    assert _merge(merge) == "append"  # the table is new
    assert_equal(TABLE)

    insert(200, 249)  # above every key
    assert _merge(merge) == "append"
    assert _operation(catalog) == "append"
    assert_equal(TABLE)

    insert(1, 9)  # below every key
    assert _merge(merge) == "append"
    assert_equal(TABLE)

    insert(50, 59)  # in the gap between the files of 1-9 and 100-199
    assert _merge(merge) == "append"
    assert_equal(TABLE)

    # An update inside the range and a new key: the MERGE.
    stack.sql(f"UPDATE {TABLE} SET v = 'changed' WHERE id = 150")
    insert(250, 250)
    assert _merge(merge) == "merge"
    assert _operation(catalog) != "append"
    assert_equal(TABLE)

    # A key deleted and inserted again beside a new key: its old file still bounds it.
    stack.sql(f"DELETE FROM {TABLE} WHERE id = 250")
    merge([TABLE])
    insert(250, 251)
    assert _merge(merge) == "merge"
    assert_equal(TABLE)

    # A primary-key update onto a new key above the range: the old key's delete is in range.
    stack.sql(f"UPDATE {TABLE} SET id = 900 WHERE id = 1")
    assert _merge(merge) == "merge"
    assert_equal(TABLE)

    insert(1000, 1099)  # new keys again: appended, nothing lost or doubled
    assert _merge(merge) == "append"
    assert_equal(TABLE)
    count = stack.sql(f"SELECT count(*) FROM {TABLE}")[0][0]
    assert len(catalog.load_table("silver.growing").scan().to_arrow()) == count
