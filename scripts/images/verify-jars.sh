#!/bin/sh
# Run inside image builds: the jars in DIR are exactly those of the checksum lock LOCK
# (config/jvm/<bundle>/jars.sha256, the same lock scripts/setup/jvm.sh checks), and REQUIRED
# jar names are present. Usage: verify-jars.sh DIR LOCK [REQUIRED.jar...]
set -eu
dir=$1 lock=$2
shift 2
cd "$dir"
sha256sum --check --strict --quiet "$lock" \
  || { echo "verify-jars: $dir differs from $lock; re-run make images (it re-stages the jars)" >&2; exit 1; }
have=$(ls -- *.jar | sort) want=$(awk '{print $2}' "$lock" | sort)
[ "$have" = "$want" ] || { echo "verify-jars: $dir holds jars that are not in $lock" >&2; exit 1; }
for jar in "$@"; do
  [ -f "$jar" ] || { echo "verify-jars: $jar missing from $dir (config/versions.env and $lock disagree)" >&2; exit 1; }
done
echo "verify-jars: $(echo "$want" | wc -l) jars match $lock"
