#!/bin/bash
# Entrypoint of lakehouse/spark-jobs. Three uses:
#   IMAGE lakehouse-merge catch-up      any CLI of the image, run as given (the flows' Spark
#                                       driver Jobs and `docker run` use this)
#   IMAGE executor                      a Spark-on-Kubernetes executor pod (the driver creates it
#                                       with args [executor] and SPARK_* environment variables)
#   IMAGE driver --properties-file ...  a Spark-on-Kubernetes driver pod from spark-submit
#                                       --deploy-mode cluster (runs spark-submit in client mode)
# Modelled on Spark's own kubernetes/dockerfiles/spark/entrypoint.sh; Spark itself is the one
# pyspark bundles (SPARK_HOME), the extra jars are in $LAKEHOUSE_MERGE_SPARK_JARS_DIR.
set -euo pipefail

classpath="${SPARK_CLASSPATH:-}:${SPARK_HOME}/jars/*:${LAKEHOUSE_MERGE_SPARK_JARS_DIR}/*"
[ -n "${SPARK_EXTRA_CLASSPATH:-}" ] && classpath="$classpath:$SPARK_EXTRA_CLASSPATH"
[ -n "${SPARK_CONF_DIR:-}" ] && classpath="$SPARK_CONF_DIR:$classpath"

case "${1:-}" in
  driver)
    shift
    exec "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:-0.0.0.0}" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    # SPARK_JAVA_OPT_<n> carry the executor's JVM options, in order.
    mapfile -t java_opts < <(env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/[^=]*=\(.*\)/\1/' || true)
    for v in SPARK_EXECUTOR_MEMORY SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES \
             SPARK_APPLICATION_ID SPARK_EXECUTOR_POD_IP; do
      [ -n "${!v:-}" ] || { echo "spark-entrypoint: $v is not set (the Spark driver sets it on executor pods)" >&2; exit 2; }
    done
    exec "$JAVA_HOME/bin/java" "${java_opts[@]}" \
      "-Xms$SPARK_EXECUTOR_MEMORY" "-Xmx$SPARK_EXECUTOR_MEMORY" \
      -cp "$classpath" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" \
      --cores "$SPARK_EXECUTOR_CORES" --app-id "$SPARK_APPLICATION_ID" \
      --hostname "$SPARK_EXECUTOR_POD_IP" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
      --podName "${SPARK_EXECUTOR_POD_NAME:-$(hostname)}"
    ;;
  "")
    echo "usage: IMAGE <command> [args]   e.g. lakehouse-merge catch-up | lakehouse-maintain | lakehouse-gold" >&2
    exit 2
    ;;
  *)
    exec "$@"
    ;;
esac
