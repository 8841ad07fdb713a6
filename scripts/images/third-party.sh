#!/usr/bin/env bash
# Local builds of the third-party images the kind overlay runs, where no registry can be pulled
# from (docs/images.md, "Third-party images"): infra/images/<name>/Dockerfile, each from its
# upstream channel, tagged by what it contains (third_party_ref in common.sh):
#   postgres  lakehouse/postgres:$POSTGRES_MAJOR-$DEBIAN_RELEASE  Debian's postgresql-$POSTGRES_MAJOR
#   kafka     lakehouse/kafka:$KAFKA_VERSION    the Maven Central jars of config/jvm/kafka
#   minio     lakehouse/minio:$MINIO_VERSION    MinIO server + mc, built from their Go modules
# then runs each for real (unless NO_SMOKE=1): PostgreSQL initialises and takes the postgres-init
# Job's script, the broker formats its storage and creates a topic, MinIO serves and mc sets it
# up as the minio-setup Job does. `make images` calls it; usage: third-party.sh [name...].
# Knobs: BUILD_PROGRESS=auto|plain|tty, NO_SMOKE=1, BASE_IMAGE, DOCKER=/path/to/docker.
source "$(dirname "$0")/common.sh"
require_docker

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${THIRD_PARTY_IMAGES[@]}")
for n in "${names[@]}"; do
  is_third_party "$n" || die "'$n' is not a third-party image (infra/images/<name>/Dockerfile)" \
    "name one of: ${THIRD_PARTY_IMAGES[*]}"
done
has() { printf '%s\n' "${names[@]}" | grep -qx -- "$1"; }

base=$(pick_base_image) || exit 1

# ---- inputs staged into the build context ---------------------------------------------------

has kafka && stage_jar_bundles kafka

# mc: built from its Go module like scripts/setup/minio.sh builds the server, cached by version.
build_mc() {
  local dest="$LAKEHOUSE_STACK_CACHE_DIR/mc/$MC_VERSION"
  if [ -x "$dest/mc" ]; then info "mc: cached at $dest/mc"; return; fi
  need_cmd go "install Go >= 1.24 (the Go project's tarball, or apt-get install -y golang-go)"
  step "Building mc $MC_VERSION from $MC_MODULE (once per machine, 1-3 minutes)"
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  GOBIN="$dest.tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "$MC_MODULE@$MC_VERSION" \
    || die "building mc failed" "check that the Go module proxy serves $MC_MODULE@$MC_VERSION (go list -m $MC_MODULE@$MC_VERSION)"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  info "mc: built $dest/mc"
}

if has minio; then
  "$REPO_ROOT/scripts/setup/minio.sh"
  build_mc
  mkdir -p "$IMAGE_STAGING/bin"
  for bin in "minio/$MINIO_VERSION/minio" "mc/$MC_VERSION/mc"; do
    rm -f "$IMAGE_STAGING/bin/${bin##*/}"
    cp -l "$LAKEHOUSE_STACK_CACHE_DIR/$bin" "$IMAGE_STAGING/bin/" 2>/dev/null \
      || cp -p "$LAKEHOUSE_STACK_CACHE_DIR/$bin" "$IMAGE_STAGING/bin/"
  done
  info "minio and mc staged in ${IMAGE_STAGING#"$REPO_ROOT"/}/bin (from $LAKEHOUSE_STACK_CACHE_DIR)"
fi

# ---- build ----------------------------------------------------------------------------------

build_args=()
mapfile -t build_args < <(version_build_args; meta_build_args "$base")
declare -A took=()
start_all=$SECONDS
i=0
for n in "${names[@]}"; do
  i=$((i + 1))
  ref=$(third_party_ref "$n")
  step "[$i/${#names[@]}] building $ref (infra/images/$n/Dockerfile, base $base)"
  start=$SECONDS
  docker_build "$ref" "infra/images/$n/Dockerfile" "${build_args[@]}"
  took[$n]=$((SECONDS - start))
done
build_s=$((SECONDS - start_all))

# ---- smoke: run each as the manifests do ----------------------------------------------------

run_id="lakehouse-3p-$$"
containers=()
cleanup() {
  [ ${#containers[@]} -eq 0 ] || "$DOCKER_BIN" rm -f -v "${containers[@]}" >/dev/null 2>&1 || true
  "$DOCKER_BIN" network rm "$run_id" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# start NAME ARGS...: a detached container on the private network, removed at exit.
start() {
  local name=$1
  shift
  containers+=("$run_id-$name")
  "$DOCKER_BIN" run -d --name "$run_id-$name" --network "$run_id" "$@" >/dev/null
}

# wait_for NAME SECONDS WHAT CMD...: until `docker exec` of CMD succeeds, or die with the log.
wait_for() {
  local name=$1 timeout=$2 what=$3 t=$SECONDS
  shift 3
  until "$DOCKER_BIN" exec "$run_id-$name" "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - t)) -ge "$timeout" ] || [ "$("$DOCKER_BIN" inspect -f '{{.State.Running}}' "$run_id-$name")" != true ]; then
      "$DOCKER_BIN" logs --tail 40 "$run_id-$name" >&2
      die "smoke: $what within $timeout s (container log above)" "fix infra/images/${name%%-*}/ and re-run: make images ONLY=${name%%-*}"
    fi
    sleep 1
  done
}

# check WHAT EXPECT CMD...: CMD's output must match the regex EXPECT.
check() {
  local what=$1 expect=$2 out
  shift 2
  out=$("$@" 2>&1) || { printf '%s\n' "$out" | tail -20 >&2; die "smoke: $what failed (output above)"; }
  grep -qE -- "$expect" <<<"$out" || { printf '%s\n' "$out" | tail -20 >&2; die "smoke: $what did not print /$expect/"; }
}

# refused CMD...: succeeds (printing CMD's output) when CMD fails, fails when it succeeds.
refused() {
  if "$@" 2>&1; then echo "succeeded although it should have been refused"; return 1; fi
}

smoke_postgres() {
  local ref=$1 pw=smoke-superuser sql="$REPO_ROOT/config/sql"
  # As k8s/base/postgres/postgres.yaml: uid 999, read-only root, PGDATA below the volume.
  start postgres -u 999:999 --read-only --tmpfs /var/run/postgresql:uid=999,gid=999 --tmpfs /tmp \
    -v /var/lib/postgresql/data -e POSTGRES_USER=postgres -e POSTGRES_PASSWORD=$pw \
    -e "POSTGRES_INITDB_ARGS=--auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8" \
    -e PGDATA=/var/lib/postgresql/data/pgdata --network-alias postgres \
    "$ref" -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10
  wait_for postgres 60 "PostgreSQL did not become ready" pg_isready -q -h 127.0.0.1 -U postgres
  # The postgres-init Job: its own script and the committed SQL, from a second container.
  check "the postgres-init script" "the source's roles, database and schema are in place" \
    "$DOCKER_BIN" run --rm --network "$run_id" -u 999:999 --read-only \
      -v "$REPO_ROOT/k8s/base/postgres/init.sh:/init/init.sh:ro" \
      -v "$sql/10-shop-schema.sql:/init/10-shop-schema.sql:ro" \
      -v "$sql/20-cdc-grants.sql:/init/20-cdc-grants.sql:ro" \
      -v "$sql/30-source-reader-grants.sql:/init/30-source-reader-grants.sql:ro" \
      -e PGHOST=postgres -e PGPORT=5432 -e POSTGRES_SUPERUSER_PASSWORD=$pw \
      -e LAKEHOUSE_SOURCE_PASSWORD=s1 -e LAKEHOUSE_SOURCE_CDC_PASSWORD=s2 -e SOURCE_READER_PASSWORD=s6 \
      "$ref" sh /init/init.sh
  # The lakehouse-db-init Job (the platform's server runs the same image): its script and the
  # serving schema, here against the same server; run twice, as every deploy does.
  for run in 1 2; do
    check "the lakehouse-db-init script (run $run)" "roles, databases and the serving schema are in place" \
      "$DOCKER_BIN" run --rm --network "$run_id" -u 999:999 --read-only \
        -v "$REPO_ROOT/k8s/base/lakehouse-db/init.sh:/init/init.sh:ro" \
        -v "$sql/serving/10-serving-store.sql:/init/serving-10-serving-store.sql:ro" \
        -e PGHOST=postgres -e PGPORT=5432 -e PLATFORM_DB_SUPERUSER_PASSWORD=$pw \
        -e LAKEHOUSE_CATALOG_PASSWORD=s3 -e LAKEHOUSE_SERVING_PASSWORD=s4 \
        -e LAKEHOUSE_SERVING_READER_PASSWORD=s5 -e PREFECT_DB_PASSWORD=s7 \
        "$ref" sh /init/init.sh
  done
  check "Prefect's role owns its database" "^prefect$" \
    "$DOCKER_BIN" exec -e PGPASSWORD=s7 "$run_id-postgres" psql -X -At -h postgres -U prefect -d prefect \
      -c "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'prefect'"
  # The quality checks' role reads the source and cannot change it.
  check "source_reader reads shop" "^0$" \
    "$DOCKER_BIN" exec -e PGPASSWORD=s6 "$run_id-postgres" psql -X -At -h postgres -U source_reader -d shop \
      -c "SELECT count(*) FROM shop.customers"
  check "source_reader cannot write shop" "permission denied" \
    refused "$DOCKER_BIN" exec -e PGPASSWORD=s6 "$run_id-postgres" psql -X -At -h postgres -U source_reader -d shop \
      -c "DELETE FROM shop.customers"
  # A restart keeps the cluster (no second initdb) and the server demands the password.
  "$DOCKER_BIN" restart "$run_id-postgres" >/dev/null
  wait_for postgres 60 "PostgreSQL did not come back after a restart" pg_isready -q -h 127.0.0.1 -U postgres
  check "a password login over TCP" "^logical\|shop\|true$" \
    "$DOCKER_BIN" exec -e PGPASSWORD=s1 "$run_id-postgres" psql -X -At -h postgres -U lakehouse -d shop \
      -c "SELECT current_setting('wal_level') || '|' || current_database() || '|' || (SELECT rolreplication FROM pg_roles WHERE rolname = 'debezium')"
  if "$DOCKER_BIN" exec -e PGPASSWORD=wrong "$run_id-postgres" psql -X -h postgres -U lakehouse -d shop -c 'SELECT 1' >/dev/null 2>&1; then
    die "smoke: $ref accepted a wrong password" "check the pg_hba.conf lines infra/images/postgres/docker-entrypoint.sh writes"
  fi
  [ "$("$DOCKER_BIN" logs "$run_id-postgres" 2>&1 | grep -c 'initdb done')" = 1 ] \
    || die "smoke: $ref ran initdb again after a restart" "infra/images/postgres/docker-entrypoint.sh must skip initdb when PG_VERSION exists"
  info "smoke: $ref initialised, ran the postgres-init and lakehouse-db-init scripts, restarted with its data; wal_level=logical"
}

smoke_kafka() {
  local ref=$1 topics=(/opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092)
  # As k8s/base/kafka/kafka.yaml: uid 1000, node id from the host name's ordinal, its command.
  start kafka -u 1000:1000 --hostname kafka-0 --network-alias kafka-0.kafka-headless -v /var/lib/kafka/data \
    -e CLUSTER_ID=bGFrZWhvdXNlLWthZmthMQ -e KAFKA_PROCESS_ROLES=broker,controller \
    -e KAFKA_CONTROLLER_QUORUM_VOTERS=0@kafka-0.kafka-headless:9093 \
    -e KAFKA_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093 -e KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER \
    -e KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT \
    -e KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
    -e KAFKA_LOG_DIRS=/var/lib/kafka/data -e KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1 \
    -e KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1 -e KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 \
    -e KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR=1 -e KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR=1 \
    -e KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0 -e "KAFKA_HEAP_OPTS=-Xms256m -Xmx256m" \
    "$ref" bash -c 'export KAFKA_NODE_ID="${HOSTNAME##*-}"
      export KAFKA_ADVERTISED_LISTENERS="PLAINTEXT://${HOSTNAME}.kafka-headless:9092"
      exec /etc/kafka/docker/run'
  wait_for kafka 90 "the broker did not answer" "${topics[@]}" --list
  check "kafka-topics.sh --create" "Created topic smoke" \
    "$DOCKER_BIN" exec "$run_id-kafka" "${topics[@]}" --create --topic smoke --partitions 3 --replication-factor 1
  # A restart finds the storage formatted and keeps the topic.
  "$DOCKER_BIN" restart "$run_id-kafka" >/dev/null
  wait_for kafka 90 "the broker did not come back after a restart" "${topics[@]}" --list
  check "the topic after a restart" "PartitionCount: 3" "$DOCKER_BIN" exec "$run_id-kafka" "${topics[@]}" --describe --topic smoke
  check "the KRaft quorum" "LeaderId:[[:space:]]+0" \
    "$DOCKER_BIN" exec "$run_id-kafka" /opt/kafka/bin/kafka-metadata-quorum.sh --bootstrap-server localhost:9092 describe --status
  info "smoke: $ref formatted its storage, ran KRaft as node 0, created a topic, kept it across a restart"
  smoke_kafka_tls "$ref"
}

# As k8s/components/tls: every listener mutual TLS, certificates from scripts/terraform/certs.sh.
smoke_kafka_tls() {
  local ref=$1 certs
  certs=$(mktemp -d)
  CERTS_DIR="$certs" "$REPO_ROOT/scripts/terraform/certs.sh" kafka kafka-client >/dev/null
  printf 'security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=/certs/lakehouse-ca/ca.crt\n' \
    >"$certs/no-cert.properties"
  { cat "$certs/no-cert.properties"
    printf 'ssl.keystore.type=PEM\nssl.keystore.location=/certs/lakehouse-tls-kafka-client/tls-combined.pem\n'; } \
    >"$certs/client.properties"
  printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n' | tee -a "$certs/no-cert.properties" >/dev/null
  chmod -R a+rX "$certs"  # a temp copy for uid 1000 in the container; the cluster's Secrets are 0440
  local topics=(/opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka-0.kafka-headless:9092)
  # The plaintext broker holds the same host name on the network: it goes first.
  "$DOCKER_BIN" rm -f "$run_id-kafka" >/dev/null
  start kafka-tls -u 1000:1000 --hostname kafka-0 --network-alias kafka-0.kafka-headless -v /var/lib/kafka/data \
    -v "$certs:/certs:ro" \
    -e CLUSTER_ID=bGFrZWhvdXNlLWthZmthMQ -e KAFKA_PROCESS_ROLES=broker,controller \
    -e KAFKA_CONTROLLER_QUORUM_VOTERS=0@kafka-0.kafka-headless:9093 -e BROKER_PROTOCOL=SSL \
    -e KAFKA_LISTENERS=SSL://:9092,CONTROLLER://:9093 -e KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER \
    -e KAFKA_INTER_BROKER_LISTENER_NAME=SSL -e KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=SSL:SSL,CONTROLLER:SSL \
    -e KAFKA_SSL_CLIENT_AUTH=required -e KAFKA_SSL_KEYSTORE_TYPE=PEM -e KAFKA_SSL_TRUSTSTORE_TYPE=PEM \
    -e KAFKA_SSL_KEYSTORE_LOCATION=/certs/lakehouse-tls-kafka/tls-combined.pem \
    -e KAFKA_SSL_TRUSTSTORE_LOCATION=/certs/lakehouse-tls-kafka/ca.crt \
    -e KAFKA_LOG_DIRS=/var/lib/kafka/data -e KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1 \
    -e KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1 -e KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 \
    -e KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR=1 -e KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR=1 \
    -e "KAFKA_HEAP_OPTS=-Xms256m -Xmx256m" \
    "$ref" bash -c 'export KAFKA_NODE_ID="${HOSTNAME##*-}"
      export KAFKA_ADVERTISED_LISTENERS="${BROKER_PROTOCOL:-PLAINTEXT}://${HOSTNAME}.kafka-headless:9092"
      exec /etc/kafka/docker/run'
  wait_for kafka-tls 90 "the TLS broker did not answer a client with a certificate" \
    "${topics[@]}" --command-config /certs/client.properties --list
  check "kafka-topics.sh --create over mutual TLS" "Created topic smoke-tls" \
    "$DOCKER_BIN" exec "$run_id-kafka-tls" "${topics[@]}" --command-config /certs/client.properties \
      --create --topic smoke-tls --partitions 1 --replication-factor 1
  check "a TLS client without a certificate is refused" "SslAuthenticationException|SSL handshake failed|bad_certificate|certificate_required" \
    refused "$DOCKER_BIN" exec "$run_id-kafka-tls" "${topics[@]}" --command-config /certs/no-cert.properties --list
  rm -rf "$certs"
  info "smoke: $ref served mutual TLS on every listener (certs.sh certificates); a client without a certificate was refused"
}

smoke_minio() {
  local ref=$1 root=smokeadmin rootpw=smoke-root-password
  # As k8s/base/minio/minio.yaml (server) and minio-setup.yaml (mc), uid 1000, read-only root;
  # the Job's `command:` replaces the entrypoint, hence --entrypoint sh.
  start minio -u 1000:1000 --read-only --tmpfs /tmp -v /data --network-alias minio \
    -e MINIO_ROOT_USER=$root -e MINIO_ROOT_PASSWORD=$rootpw -e MINIO_BROWSER=on \
    "$ref" server /data --address :9000 --console-address :9001 --certs-dir /tmp/certs --quiet
  local setup='until mc alias set lake http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null; do
      echo "waiting for MinIO"; sleep 1
    done
    mc mb --ignore-existing "lake/$LAKEHOUSE_S3_BUCKET"
    mc admin user add lake "$LAKEHOUSE_S3_ACCESS_KEY_ID" "$LAKEHOUSE_S3_SECRET_ACCESS_KEY"
    mc admin policy attach lake readwrite --user "$LAKEHOUSE_S3_ACCESS_KEY_ID" || true
    mc alias set platform http://minio:9000 "$LAKEHOUSE_S3_ACCESS_KEY_ID" "$LAKEHOUSE_S3_SECRET_ACCESS_KEY" >/dev/null
    echo smoke | mc pipe "platform/$LAKEHOUSE_S3_BUCKET/smoke.txt" >/dev/null
    mc cat "platform/$LAKEHOUSE_S3_BUCKET/smoke.txt"'
  local run=("$DOCKER_BIN" run --rm --network "$run_id" -u 1000:1000 --read-only --tmpfs /tmp
             -e MC_CONFIG_DIR=/tmp/mc -e LAKEHOUSE_S3_BUCKET=lake -e MINIO_ROOT_USER=$root -e MINIO_ROOT_PASSWORD=$rootpw
             -e LAKEHOUSE_S3_ACCESS_KEY_ID=platformkey -e LAKEHOUSE_S3_SECRET_ACCESS_KEY=platform-secret-key
             --entrypoint sh "$ref" -ec "$setup")
  # the readiness probe's endpoint
  wait_for minio 30 "MinIO did not become ready" bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/9000 && printf "GET /minio/health/ready HTTP/1.1\r\nHost: minio\r\nConnection: close\r\n\r\n" >&3 && head -1 <&3 | grep -q " 200 "'
  check "the minio-setup steps (mc mb, admin user add, policy attach) and a write as the platform key" \
    "^smoke$" "${run[@]}"
  check "the minio-setup steps a second time (idempotent)" "^smoke$" "${run[@]}"
  info "smoke: $ref served S3; mc created the bucket, the platform key and wrote through it (twice)"
}

smoke_s=0
if [ "${NO_SMOKE:-0}" != 1 ]; then
  smoke_start=$SECONDS
  "$DOCKER_BIN" network create "$run_id" >/dev/null
  for n in "${names[@]}"; do
    ref=$(third_party_ref "$n")
    step "smoke: running $ref as the manifests do"
    "smoke_$n" "$ref"
  done
  smoke_s=$((SECONDS - smoke_start))
fi

step "Third-party images: built in $build_s s, smoke-tested in $smoke_s s"
for n in "${names[@]}"; do
  ref=$(third_party_ref "$n")
  printf '    %-58s %6s MB  build %4s s\n' "$ref" "$(image_size_mb "$ref")" "${took[$n]}"
done
