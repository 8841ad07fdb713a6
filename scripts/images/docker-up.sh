#!/usr/bin/env bash
# `make docker-up`: a running Docker Engine, idempotent.
#  - installs Debian's docker.io when dockerd is missing (apt-get, as root);
#  - writes an OCI runtime wrapper that drops CAP_SYS_RESOURCE before exec'ing runc (this
#    VM's capability bounding set lacks it, so privileged containers fail without it);
#  - starts dockerd in the background (there is no systemd here) with that runtime as the
#    default, logging to $DOCKERD_LOG, and waits until `docker info` answers.
source "$(dirname "$0")/common.sh"

if [ -z "$(pick_docker)" ] || ! command -v dockerd >/dev/null 2>&1; then
  step "Installing Debian's docker.io (Docker Engine 20.10, containerd, runc)"
  command -v apt-get >/dev/null 2>&1 || die "dockerd is missing and apt-get is not available" \
    "install a Docker Engine (20.10+ with BuildKit) by your distribution's means"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    docker.io >/dev/null || die "apt-get install docker.io failed" "check the apt sources and re-run: make docker-up"
fi

docker_bin=$(pick_docker)
[ -n "$docker_bin" ] || die "no usable docker CLI after installing docker.io" "check /usr/bin/docker"

if "$docker_bin" info >/dev/null 2>&1; then
  info "docker: engine is running ($("$docker_bin" version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

runc_bin=$(command -v runc || true)
[ -n "$runc_bin" ] || die "runc is not installed" "apt-get install -y runc"
command -v python3 >/dev/null 2>&1 || die "python3 is needed by the runtime wrapper" "apt-get install -y python3"

step "Writing the OCI runtime wrapper $DOCKER_RUNTIME_PATH (drops CAP_SYS_RESOURCE, then runc)"
tmp=$(mktemp)
cat >"$tmp" <<WRAPPER
#!/usr/bin/env python3
# OCI runtime wrapper written by scripts/images/docker-up.sh. This VM's capability bounding
# set lacks CAP_SYS_RESOURCE; a container asking for it (every privileged one) fails with
# "unable to apply caps". Remove it from the bundle's config.json (create/run) and from the
# --process file (exec), then exec runc with the unchanged arguments.
import json, os, sys

CAP = "CAP_SYS_RESOURCE"

def strip(path, key=None):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return
    proc = doc.get("process", {}) if key == "process" else doc
    caps = proc.get("capabilities") or {}
    changed = False
    for kind, names in caps.items():
        if isinstance(names, list) and CAP in names:
            caps[kind] = [n for n in names if n != CAP]
            changed = True
    if changed:
        with open(path, "w") as f:
            json.dump(doc, f)

args = sys.argv[1:]
for i, a in enumerate(args):
    if a in ("--bundle", "-b") and i + 1 < len(args):
        strip(os.path.join(args[i + 1], "config.json"), "process")
    elif a.startswith("--bundle="):
        strip(os.path.join(a.split("=", 1)[1], "config.json"), "process")
    elif a in ("--process", "-p") and i + 1 < len(args):
        strip(args[i + 1])
    elif a.startswith("--process="):
        strip(a.split("=", 1)[1])
if ("create" in args or "run" in args) and not any(a in ("--bundle", "-b") or a.startswith("--bundle=") for a in args):
    strip(os.path.join(os.getcwd(), "config.json"), "process")
os.execv("$runc_bin", ["runc"] + args)
WRAPPER
as_root install -D -m 0755 "$tmp" "$DOCKER_RUNTIME_PATH"
rm -f "$tmp"

step "Starting dockerd in the background (log: $DOCKERD_LOG)"
as_root bash -c "nohup dockerd --add-runtime '$DOCKER_RUNTIME_NAME=$DOCKER_RUNTIME_PATH' \
  --default-runtime '$DOCKER_RUNTIME_NAME' >>'$DOCKERD_LOG' 2>&1 </dev/null & echo \$! >/run/lakehouse-dockerd.pid"
info "dockerd pid $(cat /run/lakehouse-dockerd.pid 2>/dev/null || echo '?')"
for _ in $(seq 1 60); do
  if "$docker_bin" info >/dev/null 2>&1; then
    info "docker: engine is running ($("$docker_bin" version --format '{{.Server.Version}}'), default runtime $DOCKER_RUNTIME_NAME)"
    exit 0
  fi
  sleep 1
done
tail -20 "$DOCKERD_LOG" >&2 || true
die "dockerd did not answer within 60 s (log: $DOCKERD_LOG)" \
  "read the log; a stale /var/run/docker.pid or another dockerd may be in the way"
