# The platform's verbs. `make` alone lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

include config/versions.env

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK_ENV := $(or $(LAKEHOUSE_STACK_DIR),.local)/stack.env
# Workload knobs: `make load RATE=200 DURATION=60`.
RATE ?= 50
DURATION ?= 30
OPS ?= 0
# Benchmark size: `make bench BENCH_ROWS=50000`; the connector's producer compression:
# `make bench BENCH_COMPRESSION=lz4` (empty: the settings' default).
BENCH_ROWS ?= 200000
BENCH_COMPRESSION ?=
# Some phases only: `make bench BENCH_PHASES=multi-table` (default: all of bench/run.py's PHASES);
# the large-table phase's size: `make bench BENCH_LARGE_ROWS=500000` (default 5,000,000).
BENCH_PHASES ?=
PYTEST_ARGS ?=

# Run a command with the local stack's environment (fails with the fix when it is not up).
with_stack = @test -f $(STACK_ENV) || { echo "error: $(STACK_ENV) not found: the local stack is not up; run: make up" >&2; exit 2; }; \
	set -a; . $(STACK_ENV); set +a;

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: setup
setup: ## Install everything the local stack needs (idempotent)
	@PYTHON=$(PYTHON) scripts/setup/all.sh

.PHONY: lock
lock: ## Recompile requirements.lock from requirements.in (needs uv)
	uv pip compile requirements.in --python-version 3.11 --generate-hashes -o requirements.lock

.PHONY: up
up: setup ## Start the local stack (PostgreSQL, Kafka, Connect, MinIO, Prefect, serving API)
	@$(PY) -m stackctl.cli up

.PHONY: down
down: ## Stop the local stack (data kept)
	@$(PY) -m stackctl.cli down

.PHONY: status
status: ## Show the health of each local component
	@$(PY) -m stackctl.cli status

.PHONY: clean
clean: ## Stop the local stack and delete its data
	@$(PY) -m stackctl.cli clean

.PHONY: connectors
connectors: ## Apply the Debezium connector rendered from config/tables.yaml
	$(with_stack) $(VENV)/bin/lakehouse-connectors apply

.PHONY: resnapshot
resnapshot: ## Re-read one table from PostgreSQL and follow the snapshot to its end: make resnapshot TABLE=shop.orders
	@test -n "$(TABLE)" || { echo "error: name the table: make resnapshot TABLE=<schema.table>" >&2; exit 2; }
	$(with_stack) $(VENV)/bin/lakehouse-connectors resnapshot --table $(TABLE)

.PHONY: load
load: ## Run the shop workload (RATE ops/s, DURATION s, or OPS operations)
	$(with_stack) $(VENV)/bin/lakehouse-load --rate $(RATE) --duration $(DURATION) --ops $(OPS)

.PHONY: merge
merge: ## Run one cdc-merge batch for every table (Spark local[*])
	$(with_stack) $(VENV)/bin/lakehouse-merge once

.PHONY: stream
stream: ## Run cdc-merge continuously (LAKEHOUSE_MERGE_TRIGGER_INTERVAL_S between batches)
	$(with_stack) $(VENV)/bin/lakehouse-merge stream

.PHONY: report
report: ## Show what arrived where: source rows, silver rows, bronze events, dead letters
	$(with_stack) $(PY) -m stackctl.report

.PHONY: demo
demo: up ## Set up, start the stack, load demo data, run the pipeline through Prefect, query the API
	@$(MAKE) --no-print-directory connectors
	@echo "==> Loading demo data (2000 operations)"
	@$(MAKE) --no-print-directory load RATE=0 DURATION=0 OPS=2000
	@echo "==> Running the pipeline (cdc-merge -> quality -> gold-and-serve) through Prefect"
	$(with_stack) echo "    watch it in the Prefect UI: $${PREFECT_API_URL%/api}"
	@$(MAKE) --no-print-directory pipeline
	@$(MAKE) --no-print-directory report
	@echo "==> The serving API answers from the published gold tables"
	$(with_stack) $(PY) -m stackctl.api_tour

.PHONY: pipeline
pipeline: ## Run the pipeline deployment on the local Prefect worker and wait for it
	$(with_stack) $(VENV)/bin/prefect deployment run pipeline/local --watch

.PHONY: maintain
maintain: ## Run the lake-maintenance deployment (compaction, snapshot expiry, orphan files)
	$(with_stack) $(VENV)/bin/prefect deployment run lake-maintenance/local --watch

.PHONY: test
test: setup ## Unit and integration tests against a real local stack started by the tests
	$(PY) -m pytest -m "unit or integration or static" $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: setup ## Unit tests only (milliseconds, no services)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

.PHONY: bench
bench: setup ## Benchmark: raw Debezium->Kafka rate vs PostgreSQL->Iceberg rate, latency (BENCH_ROWS)
	$(PY) -m bench.run --rows $(BENCH_ROWS) $(if $(BENCH_COMPRESSION),--compression $(BENCH_COMPRESSION)) $(if $(BENCH_PHASES),--phases $(BENCH_PHASES)) $(if $(BENCH_LARGE_ROWS),--large-rows $(BENCH_LARGE_ROWS))

# `make soak SEED=42 DURATION=3600`: rounds of random workload and faults, each checked (tools/soak).
SEED ?=
.PHONY: soak
soak: DURATION = 600
soak: setup ## Randomized fault-injecting soak of a private stack (SEED, DURATION seconds); JSON in bench/results/
	$(PY) -m soak.cli --duration $(DURATION) $(if $(SEED),--seed $(SEED))

.PHONY: lint
lint: setup ## ruff
	$(VENV)/bin/ruff check lib tools services flows tests bench

# ---- Container images (scripts/images/, docs/images.md) -------------------------------------
# `make images ONLY="flows serving-api"` builds some; BASE_IMAGE=debian:$(DEBIAN_RELEASE)-slim
# where a registry is reachable.
ONLY ?=

.PHONY: docker-up
docker-up: ## Install Debian's docker.io if missing and start dockerd (idempotent)
	@scripts/images/docker-up.sh

.PHONY: images-base
images-base: docker-up ## Build the local Debian base image (debootstrap + docker import; cached)
	@scripts/images/base.sh

.PHONY: images
images: docker-up images-base ## Build and smoke-run every image: ours (lakehouse/<name>:IMAGE_TAG) and the local postgres/kafka/minio (ONLY="a b": some)
	@scripts/images/build.sh $(ONLY)

.PHONY: images-third-party
images-third-party: docker-up images-base ## Build and run only the local postgres/kafka/minio builds the kind overlay uses (ONLY="kafka": some)
	@scripts/images/third-party.sh $(ONLY)

# ---- Local kind cluster, built offline (scripts/kind/, docs/kind.md) ----------------------
# kind, Kubernetes, etcd, CoreDNS and crictl from their Go modules, the node image from Debian;
# all cached under ~/.cache/lakehouse/kind. `make kind-up && make deploy && make e2e`.
KIND_CLUSTER_NAME ?= lakehouse
export KIND_CLUSTER_NAME

.PHONY: kind-up
kind-up: docker-up images-base ## Build (cached) and start the local kind cluster; load the platform images
	@scripts/kind/up.sh

.PHONY: kind-down
kind-down: ## Delete the local kind cluster (built binaries and images stay cached)
	@scripts/kind/down.sh

.PHONY: kind-node-image
kind-node-image: docker-up images-base ## Build only kind's binaries and the node image (cached)
	@scripts/kind/binaries.sh all
	@scripts/kind/node-image.sh

# `make e2e KEEP=1` keeps the cluster (and the deployment) for a look afterwards.
KEEP ?= 0
.PHONY: e2e
e2e: setup ## End-to-end suite on the kind cluster: deploy, pipeline through Prefect, faults (KEEP=1; OVERLAY=kind-tls: TLS)
	LAKEHOUSE_E2E_KEEP_CLUSTER=$(KEEP) LAKEHOUSE_E2E_OVERLAY=$(OVERLAY) $(PY) -m pytest -m e2e tests/e2e -v -s --timeout 7200 $(PYTEST_ARGS)

# ---- Deploy onto Kubernetes with Terraform (infra/terraform, docs/terraform.md) ----
# `make deploy KUBE_CONTEXT=kind-lakehouse OVERLAY=kind`; extra -var flags through TF_VARS.
KUBE_CONTEXT ?= kind-lakehouse
OVERLAY ?= kind
KUBECONFIG_PATH ?= $(or $(firstword $(subst :, ,$(KUBECONFIG))),$(HOME)/.kube/config)
TF_VARS ?=
TF_DIR := infra/terraform
TF_CACHE := $(or $(LAKEHOUSE_STACK_CACHE_DIR),$(HOME)/.cache/lakehouse)/terraform
# State per kube context, outside git (it holds the generated passwords).
TF_STATE ?= $(CURDIR)/$(TF_DIR)/.state/$(KUBE_CONTEXT).tfstate
# Every terraform call uses the pinned binary and the offline provider mirror, and the kubectl
# that `make kind-up` built (same minor as the cluster) when there is one.
KIND_K8S_BIN := $(or $(LAKEHOUSE_STACK_CACHE_DIR),$(HOME)/.cache/lakehouse)/kind/bin/kubernetes-$(KUBERNETES_VERSION)
TF_ENV := PATH="$(KIND_K8S_BIN):$$PATH" TF_CLI_CONFIG_FILE=$(TF_CACHE)/terraformrc TF_IN_AUTOMATION=1
TF_BIN := $(TF_CACHE)/bin/$(TERRAFORM_VERSION)/terraform
TF := $(TF_ENV) $(TF_BIN)
TF_DEPLOY_VARS = -var 'kube_context=$(KUBE_CONTEXT)' -var 'overlay=$(OVERLAY)' -var 'kubeconfig_path=$(KUBECONFIG_PATH)' $(TF_VARS)
# The guard rails (scripts/terraform/deploy.sh): the kind overlay only on a kind cluster; on any
# other context the plan is shown and applied after a "yes", or with AUTO_APPROVE=1.
AUTO_APPROVE ?= 0
TF_GUARDED = $(TF_ENV) TERRAFORM=$(TF_BIN) TF_DIR=$(TF_DIR) KUBE_CONTEXT=$(KUBE_CONTEXT) \
	KUBECONFIG_PATH=$(KUBECONFIG_PATH) OVERLAY=$(OVERLAY) AUTO_APPROVE=$(AUTO_APPROVE) scripts/terraform/deploy.sh

.PHONY: setup-deploy
setup-deploy: ## Terraform and its providers for offline use (built from Go modules, cached)
	@scripts/terraform/providers.sh

.PHONY: tf-validate
tf-validate: setup-deploy ## terraform init (offline mirror) + validate + fmt -check on infra/terraform
	@$(TF) -chdir=$(TF_DIR) init -backend=false -input=false -lockfile=readonly -no-color >/dev/null
	$(TF) -chdir=$(TF_DIR) validate
	$(TF) fmt -check -recursive $(TF_DIR)

.PHONY: deploy
deploy: setup-deploy ## Deploy onto KUBE_CONTEXT with overlay OVERLAY (kind-lakehouse / kind); plan + "yes" off kind, or AUTO_APPROVE=1
	@mkdir -p $(dir $(TF_STATE))
	$(TF) -chdir=$(TF_DIR) init -input=false -reconfigure -lockfile=readonly -backend-config='path=$(TF_STATE)'
	@$(TF_GUARDED) apply $(TF_DEPLOY_VARS)

.PHONY: destroy
destroy: setup-deploy ## Tear down what `make deploy` created on KUBE_CONTEXT (data volumes included)
	$(TF) -chdir=$(TF_DIR) init -input=false -reconfigure -lockfile=readonly -backend-config='path=$(TF_STATE)'
	@$(TF_GUARDED) destroy $(TF_DEPLOY_VARS)
