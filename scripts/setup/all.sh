#!/usr/bin/env bash
# `make setup`: everything the local stack needs, idempotent, with progress output.
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"
step "Setting up the local lakehouse stack (cache: $LAKEHOUSE_STACK_CACHE_DIR)"
"$here/system.sh"
"$here/python.sh"
"$here/jvm.sh"
"$here/minio.sh"
"$here/kubectl.sh"
step "Setup complete"
