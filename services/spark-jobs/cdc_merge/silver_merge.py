"""The silver MERGE of the newest change per primary key (`cdc_merge.toast.latest_changes`)."""

from __future__ import annotations

from lakehouse.registry import TableSpec


def merge_sql(target: str, source_view: str, spec: TableSpec, columns: dict[str, str], meta: list[str]) -> str:
    """MERGE INTO statement applying deletes, updates and inserts from `source_view`.

    A change older than the stored row (a connector re-emitting after a restart) never
    overwrites newer data. Every value in `source_view` is real: TOAST placeholders were
    resolved (or their changes dead-lettered) before.
    """
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in spec.primary_key)
    not_older = "(s._cdc_lsn IS NULL OR t._cdc_lsn IS NULL OR s._cdc_lsn >= t._cdc_lsn)"
    sets = [f"t.`{c}` = s.`{c}`" for c in columns]
    sets += [f"t.{m} = s.{m}" for m in meta]
    insert_cols = [f"`{c}`" for c in columns] + meta
    insert_vals = [f"s.`{c}`" for c in columns] + [f"s.{m}" for m in meta]
    return (
        f"MERGE INTO {target} t USING {source_view} s ON {on} "
        f"WHEN MATCHED AND s._cdc_op = 'd' AND {not_older} THEN DELETE "
        f"WHEN MATCHED AND s._cdc_op <> 'd' AND {not_older} THEN UPDATE SET {', '.join(sets)} "
        f"WHEN NOT MATCHED AND s._cdc_op <> 'd' THEN INSERT ({', '.join(insert_cols)}) "
        f"VALUES ({', '.join(insert_vals)})"
    )
