#!/bin/sh
# Run inside image builds: the non-root user every image runs as (uid/gid 10001, as the
# Kubernetes manifests' runAsUser), with a home for tool state (~/.prefect, ~/.cache).
set -eu
groupadd --gid 10001 lakehouse
useradd --uid 10001 --gid 10001 --home-dir /home/lakehouse --create-home --shell /usr/sbin/nologin lakehouse
