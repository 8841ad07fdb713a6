#!/usr/bin/env bash
# Smoke-run images built by build.sh, as their non-root user: each must answer its CLI and
# must not run as root; flows must also run as the Prefect server (the kind overlay's).
# Usage: smoke.sh [name...] (default: every image).
# SMOKE_CONNECT_RUN=1 also runs the Connect worker against a broker (about a minute more).
source "$(dirname "$0")/common.sh"
require_docker

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${IMAGES[@]}")

# run NAME EXPECT ARGS...: docker run --rm with ARGS; output must match the regex EXPECT.
run() {
  local name=$1 expect=$2 ref out what
  shift 2
  ref=$(image_ref "$name")
  what=$(printf '%s ' "$@" | tr '\n' ' ' | cut -c1-100)
  # No network; the hostname resolves (Spark's driver looks itself up).
  if ! out=$("$DOCKER_BIN" run --rm --network none --hostname smoke --add-host smoke:127.0.0.1 "$@" 2>&1); then
    printf '%s\n' "$out" | tail -20 >&2
    die "smoke test of $ref failed: docker run $what... exited non-zero" "see the output above; fix services/$name/Dockerfile"
  fi
  grep -qE -- "$expect" <<<"$out" || {
    printf '%s\n' "$out" | tail -20 >&2
    die "smoke test of $ref failed: docker run $what... did not print /$expect/" "see the output above"
  }
}

# connect_run: a KRaft broker (from the same image's kafka jars) and the worker on a private
# network; the worker's REST API must list the Debezium PostgresConnector. ~1 min; opt-in.
connect_run() {
  local ref=$1 net=lakehouse-smoke-$$ ok=false
  cleanup_connect() {
    "$DOCKER_BIN" rm -f "$net-kafka" "$net-connect" >/dev/null 2>&1 || true
    "$DOCKER_BIN" network rm "$net" >/dev/null 2>&1 || true
  }
  trap cleanup_connect RETURN
  "$DOCKER_BIN" network create "$net" >/dev/null
  "$DOCKER_BIN" run -d --name "$net-kafka" --network "$net" --network-alias kafka --entrypoint bash "$ref" -c '
    printf "%s\n" process.roles=broker,controller node.id=1 controller.quorum.bootstrap.servers=kafka:9093 \
      listeners=PLAINTEXT://:9092,CONTROLLER://:9093 advertised.listeners=PLAINTEXT://kafka:9092 \
      controller.listener.names=CONTROLLER listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
      log.dirs=/tmp/kafka offsets.topic.replication.factor=1 transaction.state.log.replication.factor=1 \
      transaction.state.log.min.isr=1 group.initial.rebalance.delay.ms=0 >/tmp/server.properties
    java -cp "/opt/kafka/libs/*" kafka.tools.StorageTool format --standalone -t smoke0000000000000000A -c /tmp/server.properties >/dev/null
    exec java -Xmx256m -cp "/opt/kafka/libs/*" kafka.Kafka /tmp/server.properties' >/dev/null
  "$DOCKER_BIN" run -d --name "$net-connect" --network "$net" -e CONNECT_BOOTSTRAP_SERVERS=kafka:9092 "$ref" >/dev/null
  for _ in $(seq 1 90); do
    if "$DOCKER_BIN" exec "$net-connect" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8083 && printf "GET /connector-plugins HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null \
        | grep -q 'io.debezium.connector.postgresql.PostgresConnector'; then ok=true; break; fi
    sleep 2
  done
  $ok || { "$DOCKER_BIN" logs --tail 30 "$net-connect" >&2; die "smoke test of $ref failed: the worker's REST API did not list the Debezium PostgresConnector within 180 s" "see the worker log above"; }
  info "smoke: $ref ran a Connect worker against a KRaft broker; /connector-plugins lists PostgresConnector"
}

# prefect_server_run: the flows image as the kind overlay's Prefect server (in place of
# prefecthq/prefect): `prefect server start` with k8s/base/prefect/prefect-server.yaml's user,
# read-only root and environment; /api/health must answer true and the UI must be served.
prefect_server_run() {
  local ref=$1 name=lakehouse-smoke-prefect-$$ t=$SECONDS out=""
  # shellcheck disable=SC2064  # the name is fixed now; the trap clears itself
  trap "\"\$DOCKER_BIN\" rm -f $name >/dev/null 2>&1 || true; trap - RETURN" RETURN
  "$DOCKER_BIN" run -d --name "$name" --network none -u 10001:10001 --read-only --tmpfs /tmp \
    --tmpfs /var/lib/prefect:uid=10001,gid=10001 -e PREFECT_HOME=/var/lib/prefect \
    -e PREFECT_SERVER_ANALYTICS_ENABLED=false -e PREFECT_UI_API_URL=/api -e PREFECT_UI_STATIC_DIRECTORY=/tmp/prefect-ui \
    "$ref" prefect server start --host 0.0.0.0 --port 4200 >/dev/null
  until out=$("$DOCKER_BIN" exec "$name" python -c '
import urllib.request as r
print("health", r.urlopen("http://127.0.0.1:4200/api/health").read().decode(), "ui", r.urlopen("http://127.0.0.1:4200/").status)' 2>&1) \
      && grep -q "health true ui 200" <<<"$out"; do
    if [ $((SECONDS - t)) -ge 90 ]; then
      "$DOCKER_BIN" logs --tail 30 "$name" >&2
      die "smoke test of $ref failed: \`prefect server start\` did not answer /api/health and / within 90 s" \
        "see the server log above (the kind overlay runs this image as the Prefect server)"
    fi
    sleep 2
  done
  info "smoke: $ref ran \`prefect server start\` read-only; /api/health true, UI served ($((SECONDS - t)) s)"
}

for n in "${names[@]}"; do
  ref=$(image_ref "$n")
  "$DOCKER_BIN" image inspect "$ref" >/dev/null 2>&1 || die "image $ref does not exist" "run: make images"
  uid=$("$DOCKER_BIN" run --rm --network none --entrypoint id "$ref" -u 2>&1) \
    || die "smoke test of $ref failed: cannot run 'id -u' in it: $uid"
  [ "$uid" != 0 ] || die "image $ref runs as root (id -u = 0)" "end services/$n/Dockerfile with USER 10001:10001"
  case "$n" in
    spark-jobs)
      run "$n" "Usage: lakehouse-merge|usage: lakehouse-merge" "$ref" lakehouse-merge --help
      run "$n" "[Uu]sage" "$ref" lakehouse-maintain --help
      run "$n" "[Uu]sage" "$ref" lakehouse-gold --help
      run "$n" "openjdk version \"$JAVA_MAJOR" "$ref" java -version
      # A local Spark session with the image's jars: the driver and executor classpath works.
      run "$n" "spark-ok $SPARK_VERSION iceberg-ok 3" "$ref" python -c '
import os
from pathlib import Path
from pyspark.sql import SparkSession
jars = sorted(str(p) for p in Path(os.environ["LAKEHOUSE_MERGE_SPARK_JARS_DIR"]).glob("*.jar"))
s = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
     .config("spark.ui.showConsoleProgress", "false")
     .config("spark.driver.extraClassPath", ":".join(jars)).getOrCreate())
s.sparkContext.setLogLevel("ERROR")
s._jvm.java.lang.Class.forName("org.apache.iceberg.spark.SparkCatalog")
s._jvm.java.lang.Class.forName("org.apache.spark.sql.kafka010.KafkaSourceProvider")
s._jvm.java.lang.Class.forName("org.postgresql.Driver")
print("spark-ok", s.version, "iceberg-ok", s.range(3).count())
s.stop()'
      ;;
    kafka-connect)
      run "$n" "openjdk version \"$JAVA_MAJOR" "$ref" check
      run "$n" "debezium-connector-postgres-$DEBEZIUM_VERSION\\.jar" "$ref" check
      run "$n" "ConnectDistributed loads" "$ref" check
      run "$n" "^bootstrap.servers=kafka:9092" -e CONNECT_BOOTSTRAP_SERVERS=kafka:9092 "$ref" print-config
      if [ "${SMOKE_CONNECT_RUN:-0}" = 1 ]; then connect_run "$ref"; fi
      ;;
    connector-config) run "$n" "Usage: lakehouse-connectors" "$ref" --help ;;
    flows)
      run "$n" "^3\\." "$ref" --version
      run "$n" "worker" "$ref" worker --help
      run "$n" "flows-ok" "$ref" python -c '
import pathlib, yaml
assert pathlib.Path("prefect.yaml").is_file() and pathlib.Path("config/tables.yaml").is_file()
import flows.pipeline_flow, flows.maintenance_flow
print("flows-ok", sorted(d["entrypoint"] for d in yaml.safe_load(open("prefect.yaml"))["deployments"])[0])'
      prefect_server_run "$ref"
      ;;
    serving-api) run "$n" "--port" "$ref" --help ;;
    loadgen) run "$n" "Usage: lakehouse-load" "$ref" --help ;;
    *) run "$n" "[Uu]sage" "$ref" --help ;;
  esac
  info "smoke: $ref ok (uid $uid)"
done
