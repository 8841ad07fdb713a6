#!/usr/bin/env bash
# The KRaft quorum's status and replication (org.apache.kafka.tools.MetadataQuorumCommand).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.MetadataQuorumCommand "$@"
