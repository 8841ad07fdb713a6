"""The table registry (contract 1): the one description of every captured table.

`load_registry()` is the only place `config/tables.yaml` is parsed; connector configs,
the merge job, flows, the serving API and tests all work from the `Registry` it returns.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_IDENT = r"[a-z_][a-z0-9_]*"
_QUALIFIED = re.compile(rf"^{_IDENT}\.{_IDENT}$")
# Iceberg partition transforms as Spark SQL writes them.
_TRANSFORM = re.compile(
    rf"^(?:(?P<col>{_IDENT})|(?:years|months|days|hours)\((?P<tcol>{_IDENT})\)"
    rf"|(?:bucket|truncate)\(\s*[1-9][0-9]*\s*,\s*(?P<ncol>{_IDENT})\s*\))$"
)

Identifier = Annotated[str, Field(pattern=rf"^{_IDENT}$")]


class RegistryError(ValueError):
    """The registry file is missing or invalid; the message names the entry and the fix."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CdcConfig(_Frozen):
    """Names shared by the connector and the consumers."""

    connector: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Kafka Connect connector name")
    topic_prefix: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="Debezium topic.prefix")
    slot: Identifier = Field(description="logical replication slot name")
    publication: Identifier = Field(description="publication name")


class LakeConfig(_Frozen):
    """Where the lake tables live."""

    catalog: Identifier = "lake"
    bronze_namespace: Identifier = "bronze"
    gold_namespace: Identifier = "gold"
    dead_letter_table: str = "ops.dead_letter"

    @field_validator("dead_letter_table")
    @classmethod
    def _qualified(cls, v: str) -> str:
        if not _QUALIFIED.match(v):
            raise ValueError(f"dead_letter_table must be 'namespace.table', got {v!r}")
        return v


class TableSpec(_Frozen):
    """One captured table: source, key, Iceberg target, partitioning, serving."""

    source: str = Field(description="PostgreSQL schema.table")
    primary_key: tuple[Identifier, ...] = Field(min_length=1)
    iceberg: str = Field(description="Iceberg namespace.table of the silver table")
    partition_by: tuple[str, ...] = ()
    serve: bool = Field(
        False,
        description="the table feeds the gold tables and so the serving API: gold's inputs "
        "must be exactly the registry's `serve: true` tables (checked when gold builds)",
    )

    @field_validator("source", "iceberg")
    @classmethod
    def _qualified(cls, v: str) -> str:
        if not _QUALIFIED.match(v):
            raise ValueError(f"must be 'schema.table' in lower case, got {v!r}")
        return v

    @field_validator("partition_by")
    @classmethod
    def _transforms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for expr in v:
            if not _TRANSFORM.match(expr.strip()):
                raise ValueError(
                    f"partition transform {expr!r} is not one of: col, years(col), months(col), "
                    "days(col), hours(col), bucket(N, col), truncate(N, col)"
                )
        return tuple(e.strip() for e in v)

    @property
    def source_schema(self) -> str:
        return self.source.split(".")[0]

    @property
    def source_table(self) -> str:
        return self.source.split(".")[1]

    @property
    def partition_columns(self) -> tuple[str, ...]:
        """Source columns the partition spec reads."""
        cols = []
        for expr in self.partition_by:
            m = _TRANSFORM.match(expr)
            assert m is not None
            cols.append(m.group("col") or m.group("tcol") or m.group("ncol"))
        return tuple(cols)


class Registry(_Frozen):
    """The parsed, validated registry."""

    version: int = Field(ge=1, le=1)
    cdc: CdcConfig
    lake: LakeConfig = LakeConfig()
    tables: tuple[TableSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Registry:
        for attr in ("source", "iceberg"):
            seen: set[str] = set()
            for t in self.tables:
                value = getattr(t, attr)
                if value in seen:
                    raise ValueError(f"two tables share {attr} {value!r}; each must appear once")
                seen.add(value)
        return self

    def served(self) -> list[TableSpec]:
        """The tables marked `serve: true`: what gold reads and the serving API publishes."""
        return [t for t in self.tables if t.serve]

    def topic(self, table: TableSpec) -> str:
        """The Kafka topic Debezium writes `table`'s changes to."""
        return f"{self.cdc.topic_prefix}.{table.source}"

    def silver(self, table: TableSpec) -> str:
        """Fully qualified Spark name of the silver table."""
        return f"{self.lake.catalog}.{table.iceberg}"

    def bronze(self, table: TableSpec) -> str:
        """Fully qualified Spark name of the bronze change-log table."""
        return f"{self.lake.catalog}.{self.lake.bronze_namespace}.{table.iceberg.split('.')[1]}"

    @property
    def dead_letter(self) -> str:
        return f"{self.lake.catalog}.{self.lake.dead_letter_table}"

    def gold(self, name: str) -> str:
        """Fully qualified Spark name of the gold table `name`."""
        return f"{self.lake.catalog}.{self.lake.gold_namespace}.{name}"

    @cached_property
    def by_topic(self) -> dict[str, TableSpec]:
        return {self.topic(t): t for t in self.tables}

    def by_source(self, source: str) -> TableSpec:
        for t in self.tables:
            if t.source == source:
                return t
        raise KeyError(f"table {source!r} is not in the registry")


def parse_registry(text: str, origin: str = "<string>") -> Registry:
    """Parse registry YAML text; errors name the file, the entry and the problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{origin}: expected a mapping with 'version', 'cdc' and 'tables'")
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors())
        raise RegistryError(f"{origin}: invalid table registry: {problems}") from exc


def load_registry(path: str | Path) -> Registry:
    """Read and validate the registry file at `path`."""
    p = Path(path)
    if not p.is_file():
        raise RegistryError(f"table registry {p} not found; set LAKEHOUSE_REGISTRY_PATH to the tables.yaml to use")
    return parse_registry(p.read_text(), origin=str(p))
