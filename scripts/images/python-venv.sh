#!/bin/sh
# Run inside image builds (bind-mounted by the Python Dockerfiles' builder stages):
#   python-venv.sh deps VENV LOCKFILE        venv with the locked runtime packages, hash-checked:
#                                            requirements.lock minus $NOT_IN_VENV and what only
#                                            they pull in (pyspark goes only into spark-jobs)
#   python-venv.sh spark-wheels LOCKFILE OUT wheels of pyspark and its lock-only deps (py4j),
#                                            hash-checked, for spark-jobs to install
#   python-venv.sh wheel SRC OUTDIR          the project (pyproject.toml) as a wheel, no deps
# PyPI is reached with the CA bundle given as the BuildKit secret `pip-ca` (mounted at
# /run/secrets/pip-ca for that one RUN only; never in a layer). Without it, pip's own CAs apply.
set -eu
# Not in the shared venv: Spark (only spark-jobs needs it) and the test/lint tooling.
SPARK_ROOTS="pyspark"
NOT_IN_VENV="$SPARK_ROOTS pytest pytest-timeout ruff mypy types-pyyaml types-requests pre-commit python-hcl2"
cert=/run/secrets/pip-ca
if [ -s "$cert" ]; then export PIP_CERT="$cert"; fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

# lock_filter LOCK without|only ROOT...: the lock's entries without (or only) ROOT and every
# package that only ROOTs pull in (its `# via` names nothing else), hashes kept.
lock_filter() {
  python3 - "$@" <<'PY'
import re, sys
lock, mode, roots = sys.argv[1], sys.argv[2], {r.lower() for r in sys.argv[3:]}
blocks, name = {}, None
for line in open(lock):
    m = re.match(r"^([A-Za-z0-9_.-]+)==", line)
    if m:
        name = m.group(1).lower().replace("_", "-")
        blocks[name] = [line, []]
    elif name is not None:
        blocks[name][0] += line
        via = re.match(r"^\s+#\s+(?:via\s+)?(-r \S+|[A-Za-z0-9_.-]+)\s*$", line)
        if via and via.group(1) != "via":
            blocks[name][1].append(via.group(1).lower().replace("_", "-"))
closure = {r for r in roots if r in blocks}
grew = True
while grew:
    grew = False
    for n, (_, vias) in blocks.items():
        if n not in closure and vias and all(v in closure for v in vias):
            closure.add(n)
            grew = True
keep = [n for n in blocks if (n in closure) == (mode == "only")]
sys.stdout.write("".join(blocks[n][0] for n in keep))
print(f"lock_filter: {mode} {sorted(roots)} -> {len(keep)} of {len(blocks)} packages; "
      f"{'kept' if mode == 'only' else 'left out'}: {sorted(closure)}", file=sys.stderr)
PY
}

cmd=${1:?usage: python-venv.sh deps VENV LOCKFILE | spark-wheels LOCKFILE OUT | wheel SRC OUTDIR}
case "$cmd" in
  deps)
    venv=$2 lock=$3
    python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
      || { echo "python-venv.sh: Python 3.11 is required (pyproject.toml)" >&2; exit 1; }
    # shellcheck disable=SC2086
    lock_filter "$lock" without $NOT_IN_VENV >/tmp/runtime.lock
    python3 -m venv "$venv"
    # --no-deps: the lock is complete. Debian's older pip resolved `httpx[http2]` extras
    # differently from the host's and refused the locked install; nothing is left to resolve.
    "$venv/bin/pip" install --require-hashes --no-deps --no-compile -r /tmp/runtime.lock
    # byte-compile once here: the runtime images' site-packages stay read-only
    "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null || true
    ;;
  spark-wheels)
    lock=$2 out=$3
    # shellcheck disable=SC2086
    lock_filter "$lock" only $SPARK_ROOTS >/tmp/spark.lock
    python3 -m venv /tmp/wheel-venv
    /tmp/wheel-venv/bin/pip wheel --require-hashes --no-deps --use-pep517 -w "$out" -r /tmp/spark.lock
    ;;
  wheel)
    src=$2 out=$3
    python3 -m venv /tmp/wheel-venv
    /tmp/wheel-venv/bin/pip wheel --no-deps --wheel-dir "$out" "$src"
    ;;
  *) echo "python-venv.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
