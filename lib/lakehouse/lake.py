"""Opening the lake from Python (pyiceberg) with the platform's own settings."""

from __future__ import annotations

from typing import Any

from pyarrow.fs import FileSystem
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import PyArrowFileIO

from lakehouse.settings import Settings

# Catalog property naming the PEM CA file an https S3 endpoint's certificate is checked against.
S3_CA_FILE_PROPERTY = "lakehouse.s3.ca-file"


class CaTrustingFileIO(PyArrowFileIO):
    """pyiceberg's pyarrow FileIO, its S3 filesystems checking the endpoint against our CA.

    pyiceberg (0.12) passes no CA to pyarrow's S3 client, and the client's libcurl ignores
    SSL_CERT_FILE, so an https MinIO signed by the platform's CA (k8s/components/tls) fails
    verification. The filesystem pyiceberg builds is rebuilt with the same options plus
    pyarrow's own `tls_ca_file_path`.
    """

    def _initialize_s3_fs(self, netloc: str | None) -> FileSystem:
        fs = super()._initialize_s3_fs(netloc)
        ca_file = self.properties.get(S3_CA_FILE_PROPERTY)
        if not ca_file:
            return fs
        rebuild, (options,) = fs.__reduce__()  # pyarrow's own pickling: every option of fs
        return rebuild({**options, "tls_ca_file_path": ca_file})


def open_catalog(settings: Settings) -> Catalog:
    """The Iceberg JDBC catalog the merge job writes, as a pyiceberg SQL catalog.

    Built from LAKEHOUSE_CATALOG_* and LAKEHOUSE_S3_* rather than pyiceberg's own
    environment, so a process has one source of configuration.
    """
    cat, s3 = settings.catalog, settings.s3
    props: dict[str, Any] = {
        "uri": cat.sqlalchemy_url(),
        "warehouse": cat.warehouse,
        "s3.endpoint": s3.endpoint,
        "s3.access-key-id": s3.access_key_id,
        "s3.secret-access-key": s3.secret_access_key.get_secret_value(),
        "s3.region": s3.region,
        "s3.force-virtual-addressing": "false",
    }
    if s3.ca_file:
        props |= {"py-io-impl": f"{__name__}.{CaTrustingFileIO.__name__}", S3_CA_FILE_PROPERTY: s3.ca_file}
    return SqlCatalog(settings.registry().lake.catalog, **props)
