#!/bin/sh
# Run inside image builds (bind-mounted by the Python Dockerfiles' builder stages):
#   python-venv.sh deps VENV LOCKFILE   venv with every package of requirements.lock, hash-checked
#   python-venv.sh wheel SRC OUTDIR     the project (pyproject.toml) as a wheel, no dependencies
# PyPI is reached with the CA bundle given as the BuildKit secret `pip-ca` (mounted at
# /run/secrets/pip-ca for that one RUN only; never in a layer). Without it, pip's own CAs apply.
set -eu
cert=/run/secrets/pip-ca
if [ -s "$cert" ]; then export PIP_CERT="$cert"; fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
cmd=${1:?usage: python-venv.sh deps VENV LOCKFILE | wheel SRC OUTDIR}
case "$cmd" in
  deps)
    venv=$2 lock=$3
    python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
      || { echo "python-venv.sh: Python 3.11 is required (pyproject.toml)" >&2; exit 1; }
    python3 -m venv "$venv"
    "$venv/bin/pip" install --require-hashes --no-compile -r "$lock"
    # byte-compile once here so the runtime images need no writable site-packages
    "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null || true
    ;;
  wheel)
    src=$2 out=$3
    python3 -m venv /tmp/wheel-venv
    /tmp/wheel-venv/bin/pip wheel --no-deps --wheel-dir "$out" "$src"
    ;;
  *) echo "python-venv.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
