#!/bin/sh
# Run inside image builds (bind-mounted by the Dockerfiles): install Debian packages for the
# given profiles, then create the image's non-root user. Usage:
#   os-packages.sh python          Python 3.11 runtime (Debian's python3), tini, CA certificates
#   os-packages.sh python-build    + python3-venv (builder stages only)
#   os-packages.sh java            OpenJDK $JAVA_MAJOR JRE (headless), tini, procps; /opt/java -> its home
# JAVA_MAJOR comes from config/versions.env as a build arg.
set -eu
pkgs="ca-certificates tini"
java=false
for profile in "$@"; do
  case "$profile" in
    python) pkgs="$pkgs python3" ;;
    python-build) pkgs="$pkgs python3 python3-venv" ;;
    java)
      : "${JAVA_MAJOR:?JAVA_MAJOR build arg is not set (scripts/images/build.sh passes config/versions.env)}"
      pkgs="$pkgs openjdk-${JAVA_MAJOR}-jre-headless procps"
      java=true
      # the JRE's postinst registers man pages with update-alternatives; slim bases have no man dirs
      mkdir -p /usr/share/man/man1
      ;;
    *) echo "os-packages.sh: unknown profile '$profile'" >&2; exit 2 ;;
  esac
done
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
if $java; then
  ln -sfn "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java
  /opt/java/bin/java -version 2>&1 | head -1
fi
