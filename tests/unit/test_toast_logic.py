"""TOAST placeholder forms and the physical-row roots of key-change chains (pure logic)."""

from __future__ import annotations

import json

import pytest
from cdc_merge.toast import row_roots
from lakehouse.debezium import UNAVAILABLE_VALUE, UNAVAILABLE_VALUE_BASE64, placeholder_forms

pytestmark = pytest.mark.unit


def test_every_shape_of_the_placeholder_is_known() -> None:
    forms = placeholder_forms()
    assert UNAVAILABLE_VALUE in forms and UNAVAILABLE_VALUE_BASE64 in forms
    assert json.dumps([UNAVAILABLE_VALUE], separators=(",", ":")) in forms  # text[]
    ints = json.loads(next(f for f in forms if f.startswith("[9")))
    assert bytes(ints).decode() == UNAVAILABLE_VALUE  # int[] / bigint[]: the placeholder's bytes
    # java.util.UUID.nameUUIDFromBytes("__debezium_unavailable_value".getBytes()), as Debezium 3.3 sends it
    assert "b68a35a7-17ad-35b3-af2a-ae46edb4545a" in forms
    assert len(set(forms)) == len(forms)


def _birth(lsn: int, old: object | None, p: int = 0, o: int = 0) -> dict[str, object]:
    return {"lsn": lsn, "old": old, "kafka_partition": p, "kafka_offset": o}


def test_a_key_change_of_a_stored_row_roots_at_the_stored_key() -> None:
    assert row_roots({10: "A"}, {10: None}) == {10: ("s", "A", None, None, None)}


def test_a_chain_of_key_changes_roots_at_the_first_key() -> None:
    # A -> B at 10, B -> C at 20, C -> D at 30: every segment continues A's stored row.
    born = {10: "A", 20: "B", 30: "C"}
    before = {10: None, 20: _birth(10, "A"), 30: _birth(20, "B")}
    roots = row_roots(born, before)  # type: ignore[arg-type]
    assert set(roots.values()) == {("s", "A", None, None, None)}


def test_a_row_inserted_in_the_batch_roots_at_its_insert() -> None:
    # X inserted at 5 (offset 7), X -> Y at 10, Y -> Z at 20.
    born = {10: "X", 20: "Y"}
    before = {10: _birth(5, None, 0, 7), 20: _birth(10, "X")}
    roots = row_roots(born, before)  # type: ignore[arg-type]
    assert roots == {10: ("f", "X", 5, 0, 7), 20: ("f", "X", 5, 0, 7)}


def test_a_key_reused_after_a_change_starts_a_new_row() -> None:
    # A -> B at 10; A re-inserted at 15; A -> C at 20: C continues the new A, B the stored one.
    born = {10: "A", 20: "A"}
    before = {10: None, 20: _birth(15, None, 0, 3)}
    roots = row_roots(born, before)  # type: ignore[arg-type]
    assert roots[10] == ("s", "A", None, None, None) and roots[20] == ("f", "A", 15, 0, 3)
