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

# The platform's CA, where the TLS overlays mount it (ConfigMap lakehouse-ca, k8s/components/tls):
# every JVM of this container (a driver under pyspark, an executor) then trusts it besides the
# JDK's own CAs, e.g. for an https S3 endpoint. Java reads no PEM trust store, hence PKCS#12.
ca_file=/etc/lakehouse/tls/ca.crt
if [ -s "$ca_file" ]; then
  store="${TMPDIR:-/tmp}/lakehouse-java/truststore.p12"
  mkdir -p "${store%/*}"
  rm -f "$store"
  "$JAVA_HOME/bin/keytool" -importkeystore -noprompt -srckeystore "$JAVA_HOME/lib/security/cacerts" \
    -srcstorepass changeit -destkeystore "$store" -deststoretype PKCS12 -deststorepass changeit >/dev/null 2>&1 || true
  "$JAVA_HOME/bin/keytool" -importcert -noprompt -alias lakehouse-ca -file "$ca_file" -keystore "$store" \
    -storetype PKCS12 -storepass changeit >/dev/null \
    || { echo "spark-entrypoint: keytool could not import $ca_file into $store" >&2; exit 2; }
  export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:+$JAVA_TOOL_OPTIONS }-Djavax.net.ssl.trustStore=$store -Djavax.net.ssl.trustStoreType=PKCS12 -Djavax.net.ssl.trustStorePassword=changeit"
fi

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
