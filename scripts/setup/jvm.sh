#!/usr/bin/env bash
# Resolve the JVM bundles under config/jvm/ from Maven Central into the cache,
# verify every jar against the committed SHA-256 lock, and print nothing more on
# a second run. `--relock` rewrites the lock files instead of checking them.
#   jvm.sh                    the stack's bundles (kafka, debezium-postgres, spark)
#   jvm.sh --relock [NAME]    rewrite the locks of those bundles, or of NAME only
#   jvm.sh --paths            NAME_DIR=dir lines of the stack's bundles
#   jvm.sh --bundle NAME      resolve one optional bundle (iceberg-kafka-connect, for
#                             `make bench`); its directory is the last line printed
source "$(dirname "$0")/common.sh"

relock=false
only=""
[ "${1:-}" = "--relock" ] && { relock=true; only=${2:-}; }
need_cmd mvn "apt-get install -y maven (make setup does this)"
need_cmd sha256sum "apt-get install -y coreutils"

mvn_props=(
  "-Dkafka.version=$KAFKA_VERSION" "-Dkafka.scala.version=$KAFKA_SCALA_VERSION"
  "-Ddebezium.version=$DEBEZIUM_VERSION" "-Dspark.version=$SPARK_VERSION"
  "-Dspark.scala.version=$SPARK_SCALA_VERSION" "-Diceberg.version=$ICEBERG_VERSION"
  "-Dpostgres.jdbc.version=$POSTGRES_JDBC_VERSION" "-Dlog4j.version=$LOG4J_VERSION"
  "-Dspark.kafka.clients.version=$SPARK_KAFKA_CLIENTS_VERSION"
  "-Dspark.commons.pool2.version=$SPARK_COMMONS_POOL2_VERSION"
)
# Versions only an optional bundle needs: in its key, not in the stack bundles'.
declare -A bundle_props=(
  [iceberg-kafka-connect]="-Dhadoop.version=$HADOOP_VERSION"
)

# The directory a bundle resolves into; the name changes whenever its pom or a JVM version
# does (only the versions Maven receives: an image tag or a Terraform pin must not re-download).
bundle_dir() {
  local key
  key=$({ cat "$REPO_ROOT/config/jvm/$1/pom.xml"; printf '%s\n' "${mvn_props[@]}"
          [ -n "${bundle_props[$1]:-}" ] && printf '%s\n' "${bundle_props[$1]}"; } | sha256sum | cut -c1-12)
  echo "$LAKEHOUSE_STACK_CACHE_DIR/jvm/$1-$key"
}

resolve() {
  local bundle=$1 extra=$2 dir lock
  dir=$(bundle_dir "$bundle")
  lock="$REPO_ROOT/config/jvm/$bundle/jars.sha256"
  if [ -f "$dir/.complete" ] && ! $relock; then
    info "$bundle: cached in $dir"
    return
  fi
  step "Resolving JVM bundle '$bundle' from Maven Central"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  # -C: fail on a checksum mismatch against the repository's published checksums.
  # shellcheck disable=SC2086 # the optional bundle's properties are words
  mvn -B -C -ntp -f "$REPO_ROOT/config/jvm/$bundle/pom.xml" "${mvn_props[@]}" ${bundle_props[$bundle]:-} \
    "org.apache.maven.plugins:maven-dependency-plugin:$MAVEN_DEPENDENCY_PLUGIN_VERSION:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$dir.tmp" $extra >"$dir.tmp.log" 2>&1 \
    || { tail -30 "$dir.tmp.log" >&2; die "Maven could not resolve bundle '$bundle' (log: $dir.tmp.log)" \
         "check that Maven Central is reachable and the versions in config/versions.env exist"; }
  if $relock; then
    (cd "$dir.tmp" && sha256sum -- *.jar | sort -k2) >"$lock"
    info "$bundle: wrote $(wc -l <"$lock") checksums to ${lock#"$REPO_ROOT"/}"
  else
    [ -f "$lock" ] || die "no checksum lock for bundle '$bundle'" "run scripts/setup/jvm.sh --relock and commit $lock"
    local actual
    actual=$(cd "$dir.tmp" && sha256sum -- *.jar | sort -k2)
    if [ "$actual" != "$(cat "$lock")" ]; then
      diff <(echo "$actual") "$lock" >&2 || true
      die "jars of bundle '$bundle' differ from ${lock#"$REPO_ROOT"/}" \
          "a version changed: run scripts/setup/jvm.sh --relock, review the diff and commit it"
    fi
  fi
  rm -f "$dir.tmp.log"
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete"
  info "$bundle: $(ls "$dir" | wc -l) jars verified in $dir"
}

if [ "${1:-}" = "--paths" ]; then
  # NAME=dir lines for the stack tools; fails when a bundle was not resolved yet.
  for b in kafka debezium-postgres spark; do
    d=$(bundle_dir "$b")
    [ -f "$d/.complete" ] || die "JVM bundle '$b' is not resolved" "run: make setup"
    echo "$(echo "$b" | tr 'a-z-' 'A-Z_')_DIR=$d"
  done
  exit 0
fi

if [ "${1:-}" = "--bundle" ]; then
  [ -n "${bundle_props[${2:-}]+set}" ] || die "no optional JVM bundle '${2:-}'" \
    "name one of: ${!bundle_props[*]}"
  resolve "$2" ""
  bundle_dir "$2"
  exit 0
fi

if [ -n "$only" ]; then
  [ -f "$REPO_ROOT/config/jvm/$only/pom.xml" ] || die "no JVM bundle '$only'" "name a directory of config/jvm/"
  resolve "$only" "$([ "$only" = spark ] && echo -DexcludeTransitive=true)"
  exit 0
fi

resolve kafka ""
resolve debezium-postgres ""
resolve spark "-DexcludeTransitive=true"
