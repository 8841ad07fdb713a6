import pytest
from cdc_merge.lake_tables import plan_schema
from cdc_merge.typemap import INCOMPATIBLE, PROMOTE, SAME, WIDER_TABLE, column_type, compare
from lakehouse.debezium import EnvelopeError, FieldSchema, row_fields


def f(
    type_: str, logical: str | None = None, src: str = "", length: str | None = None, scale: str | None = None
) -> FieldSchema:
    params = {"__debezium.source.column.type": src}
    if length is not None:
        params["__debezium.source.column.length"] = length
    if scale is not None:
        params["__debezium.source.column.scale"] = scale
    return FieldSchema("c", type_, True, logical, params)


@pytest.mark.parametrize(
    ("field", "sql_type"),
    [
        (f("int16", src="INT2"), "int"),
        (f("int32", src="INT4"), "int"),
        (f("int64", src="INT8"), "bigint"),
        (f("string", src="NUMERIC", length="12", scale="2"), "decimal(12,2)"),
        (f("string", src="NUMERIC", length="0", scale="0"), "string"),
        (f("string", src="NUMERIC", length="60", scale="2"), "string"),
        (f("float32", src="FLOAT4"), "float"),
        (f("float64", src="FLOAT8"), "double"),
        (f("float", src="FLOAT4"), "float"),
        (f("double", src="FLOAT8"), "double"),
        (f("string", src="TEXT"), "string"),
        (f("boolean", src="BOOL"), "boolean"),
        (f("int32", "io.debezium.time.Date", "DATE"), "date"),
        (f("int64", "io.debezium.time.MicroTimestamp", "TIMESTAMP"), "timestamp_ntz"),
        (f("string", "io.debezium.time.ZonedTimestamp", "TIMESTAMPTZ"), "timestamp"),
        (f("string", "io.debezium.data.Uuid", "UUID"), "string"),
        (f("string", "io.debezium.data.Json", "JSONB"), "string"),
        (f("bytes", src="BYTEA"), "binary"),
        (f("array", src="_INT4"), "string"),
    ],
)
def test_postgres_types_map_faithfully(field: FieldSchema, sql_type: str) -> None:
    assert column_type(field).sql_type == sql_type


def test_conversion_expressions() -> None:
    assert column_type(f("bytes")).expression("r") == "unbase64(r)"
    assert column_type(f("string", src="NUMERIC", length="5", scale="1")).expression("r") == "CAST(r AS DECIMAL(5,1))"
    assert column_type(f("string")).toastable and not column_type(f("int64")).toastable


@pytest.mark.parametrize(
    ("current", "incoming", "verdict"),
    [
        ("int", "int", SAME),
        ("int", "bigint", PROMOTE),
        ("bigint", "int", WIDER_TABLE),
        ("float", "double", PROMOTE),
        ("decimal(10,2)", "decimal(14,2)", PROMOTE),
        ("decimal(14,2)", "decimal(10,2)", WIDER_TABLE),
        ("decimal(10,2)", "decimal(10,3)", INCOMPATIBLE),
        ("string", "int", INCOMPATIBLE),
        ("int", "string", INCOMPATIBLE),
        ("timestamp", "timestamp_ntz", INCOMPATIBLE),
    ],
)
def test_type_compatibility(current: str, incoming: str, verdict: str) -> None:
    assert compare(current, incoming) == verdict


def test_plan_adds_promotes_and_rejects() -> None:
    current = {"id": "int", "qty": "int", "note": "string"}
    plan = plan_schema(
        current,
        [
            ("s1", {"id": "int", "qty": "bigint", "note": "string", "extra": "date"}),
            ("s2", {"id": "int", "qty": "bigint", "note": "int"}),
            ("s3", {"id": "int", "qty": "int"}),
        ],
    )
    assert plan.add == {"extra": "date"}
    assert plan.promote == {"qty": "bigint"}
    assert set(plan.rejected) == {"s2"} and "note string -> int" in plan.rejected["s2"]
    assert plan.columns == {"id": "int", "qty": "bigint", "note": "string", "extra": "date"}


def test_plan_for_new_table_has_no_ddl() -> None:
    plan = plan_schema(None, [("s1", {"id": "int", "v": "string"}), ("s2", {"id": "bigint", "v": "string"})])
    assert plan.columns == {"id": "bigint", "v": "string"} and not plan.add and not plan.promote


def test_row_fields_requires_an_envelope() -> None:
    with pytest.raises(EnvelopeError):
        row_fields('{"type": "struct", "fields": [{"field": "id", "type": "int32"}]}')
    fields = row_fields(
        {
            "type": "struct",
            "fields": [
                {"field": "before", "type": "struct", "fields": []},
                {
                    "field": "after",
                    "type": "struct",
                    "fields": [
                        {
                            "field": "id",
                            "type": "int32",
                            "optional": False,
                            "parameters": {"__debezium.source.column.type": "INT4"},
                        }
                    ],
                },
                {"field": "op", "type": "string"},
            ],
        }
    )
    assert fields == [FieldSchema("id", "int32", False, None, {"__debezium.source.column.type": "INT4"})]


def _array(item_type: str, logical: str | None = None) -> FieldSchema:
    return FieldSchema("c", "array", True, None, {}, items=FieldSchema("", item_type, True, logical))


@pytest.mark.parametrize(
    ("field", "sql_type"),
    [
        (_array("int32"), "array<int>"),
        (_array("int64"), "array<bigint>"),
        (_array("string"), "array<string>"),
        (_array("boolean"), "array<boolean>"),
        (_array("double"), "array<double>"),
        (_array("bytes"), "array<binary>"),
        (_array("string", "io.debezium.data.Uuid"), "array<string>"),
        (_array("int32", "io.debezium.time.Date"), "array<date>"),
        (_array("string", "io.debezium.time.ZonedTimestamp"), "string"),  # no list rule: JSON text
        (f("string", src="MONEY"), "decimal(19,2)"),
        (f("string", "io.debezium.time.Interval", "INTERVAL"), "string"),
    ],
)
def test_arrays_money_and_intervals_map_by_their_rule(field: FieldSchema, sql_type: str) -> None:
    assert column_type(field).sql_type == sql_type


def test_row_fields_read_array_element_schemas() -> None:
    envelope = {
        "type": "struct",
        "fields": [
            {"field": "op", "type": "string"},
            {
                "field": "after",
                "type": "struct",
                "fields": [
                    {"field": "nums", "type": "array", "optional": True, "items": {"type": "int32", "optional": True}}
                ],
            },
        ],
    }
    [nums] = row_fields(envelope)
    assert nums.items is not None and nums.items.type == "int32"
    assert column_type(nums).toastable  # an array can be TOASTed: placeholders are resolved for it


def test_values_without_a_faithful_form_convert_to_null_so_they_are_dead_lettered() -> None:
    date = column_type(f("int32", "io.debezium.time.Date", "DATE"))
    assert "BETWEEN -719162 AND 2932896" in date.expression("r") and "1-9999" in date.limits
    money = column_type(f("string", src="MONEY"))
    assert "<= 15" in money.expression("r") and "double" in money.limits
    assert compare("string", "array<int>") == WIDER_TABLE  # tables made before lists keep JSON text
