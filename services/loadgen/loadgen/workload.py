"""A realistic shop workload: customers, products, and orders moving new -> paid -> shipped,
some cancelled, with item edits and deletes. Every operation is its own transaction."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg

COUNTRIES = ("DE", "FR", "US", "GB", "NL", "PL", "ES", "IT", "SE", "JP")


@dataclass
class WorkloadStats:
    """Operations performed, by kind."""

    ops: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.ops.values())


class Workload:
    """Generates operations against the `shop` schema through one connection."""

    def __init__(self, conn: psycopg.Connection, seed: int | None = None) -> None:
        self.conn = conn
        self.rng = random.Random(seed)
        # The seed makes the sequence of operations repeatable; unique columns (email, sku) must
        # also stay unique across workloads with the same seed on one database, so they carry a
        # per-instance tag and a counter instead of seeded random numbers.
        self._tag = uuid.uuid4().hex[:10]
        self._serial = 0
        self.stats = WorkloadStats()
        self._ops: list[tuple[float, Callable[[], bool]]] = [
            (8, self.new_customer),
            (4, self.update_customer),
            (1, self.delete_customer),
            (2, self.new_product),
            (4, self.reprice_product),
            (30, self.new_order),
            (15, self.pay_order),
            (10, self.ship_order),
            (5, self.cancel_order),
            (2, self.delete_cancelled_order),
            (6, self.change_item_quantity),
            (2, self.delete_item),
        ]

    def _one(self, query: str, params: tuple[object, ...] = ()) -> tuple | None:  # type: ignore[type-arg]
        return self.conn.execute(query, params).fetchone()

    def _random_id(self, table: str, where: str = "TRUE") -> int | None:
        # TABLESAMPLE would skew on small tables; an indexed random probe is cheap and fair enough.
        row = self._one(f"SELECT max(id) FROM shop.{table} WHERE {where}")
        if row is None or row[0] is None:
            return None
        probe = self.rng.randint(1, row[0])
        row = self._one(f"SELECT id FROM shop.{table} WHERE id >= %s AND {where} ORDER BY id LIMIT 1", (probe,))
        return None if row is None else int(row[0])

    def _unique(self) -> str:
        self._serial += 1
        return f"{self._tag}{self._serial:x}"

    def new_customer(self) -> bool:
        n = self.rng.getrandbits(48)
        self.conn.execute(
            "INSERT INTO shop.customers (email, name, country) VALUES (%s, %s, %s)",
            (f"user{self._unique()}@example.com", f"Customer {n % 100000}", self.rng.choice(COUNTRIES)),
        )
        return True

    def update_customer(self) -> bool:
        cid = self._random_id("customers")
        if cid is None:
            return False
        self.conn.execute(
            "UPDATE shop.customers SET country = %s, updated_at = now() WHERE id = %s",
            (self.rng.choice(COUNTRIES), cid),
        )
        return True

    def delete_customer(self) -> bool:
        without_orders = "NOT EXISTS (SELECT 1 FROM shop.orders o WHERE o.customer_id = customers.id)"
        cid = self._random_id("customers", without_orders)
        if cid is None:
            return False
        self.conn.execute("DELETE FROM shop.customers WHERE id = %s", (cid,))
        return True

    def new_product(self) -> bool:
        n = self.rng.getrandbits(40)
        price = Decimal(self.rng.randint(100, 50000)) / 100
        self.conn.execute(
            "INSERT INTO shop.products (sku, name, price, attributes) VALUES (%s, %s, %s, %s)",
            (f"SKU-{self._unique()}", f"Product {n % 10000}", price, f'{{"color": "c{n % 7}", "weight_g": {n % 900}}}'),
        )
        return True

    def reprice_product(self) -> bool:
        pid = self._random_id("products")
        if pid is None:
            return False
        self.conn.execute(
            "UPDATE shop.products SET price = round(price * %s, 2), updated_at = now() WHERE id = %s",
            (Decimal(self.rng.randint(90, 115)) / 100, pid),
        )
        return True

    def new_order(self) -> bool:
        cid = self._random_id("customers")
        if cid is None:
            return self.new_customer()
        row = self._one("INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", (cid,))
        assert row is not None
        for line in range(1, self.rng.randint(1, 4) + 1):
            pid = self._random_id("products")
            if pid is None:
                self.new_product()
                pid = self._random_id("products")
            self.conn.execute(
                "INSERT INTO shop.order_items (order_id, line_no, product_id, quantity, unit_price) "
                "SELECT %s, %s, id, %s, price FROM shop.products WHERE id = %s",
                (row[0], line, self.rng.randint(1, 5), pid),
            )
        return True

    def _transition(self, frm: str, to: str) -> bool:
        oid = self._random_id("orders", f"status = '{frm}'")
        if oid is None:
            return False
        self.conn.execute("UPDATE shop.orders SET status = %s, updated_at = now() WHERE id = %s", (to, oid))
        return True

    def pay_order(self) -> bool:
        return self._transition("new", "paid")

    def ship_order(self) -> bool:
        return self._transition("paid", "shipped")

    def cancel_order(self) -> bool:
        return self._transition(self.rng.choice(("new", "paid")), "cancelled")

    def delete_cancelled_order(self) -> bool:
        oid = self._random_id("orders", "status = 'cancelled'")
        if oid is None:
            return False
        self.conn.execute("DELETE FROM shop.orders WHERE id = %s", (oid,))
        return True

    def change_item_quantity(self) -> bool:
        oid = self._random_id("orders", "status = 'new'")
        if oid is None:
            return False
        self.conn.execute(
            "UPDATE shop.order_items SET quantity = quantity + 1 WHERE order_id = %s AND line_no = 1", (oid,)
        )
        return True

    def delete_item(self) -> bool:
        oid = self._random_id("orders", "status = 'new'")
        if oid is None:
            return False
        self.conn.execute(
            "DELETE FROM shop.order_items WHERE order_id = %s AND line_no = "
            "(SELECT max(line_no) FROM shop.order_items WHERE order_id = %s) AND line_no > 1",
            (oid, oid),
        )
        return True

    def seed(self, customers: int = 50, products: int = 30) -> None:
        """Initial customers and products so orders have something to reference."""
        for _ in range(customers):
            with self.conn.transaction():
                self.new_customer()
        for _ in range(products):
            with self.conn.transaction():
                self.new_product()
        self.stats.ops["seed"] += customers + products

    def seed_if_empty(self, customers: int = 50, products: int = 30) -> None:
        """Seed (see `seed`) unless the shop already has products, e.g. from an earlier run."""
        if self.conn.execute("SELECT count(*) FROM shop.products").fetchone()[0] == 0:  # type: ignore[index]
            self.seed(customers=customers, products=products)

    def step(self) -> str:
        """Run one random operation in its own transaction; return its name."""
        weights = [w for w, _ in self._ops]
        while True:
            _, op = self.rng.choices(self._ops, weights=weights)[0]
            with self.conn.transaction():
                if op():
                    self.stats.ops[op.__name__] += 1
                    return op.__name__

    def run(
        self,
        *,
        ops: int | None = None,
        duration_s: float | None = None,
        rate: float = 0.0,
        progress: Callable[[WorkloadStats], None] | None = None,
    ) -> WorkloadStats:
        """Run until `ops` operations or `duration_s` seconds; `rate` ops/s (0 = as fast as possible)."""
        start = time.monotonic()
        done = 0
        last_report = start
        while (ops is None or done < ops) and (duration_s is None or time.monotonic() - start < duration_s):
            self.step()
            done += 1
            if rate > 0:
                ahead = start + done / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            if progress and time.monotonic() - last_report >= 5:
                progress(self.stats)
                last_report = time.monotonic()
        return self.stats
