"""lake-maintenance without Spark: the CLI's help and configuration errors, the retry policy, targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from lake_maintenance.cli import main
from lake_maintenance.job import targets
from lake_maintenance.report import TableMaintenance
from lakehouse.registry import load_registry
from spark_iceberg.conflicts import CONFLICT_CLASSES, is_conflict, with_retries

REGISTRY = Path(__file__).resolve().parents[2] / "config" / "tables.yaml"


def test_help_needs_no_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--help"])
    assert exc.value.code == 0
    assert "--table" in capsys.readouterr().out


def test_missing_configuration_exits_2_naming_the_variables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "LAKEHOUSE_CATALOG_PASSWORD" in err and "LAKEHOUSE_MERGE_SPARK_JARS_DIR" in err


class _Throwable:
    def __init__(self, name: str, cause: _Throwable | None = None) -> None:
        self.name, self.cause = name, cause

    def getClass(self) -> _Throwable:
        return self

    def getName(self) -> str:
        return self.name

    def getCause(self) -> _Throwable | None:
        return self.cause


class _JavaError(Exception):
    def __init__(self, throwable: _Throwable) -> None:
        super().__init__(throwable.name)
        self.java_exception = throwable


def test_conflicts_are_recognised_through_causes() -> None:
    wrapped = _JavaError(
        _Throwable("java.lang.RuntimeException", _Throwable("org.apache.iceberg.exceptions.ValidationException"))
    )
    assert is_conflict(wrapped)
    assert not is_conflict(_JavaError(_Throwable("java.io.FileNotFoundException")))
    assert not is_conflict(ValueError("x"))
    assert "org.apache.iceberg.exceptions.CommitFailedException" in CONFLICT_CLASSES


def test_retries_back_off_on_conflicts_then_succeed() -> None:
    calls, sleeps = [], []

    def step() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _JavaError(_Throwable("org.apache.iceberg.exceptions.CommitFailedException"))
        return "done"

    assert with_retries(step, what="t", say=lambda _m: None, sleep=sleeps.append) == ("done", 2)
    assert sleeps == [2.0, 4.0]


def test_retries_give_up_and_other_errors_are_not_retried() -> None:
    sleeps: list[float] = []

    def conflict() -> None:
        raise _JavaError(_Throwable("org.apache.iceberg.exceptions.CommitFailedException"))

    with pytest.raises(_JavaError):
        with_retries(conflict, what="t", attempts=3, say=lambda _m: None, sleep=sleeps.append)
    assert sleeps == [2.0, 4.0]

    def broken() -> None:
        raise ValueError("no")

    sleeps.clear()
    with pytest.raises(ValueError):
        with_retries(broken, what="t", say=lambda _m: None, sleep=sleeps.append)
    assert sleeps == []


def test_targets_cover_silver_bronze_and_the_dead_letters_on_a_full_run() -> None:
    registry = load_registry(REGISTRY)
    full = targets(registry)
    assert len(full) == 2 * len(registry.tables) + 1
    assert full[-1].table == registry.dead_letter and full[-1].kind == "dead_letter"
    orders = registry.by_source("shop.orders")
    assert [(t.table, t.kind) for t in targets(registry, [orders])] == [
        ("default.silver.orders", "silver"),
        ("default.bronze.orders", "bronze"),
    ]


def test_report_as_dict_and_line() -> None:
    r = TableMaintenance(table="default.silver.orders", kind="silver", data_files_before=9, data_files_after=2)
    assert r.as_dict()["data_files_before"] == 9
    assert "data files 9 -> 2" in r.line()
    assert "skipped" in TableMaintenance(table="x", kind="bronze", skipped="absent").line()
