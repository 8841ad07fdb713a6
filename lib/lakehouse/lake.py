"""Opening the lake from Python (pyiceberg) with the platform's own settings."""

from __future__ import annotations

import os
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
    if s3.ca_file:
        # pyiceberg passes no CA to pyarrow's S3 client, which takes SSL_CERT_FILE instead
        # (read when the first S3 filesystem is made). A pod may set it already; keep that.
        os.environ.setdefault("SSL_CERT_FILE", s3.ca_file)
    props: dict[str, Any] = {
        "uri": cat.sqlalchemy_url(),
        "warehouse": cat.warehouse,
        "s3.endpoint": s3.endpoint,
        "s3.access-key-id": s3.access_key_id,
        "s3.secret-access-key": s3.secret_access_key.get_secret_value(),
        "s3.region": s3.region,
        "s3.force-virtual-addressing": "false",
    }
    return SqlCatalog(settings.registry().lake.catalog, **props)
