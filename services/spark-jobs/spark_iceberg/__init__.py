"""Spark + Iceberg helpers shared by the Spark jobs (cdc-merge, gold, lake-maintenance).

`session` builds the Spark session with the registry's Iceberg catalog, `tables` loads
Iceberg tables behind Spark names, `commits` writes commits that carry snapshot-summary
properties, `snapshot_offsets` is contract 4 (Kafka offsets in snapshot summaries) and
`conflicts` recognises and retries Iceberg commit conflicts.
"""
