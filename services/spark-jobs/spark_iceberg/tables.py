"""Iceberg tables behind Spark table names (py4j objects of the session's JVM)."""

from __future__ import annotations

import json
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType


def load_table(spark: SparkSession, name: str) -> Any:
    """The org.apache.iceberg.Table behind a Spark table name (py4j object)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    # Spark3Util resolves catalogs through SparkSession.active, which is per JVM thread: a Python
    # thread other than the session's builder has none, and "default.ops.x" would be read as a
    # namespace of spark_catalog (REQUIRES_SINGLE_PART_NAMESPACE). Make `spark` active here.
    jvm.org.apache.spark.sql.SparkSession.setActiveSession(spark._jsparkSession)
    return jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, name)


def find_table(spark: SparkSession, name: str) -> Any | None:
    """`load_table`, or None when there is no such table (one catalog round trip either way)."""
    try:
        return load_table(spark, name)
    except AnalysisException as exc:  # PySpark's rendering of Spark's NoSuchTableException
        if exc.getErrorClass() in ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND"):
            return None
        raise


def spark_columns(spark: SparkSession, table: Any) -> dict[str, str]:
    """name -> Spark SQL type of a loaded org.apache.iceberg.Table, in table order.

    What `spark.table(name).schema` gives, without another catalog load and analysis.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    struct = StructType.fromJson(
        json.loads(jvm.org.apache.iceberg.spark.SparkSchemaUtil.convert(table.schema()).json())
    )
    return {f.name: f.dataType.simpleString() for f in struct.fields}
