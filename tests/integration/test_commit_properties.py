"""Statements run under Iceberg commit properties fail with their own error, not py4j's."""

from typing import Any

import pytest
from spark_iceberg.commits import run_with_commit_properties
from spark_iceberg.conflicts import java_class_chain


def test_a_failing_statement_raises_its_own_error(spark: Any) -> None:
    with pytest.raises(Exception) as info:
        run_with_commit_properties(spark, {"lakehouse.test": "1"}, "SELECT * FROM default.nowhere.missing_table")
    # The merge loop tells a commit conflict from other failures by the Java exception
    # classes; py4j's generic "Python Proxy" wrapper would hide them.
    assert "Python Proxy" not in str(info.value)
    assert "missing_table" in str(info.value)
    assert java_class_chain(info.value) or type(info.value).__name__ == "AnalysisException"
