# Shared helpers for the setup scripts: progress output, failure messages, paths.
# Sourced, never executed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../config/versions.env
source "$REPO_ROOT/config/versions.env"
# Caches live outside the repo so a fresh clone reuses what this machine already built.
# Same default as LAKEHOUSE_STACK_CACHE_DIR in lib/lakehouse/settings.py.
LAKEHOUSE_STACK_CACHE_DIR="${LAKEHOUSE_STACK_CACHE_DIR:-$HOME/.cache/lakehouse}"
export LAKEHOUSE_STACK_CACHE_DIR

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf '\033[1;31merror:\033[0m %s\n' "$1" >&2
  [ $# -ge 2 ] && printf '  fix: %s\n' "$2" >&2
  exit 1
}
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed" "$2"; }

# Run as root directly, else through sudo when available.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "root is needed to run: $*" "re-run as root or install sudo"; fi
}
