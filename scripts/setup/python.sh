#!/usr/bin/env bash
# The project virtualenv .venv with the locked Python packages (hash-checked).
# A stamp of the lock's hash makes a second run a no-op.
source "$(dirname "$0")/common.sh"

venv="$REPO_ROOT/.venv"
py=${PYTHON:-python3}
need_cmd "$py" "install Python 3.11 (apt-get install -y python3 python3-venv)"
"$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || die "Python 3.11 is required, found $("$py" --version 2>&1)" "install python3.11 and run: make setup PYTHON=python3.11"

stamp="$venv/.lock-$(cat "$REPO_ROOT/requirements.lock" "$REPO_ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  info "python: .venv is up to date with requirements.lock"
  exit 0
fi
step "Creating .venv and installing requirements.lock (pyspark builds from its sdist once; ~2 min)"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade "pip==25.3"
# --no-deps: the lock is complete, so the resolver (whose extras handling differs between pip
# versions) has nothing to decide.
"$venv/bin/python" -m pip install -q --require-hashes --no-deps -r "$REPO_ROOT/requirements.lock"
# The project's own packages, editable, without re-resolving dependencies.
"$venv/bin/python" -m pip install -q --no-deps -e "$REPO_ROOT"
rm -f "$venv"/.lock-* && touch "$stamp"
info "python: .venv ready ($("$venv/bin/python" --version))"
