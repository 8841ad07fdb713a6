"""Opening the lake from Python (pyiceberg) with the platform's own settings."""

from __future__ import annotations

from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.settings import Settings


def open_catalog(settings: Settings) -> Catalog:
    """The Iceberg JDBC catalog the merge job writes, as a pyiceberg SQL catalog.

    Built from LAKEHOUSE_CATALOG_* and LAKEHOUSE_S3_* rather than pyiceberg's own
    environment, so a process has one source of configuration.
    """
    cat, s3 = settings.catalog, settings.s3
    props: dict[str, Any] = {
        "uri": (
            f"postgresql+psycopg2://{cat.user}:{cat.password.get_secret_value()}@{cat.host}:{cat.port}/{cat.database}"
        ),
        "warehouse": cat.warehouse,
        "s3.endpoint": s3.endpoint,
        "s3.access-key-id": s3.access_key_id,
        "s3.secret-access-key": s3.secret_access_key.get_secret_value(),
        "s3.region": s3.region,
        "s3.force-virtual-addressing": "false",
    }
    return SqlCatalog(settings.registry().lake.catalog, **props)
