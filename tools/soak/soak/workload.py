"""The soak's randomized workload: every mapped type with its edge values, large TOASTed values,
key changes, delete + re-insert in one transaction, long transactions, bursts, idle gaps and
schema changes, all from one seed."""

from __future__ import annotations

import random
import string
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

SCHEMA = "soak"
# Registry entries of the soak's tables (the soak writes them into its registry).
TABLES: list[dict[str, Any]] = [
    {"source": "soak.wide", "primary_key": ["id"], "iceberg": "soak_silver.wide"},
    {"source": "soak.pairs", "primary_key": ["region", "id"], "iceberg": "soak_silver.pairs"},
    {"source": "soak.evolve", "primary_key": ["id"], "iceberg": "soak_silver.evolve"},
    {"source": "soak.edges", "primary_key": ["id"], "iceberg": "soak_silver.edges"},
]
DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
GRANT USAGE ON SCHEMA {SCHEMA} TO debezium;
ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT SELECT ON TABLES TO debezium;
CREATE TABLE IF NOT EXISTS {SCHEMA}.wide (
    id integer PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, num numeric(12, 2), r real, d8 double precision,
    t text, vc varchar(50), b boolean, dt date, ts timestamp, tz timestamptz, u uuid, j jsonb, by bytea,
    mo money, ia integer[], ta text[], iv interval, tm time, big text, blob bytea, tags text[]
);
ALTER TABLE {SCHEMA}.wide ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE {SCHEMA}.wide ALTER COLUMN blob SET STORAGE EXTERNAL;
ALTER TABLE {SCHEMA}.wide ALTER COLUMN tags SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS {SCHEMA}.pairs (region text, id integer, big text, n integer, PRIMARY KEY (region, id));
ALTER TABLE {SCHEMA}.pairs ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS {SCHEMA}.evolve (id integer PRIMARY KEY, v text, n integer);
-- Insert-only; some rows hold values with no faithful Iceberg form (they must be dead-lettered).
CREATE TABLE IF NOT EXISTS {SCHEMA}.edges (id integer PRIMARY KEY, dt date, ts timestamp, tz timestamptz,
                                           mo money, num numeric(12, 2), note text);
GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO debezium;
"""
REGIONS = ("eu", "us", "apac", "latam")


@dataclass
class WorkloadStats:
    """Operations by kind, and changes (row events) made."""

    ops: Counter[str] = field(default_factory=Counter)
    changes: int = 0


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits + " äø€", k=n))


class SoakWorkload:
    """Random operations on the soak tables through one autocommit connection."""

    def __init__(self, conninfo: str, seed: int) -> None:
        self.conninfo = conninfo
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.rng = random.Random(seed)
        self.stats = WorkloadStats()
        self._long: psycopg.Connection[Any] | None = None
        self._next_id = 1_000 * (seed % 1000 + 1)
        self._added: list[str] = []
        self._widened = False

    def close(self) -> None:
        self.finish_long_transaction()
        self.conn.close()

    def setup(self) -> None:
        """Create the soak tables (idempotent)."""
        self.conn.execute(DDL)  # type: ignore[call-overload]

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _ids(self, table: str, n: int = 1) -> list[Any]:
        rows = self.conn.execute(f"SELECT id FROM {SCHEMA}.{table} ORDER BY random() LIMIT %s", (n,)).fetchall()  # type: ignore[call-overload]
        return [r[0] for r in rows]

    # ---- values -----------------------------------------------------------------------------
    def wide_row(self, key: int) -> tuple[Any, ...]:
        rng = self.rng
        edge = rng.random() < 0.3  # edge values that every type must keep
        return (
            key,
            rng.choice([-32768, 32767, 0]) if edge else rng.randint(-1000, 1000),
            rng.choice([-(2**31), 2**31 - 1]) if edge else rng.randint(-(10**6), 10**6),
            rng.choice([-(2**63), 2**63 - 1]) if edge else rng.randint(-(10**12), 10**12),
            Decimal(rng.choice(["9999999999.99", "-9999999999.99", "0.01"]))
            if edge
            else Decimal(rng.randint(-(10**8), 10**8)) / 100,
            rng.choice([1.5, -0.0, 3.4e38]) if edge else rng.random(),
            rng.choice([float("inf"), float("-inf"), 1e308, 5e-324]) if edge else rng.random() * 1e6,
            rng.choice(["", "ü€😀", "tab\there"]) if edge else _text(rng, rng.randint(1, 60)),
            _text(rng, rng.randint(0, 50)),
            rng.random() < 0.5,
            rng.choice([date(1, 1, 1), date(9999, 12, 31), date(2024, 2, 29)])
            if edge
            else date(2000, 1, 1) + timedelta(days=rng.randint(0, 10000)),
            rng.choice([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)])
            if edge
            else datetime(2020, 1, 1) + timedelta(microseconds=rng.randint(0, 10**14)),
            datetime(2020, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randint(-(10**15), 10**15)),
            uuid.UUID(int=rng.getrandbits(128)),
            Jsonb({"k": rng.randint(0, 9), "nested": [1, "two", None, {"x": 1.5}]}),
            rng.randbytes(rng.randint(0, 64)),
            Decimal(rng.choice(["9999999999999.99", "-9999999999999.99", "0.00"]))
            if edge
            else Decimal(rng.randint(-(10**9), 10**9)) / 100,
            [rng.randint(-(2**31), 2**31 - 1) for _ in range(rng.randint(0, 5))] + ([None] if edge else []),
            [_text(rng, 5) for _ in range(rng.randint(0, 4))] + (['comma, "quote"'] if edge else []),
            timedelta(days=rng.randint(0, 400), seconds=rng.randint(0, 86399), microseconds=rng.randint(0, 999999)),
            (datetime(2000, 1, 1) + timedelta(microseconds=rng.randint(0, 86_400_000_000 - 1))).time(),
            _text(rng, rng.randint(3000, 12000)),
            rng.randbytes(rng.randint(3000, 9000)),
            [_text(rng, 60) for _ in range(rng.randint(60, 120))],
        )

    # ---- operations ---------------------------------------------------------------------------
    def step(self) -> str:
        """One random operation; returns its kind."""
        ops = [
            (20, self.insert_wide),
            (18, self.update_small),
            (6, self.update_large),
            (8, self.change_key),
            (5, self.delete),
            (4, self.delete_and_reinsert),
            (12, self.pair_op),
            (10, self.evolve_op),
            (4, self.insert_edge),
            (1, self.schema_change),
            (1, self.toggle_long_transaction),
        ]
        kind = self.rng.choices([f for _, f in ops], weights=[w for w, _ in ops])[0]()
        self.stats.ops[kind] += 1
        return kind

    def insert_wide(self) -> str:
        self.conn.execute(f"INSERT INTO {SCHEMA}.wide VALUES ({', '.join(['%s'] * 24)})", self.wide_row(self._id()))
        self.stats.changes += 1
        return "insert"

    def update_small(self) -> str:
        """An update that leaves the large values alone: Debezium sends TOAST placeholders."""
        for key in self._ids("wide", self.rng.randint(1, 3)):
            self.conn.execute(
                f"UPDATE {SCHEMA}.wide SET i4 = %s, t = %s WHERE id = %s",
                (self.rng.randint(0, 100), _text(self.rng, 10), key),
            )
            self.stats.changes += 1
        return "update-unchanged-large"

    def update_large(self) -> str:
        for key in self._ids("wide"):
            self.conn.execute(f"UPDATE {SCHEMA}.wide SET big = %s WHERE id = %s", (_text(self.rng, 8000), key))
            self.stats.changes += 1
        return "update-large"

    def change_key(self) -> str:
        """Primary-key updates, sometimes twice for one row, large values unchanged."""
        for key in self._ids("wide"):
            new = self._id()
            self.conn.execute(f"UPDATE {SCHEMA}.wide SET id = %s WHERE id = %s", (new, key))
            self.stats.changes += 2
            if self.rng.random() < 0.3:
                self.conn.execute(f"UPDATE {SCHEMA}.wide SET id = %s, i2 = 7 WHERE id = %s", (self._id(), new))
                self.stats.changes += 2
        return "key-change"

    def delete(self) -> str:
        for key in self._ids("wide"):
            self.conn.execute(f"DELETE FROM {SCHEMA}.wide WHERE id = %s", (key,))
            self.stats.changes += 1
        return "delete"

    def delete_and_reinsert(self) -> str:
        for key in self._ids("wide"):
            with self.conn.transaction():
                self.conn.execute(f"DELETE FROM {SCHEMA}.wide WHERE id = %s", (key,))
                self.conn.execute(f"INSERT INTO {SCHEMA}.wide VALUES ({', '.join(['%s'] * 24)})", self.wide_row(key))
            self.stats.changes += 2
        return "delete-reinsert-one-tx"

    def pair_op(self) -> str:
        rng = self.rng
        row = self.conn.execute(f"SELECT region, id FROM {SCHEMA}.pairs ORDER BY random() LIMIT 1").fetchone()
        choice = rng.random()
        if row is None or choice < 0.4:
            self.conn.execute(
                f"INSERT INTO {SCHEMA}.pairs VALUES (%s, %s, %s, 0)",
                (rng.choice(REGIONS), self._id(), _text(rng, 6000)),
            )
            kind = "pair-insert"
        elif choice < 0.7:
            self.conn.execute(f"UPDATE {SCHEMA}.pairs SET n = n + 1 WHERE region = %s AND id = %s", row)
            kind = "pair-update"
        elif choice < 0.9:
            self.conn.execute(
                f"UPDATE {SCHEMA}.pairs SET region = %s, id = %s WHERE region = %s AND id = %s",
                (rng.choice(REGIONS), self._id(), *row),
            )
            kind = "pair-key-change"
        else:
            self.conn.execute(f"DELETE FROM {SCHEMA}.pairs WHERE region = %s AND id = %s", row)
            kind = "pair-delete"
        self.stats.changes += 2 if kind == "pair-key-change" else 1
        return kind

    def evolve_op(self) -> str:
        key = self.rng.randint(1, 300)
        extra = {c: self.rng.randint(0, 99) for c in self._added if self.rng.random() < 0.5}
        cols = ["id", "v", "n", *extra]
        values = [key, _text(self.rng, 8), self.rng.randint(-(2**31), 2**31 - 1), *extra.values()]
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        self.conn.execute(
            f"INSERT INTO {SCHEMA}.evolve ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
            f"ON CONFLICT (id) DO UPDATE SET {sets}",
            values,
        )
        self.stats.changes += 1
        return "evolve-upsert"

    def schema_change(self) -> str:
        """ADD COLUMN, DROP COLUMN or a widening of the evolving table (columns are never re-added)."""
        choice = self.rng.random()
        if choice < 0.5 or not self._added:
            name = f"c{len(self._added) + 1}_{self.rng.randint(0, 10**6)}"
            self.conn.execute(f"ALTER TABLE {SCHEMA}.evolve ADD COLUMN {name} integer")
            self._added.append(name)
            return "add-column"
        if choice < 0.8 or self._widened:
            name = self._added.pop(self.rng.randrange(len(self._added)))
            self.conn.execute(f"ALTER TABLE {SCHEMA}.evolve DROP COLUMN {name}")
            return "drop-column"
        self.conn.execute(f"ALTER TABLE {SCHEMA}.evolve ALTER COLUMN n TYPE bigint")
        self._widened = True
        return "widen-column"

    def insert_edge(self) -> str:
        """A row of soak.edges: a third of them hold a value the lake cannot keep exactly."""
        rng = self.rng
        row: dict[str, Any] = {
            "dt": date(2024, 1, 1),
            "ts": datetime(2024, 1, 1, 12),
            "tz": datetime(2024, 1, 1, tzinfo=UTC),
            "mo": Decimal("12.34"),
            "num": Decimal("1.00"),
            "note": "keepable",
        }
        if rng.random() < 0.35:
            column, value = rng.choice(
                [
                    ("dt", "infinity"),
                    ("dt", "-infinity"),
                    ("ts", "infinity"),
                    ("tz", "-infinity"),
                    ("mo", "92233720368547758.07"),
                    ("num", "NaN"),
                ]
            )
            row[column] = value
            row["note"] = f"unkeepable {column}"
        self.conn.execute(
            f"INSERT INTO {SCHEMA}.edges VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (self._id(), row["dt"], row["ts"], row["tz"], row["mo"], row["num"], row["note"]),
        )
        self.stats.changes += 1
        return "insert-edge"

    def toggle_long_transaction(self) -> str:
        """Open a transaction that stays open across merges (committed by a later toggle or the round's end)."""
        if self._long is not None:
            self.finish_long_transaction()
            return "long-tx-commit"
        self._long = psycopg.connect(self.conninfo)
        for _ in range(self.rng.randint(3, 10)):
            self._long.execute(
                f"INSERT INTO {SCHEMA}.wide VALUES ({', '.join(['%s'] * 24)})", self.wide_row(self._id())
            )
            self.stats.changes += 1
        return "long-tx-open"

    def finish_long_transaction(self) -> None:
        """Commit the open long transaction (one PostgreSQL restarted under rolled back: nothing to do)."""
        if self._long is not None:
            try:
                self._long.commit()
            except psycopg.Error:
                pass
            finally:
                self._long.close()
                self._long = None

    def burst(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def idle(self, seconds: float) -> None:
        self.stats.ops["idle"] += 1
        time.sleep(seconds)
