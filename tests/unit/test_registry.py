from pathlib import Path

import pytest
from lakehouse.registry import RegistryError, load_registry, parse_registry

REPO = Path(__file__).resolve().parents[2]

BASE = """
version: 1
cdc: {connector: c, topic_prefix: p, slot: s, publication: pub}
tables:
  - {source: shop.orders, primary_key: [id], iceberg: silver.orders, partition_by: ["days(created_at)"]}
"""


def test_repo_registry_is_valid_and_derives_names() -> None:
    reg = load_registry(REPO / "config" / "tables.yaml")
    items = reg.by_source("shop.order_items")
    assert items.primary_key == ("order_id", "line_no")
    assert reg.topic(items) == "lakehouse.shop.order_items"
    assert reg.silver(items) == "default.silver.order_items"
    assert reg.bronze(items) == "default.bronze.order_items"
    assert reg.by_topic["lakehouse.shop.orders"].partition_columns == ("created_at",)


def test_partition_transforms_are_parsed() -> None:
    reg = parse_registry(BASE.replace('"days(created_at)"', '"bucket(8, id)", "truncate(4, sku)", "country"'))
    assert reg.tables[0].partition_columns == ("id", "sku", "country")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("source: shop.orders", None),
        ("source: orders", "must be 'schema.table'"),
        ("primary_key: [id]", None),
        ("primary_key: []", "primary_key"),
        ('"days(created_at)"', None),
        ('"weeks(created_at)"', "partition transform 'weeks(created_at)'"),
    ],
)
def test_invalid_entries_name_the_problem(change: str, message: str | None) -> None:
    broken = {
        "source: shop.orders": "source: orders",
        "primary_key: [id]": "primary_key: []",
        '"days(created_at)"': '"weeks(created_at)"',
    }
    if message is None:
        parse_registry(BASE)
        return
    original = next(k for k, v in broken.items() if v == change)
    with pytest.raises(RegistryError, match=r"tables\.0\.") as exc:
        parse_registry(BASE.replace(original, change), origin="tables.yaml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("tables.yaml: invalid table registry")


def test_duplicate_tables_are_rejected() -> None:
    text = BASE + "  - {source: shop.orders, primary_key: [id], iceberg: silver.orders2}\n"
    with pytest.raises(RegistryError, match="two tables share source 'shop.orders'"):
        parse_registry(text)


def test_unknown_keys_and_bad_yaml_are_rejected() -> None:
    with pytest.raises(RegistryError, match="Extra inputs are not permitted"):
        parse_registry(BASE + "extra: 1\n")
    with pytest.raises(RegistryError, match="not valid YAML"):
        parse_registry("tables: [")


def test_missing_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="LAKEHOUSE_REGISTRY_PATH"):
        load_registry(tmp_path / "nope.yaml")


def test_the_shipped_registry_serves_exactly_what_gold_reads() -> None:
    """`serve: true` is read by gold: the registry and gold/definitions.py must agree."""
    from pathlib import Path

    from gold.build import check_served
    from gold.definitions import INPUTS
    from lakehouse.registry import RegistryError, load_registry

    registry = load_registry(Path(__file__).resolve().parents[2] / "config" / "tables.yaml")
    check_served(registry)
    assert {t.source for t in registry.served()} == set(INPUTS.values())
    changed = registry.model_copy(
        update={"tables": tuple(t.model_copy(update={"serve": False}) for t in registry.tables)}
    )
    with pytest.raises(RegistryError, match="serve: true"):
        check_served(changed)
