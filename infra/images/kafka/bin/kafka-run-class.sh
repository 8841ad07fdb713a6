#!/usr/bin/env bash
# Runs a Java main class on the Kafka jars, with the JVM options Apache Kafka's own
# bin/kafka-run-class.sh takes from the same variables (KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS,
# KAFKA_GC_LOG_OPTS, KAFKA_JMX_OPTS, KAFKA_LOG4J_OPTS, KAFKA_OPTS). Its -daemon/-name/-loggc
# switches are left out: in a container the process stays in the foreground.
#   kafka-run-class.sh CLASS [ARGS...]
set -euo pipefail
[ $# -ge 1 ] || { echo "USAGE: $0 classname [opts]" >&2; exit 1; }
KAFKA_HOME=$(cd "$(dirname "$0")/.." && pwd)
heap=${KAFKA_HEAP_OPTS:--Xmx256M}
perf=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}
if [ -z "${KAFKA_LOG4J_OPTS:-}" ]; then
  # the tools' logging: the copy /etc/kafka/docker/run prepared, else the image's default
  tools_log4j="$KAFKA_HOME/config/tools-log4j2.yaml"
  [ -f "$tools_log4j" ] || tools_log4j=/etc/kafka/docker/tools-log4j2.yaml
  KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$tools_log4j"
fi
# shellcheck disable=SC2086  # the *_OPTS variables hold several options, as in Kafka's script
exec java $heap $perf ${KAFKA_GC_LOG_OPTS:-} ${KAFKA_JMX_OPTS:-} $KAFKA_LOG4J_OPTS ${KAFKA_OPTS:-} \
  -cp "$KAFKA_HOME/libs/*" "$@"
