#!/usr/bin/env bash
# KRaft storage: format, info, random-uuid (kafka.tools.StorageTool), as Apache Kafka's script.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
