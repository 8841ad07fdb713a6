#!/usr/bin/env bash
# The platform's TLS certificates for an overlay that speaks TLS (k8s/components/tls): a private
# CA and one certificate per server and Kafka client, written as Secrets in cert-manager's shape
# (type kubernetes.io/tls: tls.crt, tls.key, ca.crt, and tls-combined.pem = key + chain, what
# cert-manager writes with additionalOutputFormats CombinedPEM: the PEM key store Kafka reads)
# plus the ConfigMap lakehouse-ca (ca.crt only: what every client trusts, executors included).
# overlay.sh runs it on `apply` when the rendered overlay mounts any of these (docs/security.md).
#
# Idempotent: a certificate is kept while it is signed by the current CA, names the same hosts
# and is valid for more than RENEW_DAYS; otherwise it is issued afresh (then restart the pods
# that mount it: `kubectl rollout restart`). Private keys are made here with openssl and go
# straight into the cluster: never into Terraform state, git or a file outside a temp dir.
#
#   NAMESPACE=lakehouse KUBE_CONTEXT=kind-lakehouse scripts/terraform/certs.sh [name...]
#   CERTS_DIR=/tmp/certs scripts/terraform/certs.sh kafka   # files, no cluster (the image smoke)
#
# Settings (environment): NAMESPACE, KUBE_CONTEXT, KUBECONFIG_PATH, CERT_DAYS (leaf validity,
# default 365), CA_DAYS (default 3650), RENEW_DAYS (default 30); CERTS_DIR: write each Secret's
# keys as files under CERTS_DIR/<secret>/ instead (same checks, same reuse). Names: the leaves
# below (default all).
source "$(dirname "$0")/../setup/common.sh"

CERTS_DIR="${CERTS_DIR:-}"
[ -n "$CERTS_DIR" ] || : "${KUBE_CONTEXT:?KUBE_CONTEXT is not set (the kubeconfig context to deploy into)}"
NAMESPACE="${NAMESPACE:-lakehouse}"
CERT_DAYS="${CERT_DAYS:-365}"
CA_DAYS="${CA_DAYS:-3650}"
RENEW_DAYS="${RENEW_DAYS:-30}"
need_cmd openssl "apt-get install -y openssl"
[ -n "$CERTS_DIR" ] || need_cmd kubectl "apt-get install -y kubernetes-client"
kubectl_() { kubectl --kubeconfig "${KUBECONFIG_PATH:-$HOME/.kube/config}" --context "$KUBE_CONTEXT" -n "$NAMESPACE" "$@"; }

# name -> "usage|host host ...": usage server (serverAuth), client (clientAuth) or both.
# Hosts are Service names; each gets its <name>.<ns>, .svc and .svc.cluster.local forms, and a
# server certificate names localhost and 127.0.0.1 too.
declare -A LEAVES=(
  [postgres]="server|postgres"
  [lakehouse-db]="server|lakehouse-db lakehouse-catalog"
  [minio]="server|minio"
  # Brokers: the bootstrap Service and each pod's stable name (advertised listener), named one
  # by one: OpenSSL's host check takes no wildcard over a one-label domain such as
  # *.kafka-headless. Five covers the prod overlay's three. Inter-broker traffic is mTLS too.
  [kafka]="both|kafka kafka-0.kafka-headless kafka-1.kafka-headless kafka-2.kafka-headless kafka-3.kafka-headless kafka-4.kafka-headless"
  [kafka-connect]="client|kafka-connect"
  # The merge (driver and executors), the flows and the connector tool.
  [kafka-client]="client|lakehouse"
)
CA_SECRET=lakehouse-ca-key
CA_CONFIGMAP=lakehouse-ca

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${!LEAVES[@]}")
for name in "${names[@]}"; do
  [ -n "${LEAVES[$name]:-}" ] || die "no certificate named $name" "one of: ${!LEAVES[*]}"
done

work="$(mktemp -d)"
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT

secret_field() {
  if [ -n "$CERTS_DIR" ]; then cat "$CERTS_DIR/$1/$2" 2>/dev/null; return; fi
  kubectl_ get secret "$1" -o "jsonpath={.data.${2//./\\.}}" 2>/dev/null | base64 -d 2>/dev/null
}

# apply_secret NAME TYPE key=file...: create or replace the Secret from files, labelled as ours.
apply_secret() {
  local name=$1 type=$2
  shift 2
  if [ -n "$CERTS_DIR" ]; then
    mkdir -p "$CERTS_DIR/$name"
    for kv in "$@"; do cp "${kv#*=}" "$CERTS_DIR/$name/${kv%%=*}"; done
    chmod -R go-rwx "$CERTS_DIR/$name"
    return
  fi
  local args=()
  for kv in "$@"; do args+=(--from-file="$kv"); done
  kubectl_ create secret generic "$name" --type="$type" "${args[@]}" --dry-run=client -o yaml \
    | kubectl_ label --local -f - -o yaml app.kubernetes.io/part-of=lakehouse app.kubernetes.io/managed-by=lakehouse-certs \
    | kubectl_ apply -f - >/dev/null
}

step "TLS certificates ${CERTS_DIR:+in $CERTS_DIR, }for namespace $NAMESPACE${KUBE_CONTEXT:+ (context $KUBE_CONTEXT)}"
if secret_field "$CA_SECRET" tls.key >"$work/ca.key" && [ -s "$work/ca.key" ] \
    && secret_field "$CA_SECRET" tls.crt >"$work/ca.crt" && [ -s "$work/ca.crt" ]; then
  info "CA: kept (Secret $CA_SECRET, valid until $(openssl x509 -in "$work/ca.crt" -noout -enddate | cut -d= -f2))"
else
  openssl req -x509 -newkey rsa:3072 -nodes -keyout "$work/ca.key" -out "$work/ca.crt" -days "$CA_DAYS" \
    -subj "/O=lakehouse/CN=lakehouse CA ($NAMESPACE)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
    || die "openssl could not make the CA" "check that openssl works: openssl version"
  apply_secret "$CA_SECRET" kubernetes.io/tls tls.crt="$work/ca.crt" tls.key="$work/ca.key"
  info "CA: made (Secret $CA_SECRET, valid $CA_DAYS days; nothing mounts it)"
fi
# The trust anchor, public: a ConfigMap, so pods that may mount no Secret (executors) trust it too.
if [ -n "$CERTS_DIR" ]; then
  mkdir -p "$CERTS_DIR/$CA_CONFIGMAP" && cp "$work/ca.crt" "$CERTS_DIR/$CA_CONFIGMAP/ca.crt"
else
kubectl_ create configmap "$CA_CONFIGMAP" --from-file=ca.crt="$work/ca.crt" --dry-run=client -o yaml \
  | kubectl_ label --local -f - -o yaml app.kubernetes.io/part-of=lakehouse app.kubernetes.io/managed-by=lakehouse-certs \
  | kubectl_ apply -f - >/dev/null
fi

for name in "${names[@]}"; do
  usage="${LEAVES[$name]%%|*}"
  sans=""
  for host in ${LEAVES[$name]#*|}; do
    sans+="DNS:$host,DNS:$host.$NAMESPACE,DNS:$host.$NAMESPACE.svc,DNS:$host.$NAMESPACE.svc.cluster.local,"
  done
  # Servers also answer as localhost: an operator's `kubectl port-forward` verifies the name too.
  [ "$usage" = client ] || sans+="DNS:localhost,IP:127.0.0.1,"
  sans="${sans%,}"
  secret="lakehouse-tls-$name"
  if secret_field "$secret" tls.crt >"$work/$name.crt" && [ -s "$work/$name.crt" ] \
      && openssl verify -CAfile "$work/ca.crt" "$work/$name.crt" >/dev/null 2>&1 \
      && openssl x509 -in "$work/$name.crt" -noout -checkend $((RENEW_DAYS * 86400)) >/dev/null \
      && [ "$(openssl x509 -in "$work/$name.crt" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ' | sed 's/IPAddress:/IP:/g')" \
           = "$sans" ]; then
    info "$secret: kept (valid until $(openssl x509 -in "$work/$name.crt" -noout -enddate | cut -d= -f2))"
    continue
  fi
  case "$usage" in
    server) eku=serverAuth ;;
    client) eku=clientAuth ;;
    both) eku=serverAuth,clientAuth ;;
  esac
  cn="${LEAVES[$name]#*|}"
  cn="${cn%% *}"
  # PKCS#8, unencrypted: PostgreSQL, MinIO, librdkafka and Kafka's PEM key stores all read it.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/$name.key" 2>/dev/null
  openssl req -new -key "$work/$name.key" -subj "/O=lakehouse/CN=$cn" -out "$work/$name.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$sans" >"$work/$name.ext"
  openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days "$CERT_DAYS" -sha256 -extfile "$work/$name.ext" -out "$work/$name.crt" 2>/dev/null \
    || die "openssl could not sign the certificate $name" "check the CA in Secret $CA_SECRET"
  cat "$work/$name.key" "$work/$name.crt" >"$work/$name.pem"
  apply_secret "$secret" kubernetes.io/tls tls.crt="$work/$name.crt" tls.key="$work/$name.key" \
    ca.crt="$work/ca.crt" tls-combined.pem="$work/$name.pem"
  info "$secret: issued for ${sans//DNS:/} ($eku, $CERT_DAYS days)"
done
step "TLS certificates ready"
