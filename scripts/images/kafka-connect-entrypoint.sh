#!/bin/bash
# Entrypoint of lakehouse/kafka-connect: a Kafka Connect distributed worker with the Debezium
# PostgreSQL plugin, run the same way as the local stack (tools/stackctl/stackctl/components.py:
# classpath = the kafka bundle, plugin.path = a directory holding the debezium-postgres bundle).
#
#   start (default)  write the worker properties from the environment, run ConnectDistributed
#   print-config     write and print them (no secrets are expected in them; see below)
#   check            java -version, the Debezium plugin jars, the Connect classes load
#   anything else    run as given
#
# Worker properties: every CONNECT_<NAME> variable becomes a property, lower-cased, with `_`
# -> `.`, `__` -> `_` and `___` -> `-` (CONNECT_BOOTSTRAP_SERVERS -> bootstrap.servers,
# CONNECT_OFFSET_FLUSH_INTERVAL_MS -> offset.flush.interval.ms), over the defaults below.
# CONNECT_BOOTSTRAP_SERVERS is required. Script knobs, not properties: CONNECT_HEAP (512m),
# CONNECT_CONFIG_DIR (/tmp/connect), CONNECT_LOG_LEVEL (INFO), KAFKA_OPTS (extra JVM options).
set -euo pipefail

KAFKA_LIBS=/opt/kafka/libs
PLUGIN_PATH=/opt/connect/plugins
conf_dir="${CONNECT_CONFIG_DIR:-/tmp/connect}"
props="$conf_dir/connect-worker.properties"
log4j="$conf_dir/log4j2.properties"
knobs=" HEAP CONFIG_DIR LOG_LEVEL "

write_log4j() {
  mkdir -p "$conf_dir"
  cat >"$log4j" <<LOG4J
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c{1})%n
rootLogger.level = ${CONNECT_LOG_LEVEL:-INFO}
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.connect.name = org.apache.kafka.connect.runtime.rest
logger.connect.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.debezium.name = io.debezium
logger.debezium.level = INFO
LOG4J
}

write_config() {
  [ -n "${CONNECT_BOOTSTRAP_SERVERS:-}" ] || {
    echo "kafka-connect: CONNECT_BOOTSTRAP_SERVERS is not set; set it to the Kafka bootstrap servers (host:port,...)" >&2
    exit 2
  }
  mkdir -p "$conf_dir"
  declare -A p=(
    [group.id]=lakehouse-connect
    [key.converter]=org.apache.kafka.connect.json.JsonConverter
    [value.converter]=org.apache.kafka.connect.json.JsonConverter
    [key.converter.schemas.enable]=true
    [value.converter.schemas.enable]=true
    [config.storage.topic]=_connect-configs
    [offset.storage.topic]=_connect-offsets
    [status.storage.topic]=_connect-status
    [config.storage.replication.factor]=1
    [offset.storage.replication.factor]=1
    [status.storage.replication.factor]=1
    [offset.flush.interval.ms]=1000
    [listeners]=http://0.0.0.0:8083
    [rest.advertised.host.name]="$(hostname -i 2>/dev/null | awk '{print $1}' || hostname)"
    [rest.advertised.port]=8083
    [plugin.path]="$PLUGIN_PATH"
    [plugin.discovery]=hybrid_warn
  )
  local var name key
  while IFS='=' read -r var _; do
    name=${var#CONNECT_}
    [[ "$knobs" == *" $name "* ]] && continue
    key=$(echo "$name" | tr 'A-Z' 'a-z' | sed 's/___/-/g; s/__/\x01/g; s/_/./g; s/\x01/_/g')
    p[$key]=${!var}
  done < <(env | grep -E '^CONNECT_[A-Z0-9_]+=' || true)
  : >"$props"
  for key in $(printf '%s\n' "${!p[@]}" | sort); do
    printf '%s=%s\n' "$key" "${p[$key]}" >>"$props"
  done
  write_log4j
}

java_args() {
  # KAFKA_OPTS: extra JVM options, split on whitespace.
  read -r -a extra <<<"${KAFKA_OPTS:-}"
  args=("$JAVA_HOME/bin/java" "-Xmx${CONNECT_HEAP:-512m}" -XX:+UseG1GC -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=$log4j" "${extra[@]}" -cp "$KAFKA_LIBS/*")
}

case "${1:-start}" in
  start)
    write_config
    java_args
    exec "${args[@]}" org.apache.kafka.connect.cli.ConnectDistributed "$props"
    ;;
  print-config)
    write_config
    cat "$props"
    ;;
  check)
    "$JAVA_HOME/bin/java" -version 2>&1
    ls "$PLUGIN_PATH"/debezium-postgres/debezium-connector-postgres-*.jar
    echo "plugin jars: $(ls "$PLUGIN_PATH"/debezium-postgres/*.jar | wc -l), kafka jars: $(ls "$KAFKA_LIBS"/*.jar | wc -l)"
    # ConnectDistributed without arguments prints its usage and exits 1: proves the classpath loads.
    # (its usage line is logged at INFO by org.apache.kafka, which the worker's config quiets)
    mkdir -p "$conf_dir"
    printf '%s\n' "appender.c.type = Console" "appender.c.name = C" "appender.c.layout.type = PatternLayout" \
      "appender.c.layout.pattern = %m%n" "rootLogger.level = INFO" "rootLogger.appenderRef.c.ref = C" \
      >"$conf_dir/log4j2-check.properties"
    out=$("$JAVA_HOME/bin/java" "-Dlog4j2.configurationFile=$conf_dir/log4j2-check.properties" -cp "$KAFKA_LIBS/*" \
      org.apache.kafka.connect.cli.ConnectDistributed 2>&1 || true)
    grep -q "Usage" <<<"$out" || { echo "kafka-connect: ConnectDistributed did not load: $out" >&2; exit 1; }
    echo "ConnectDistributed loads: $(grep -m1 Usage <<<"$out")"
    ;;
  *)
    exec "$@"
    ;;
esac
