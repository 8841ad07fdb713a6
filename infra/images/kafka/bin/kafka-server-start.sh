#!/usr/bin/env bash
# The broker: kafka.Kafka with a server.properties file, heap 1 GiB unless KAFKA_HEAP_OPTS says
# otherwise, and the broker's logging; as Apache Kafka's bin/kafka-server-start.sh.
#   kafka-server-start.sh server.properties [--override property=value]...
set -euo pipefail
[ $# -ge 1 ] || { echo "USAGE: $0 server.properties [--override property=value]*" >&2; exit 1; }
KAFKA_HOME=$(cd "$(dirname "$0")/.." && pwd)
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$KAFKA_HOME/config/log4j2.yaml}
exec "$KAFKA_HOME/bin/kafka-run-class.sh" kafka.Kafka "$@"
