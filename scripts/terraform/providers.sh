#!/usr/bin/env bash
# `make setup-deploy`: the pinned Terraform binary and every pinned provider, offline.
#
# Terraform's registry is not reachable from this project's machines, so each provider
# pinned in config/versions.env (TF_PROVIDER_<NAME>_VERSION / _MODULE) is built from its Go
# module and installed into a filesystem mirror laid out as Terraform expects:
#   $LAKEHOUSE_STACK_CACHE_DIR/terraform/providers/registry.terraform.io/hashicorp/<name>/<version>/linux_amd64/
#     terraform-provider-<name>_v<version>
# Then it writes the CLI configuration that points Terraform at that mirror only
# ($LAKEHOUSE_STACK_CACHE_DIR/terraform/terraformrc; use it through TF_CLI_CONFIG_FILE).
# The terraform binary itself is the one on PATH when it is the pinned version, otherwise it
# is built from its Go module too. Everything is cached by version: a second run only checks.
# Last it writes infra/terraform/.terraform.lock.hcl from the mirror (machine-local, gitignored).
#
# Usage: scripts/terraform/providers.sh            build what is missing, write the CLI config
#        scripts/terraform/providers.sh --print-env print TERRAFORM=... and TF_CLI_CONFIG_FILE=...
source "$(dirname "$0")/../setup/common.sh"

tf_cache="$LAKEHOUSE_STACK_CACHE_DIR/terraform"
mirror="$tf_cache/providers"
cli_config="$tf_cache/terraformrc"
tf_bin="$tf_cache/bin/$TERRAFORM_VERSION/terraform"
platform="linux_amd64"

if [ "${1:-}" = "--print-env" ]; then
  printf 'TERRAFORM=%s\nTF_CLI_CONFIG_FILE=%s\n' "$tf_bin" "$cli_config"
  exit 0
fi

[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] \
  || die "the provider mirror is built for $platform only, this is $(uname -s)/$(uname -m)" \
         "add the platform to scripts/terraform/providers.sh (GOOS/GOARCH and the mirror path)"

# Modules that old provider releases list in their module graph but the Go module proxy no
# longer serves (the vanity host vbom.ml is gone). Only their go.mod is consulted to build
# the graph, no package of them is compiled, so an empty local module stands in for each.
UNSERVED_MODULES="vbom.ml/util"

# drop_missing_nested_modules DIR: a module zip leaves out nested modules (directories with
# their own go.mod), so a `replace M => ./dir` of the main module points nowhere. Terraform's
# own go.mod does this for its state backends azurerm, consul, cos, gcs, kubernetes, oss, pg
# and s3 (and internal/legacy, used by those only), which the proxy does not serve on their
# own. Drop them: the binary keeps the local, remote, cloud, http and inmem backends, which
# is what `make deploy` uses (local). The kubernetes provider's replaces into its own
# vendor/ (kustomize transformers it does not compile) go the same way.
drop_missing_nested_modules() {
  local dir="$1" mod path init="$1/internal/backend/init/init.go"
  while read -r mod path; do
    [ -d "$dir/$path" ] && continue
    info "leaving out $mod (its replacement $path is not in the module zip)"
    (cd "$dir" && go mod edit -dropreplace="$mod" -droprequire="$mod")
    if [ -f "$init" ] && grep -q "\"$mod\"" "$init"; then
      local alias
      alias="$(sed -n "s|^[[:space:]]*\([A-Za-z0-9_]*\) \"$mod\"\$|\1|p" "$init")"
      sed -i "\|\"$mod\"\$|d" "$init"
      [ -n "$alias" ] && sed -i "/return $alias\.New(/d" "$init"
    fi
  done < <(cd "$dir" && go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    new = r["New"]["Path"]
    if new.startswith("./") or new.startswith("../"):
        print(r["Old"]["Path"], new)')
}

# build_module MODULE VERSION OUTPUT [LDFLAGS]: build a Go module's main package at VERSION
# as the main module (so its own replace directives apply, which `go install m@v` refuses).
build_module() {
  local module="$1" version="$2" out="$3" ldflags="${4:-}" src work
  need_cmd go "apt-get install -y golang-go, or install Go >= 1.24 from the Go project"
  src="$(go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [ -n "$src" ] && [ -d "$src" ] \
    || die "could not download $module@$version from the Go module proxy" \
           "check GOPROXY (go env GOPROXY) and that the proxy serves this version: go list -m -versions $module"
  work="$(mktemp -d)"
  # The module cache is read-only; build in a writable copy. Module zips carry no vendored
  # packages (only vendor/modules.txt), so drop vendor/ and resolve through the proxy.
  cp -r "$src/." "$work/" && chmod -R u+w "$work" && rm -rf "$work/vendor"
  local stub
  for stub in $UNSERVED_MODULES; do
    if grep -q "$stub" "$work/go.sum" 2>/dev/null; then
      mkdir -p "$work/.stubs/$stub" && printf 'module %s\n' "$stub" >"$work/.stubs/$stub/go.mod"
      (cd "$work" && go mod edit -replace "$stub=./.stubs/$stub")
    fi
  done
  # A godebug setting that this Go toolchain has retired (Terraform 1.11 sets tlskyber=0,
  # which Go 1.26 no longer knows) stops go.mod from loading: drop such settings.
  local unknown tries=0
  while unknown="$(cd "$work" && { go list -m 2>&1 >/dev/null || true; } | sed -n 's/.*unknown godebug "\([^"]*\)".*/\1/p' | head -n1 || true)" \
        && [ -n "$unknown" ] && [ $((tries += 1)) -le 10 ]; do
    info "dropping godebug $unknown from $module's go.mod (unknown to $(go env GOVERSION))"
    (cd "$work" && go mod edit -dropgodebug="$unknown")
  done
  drop_missing_nested_modules "$work"
  mkdir -p "$(dirname "$out")"
  if ! (cd "$work" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -mod=mod -trimpath \
          -ldflags="$ldflags" -o "$out.tmp" .); then
    rm -rf "$work" "$out.tmp"
    die "building $module@$version failed" "see the compiler output above; go version: $(go version)"
  fi
  rm -rf "$work"
  mv "$out.tmp" "$out"
}

step "Terraform $TERRAFORM_VERSION and providers for offline use (cache: $tf_cache)"

# 1. The terraform binary, pinned.
# tf_version BINARY: "Terraform vX.Y.Z", the first line of its version output (no network).
tf_version() {
  local out
  out="$(CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$1" version 2>/dev/null || true)"
  printf '%s' "${out%%$'\n'*}"
}

if [ -x "$tf_bin" ] && [ "$(tf_version "$tf_bin")" = "Terraform v$TERRAFORM_VERSION" ]; then
  info "terraform: cached at $tf_bin"
else
  found="$(command -v terraform || true)"
  if [ -n "$found" ] && [ "$(tf_version "$found")" = "Terraform v$TERRAFORM_VERSION" ]; then
    mkdir -p "$(dirname "$tf_bin")" && ln -sfn "$found" "$tf_bin"
    info "terraform: using $found (v$TERRAFORM_VERSION)"
  else
    info "terraform: ${found:-none} on PATH is not v$TERRAFORM_VERSION; building it from $TERRAFORM_MODULE (once, several minutes)"
    start=$SECONDS
    # version.dev=no: a release build, which reports vX.Y.Z rather than vX.Y.Z-dev.
    build_module "$TERRAFORM_MODULE" "v$TERRAFORM_VERSION" "$tf_bin" "-X $TERRAFORM_MODULE/version.dev=no"
    info "terraform: built $tf_bin in $((SECONDS - start)) s"
  fi
fi

# 2. Each pinned provider: TF_PROVIDER_<NAME>_VERSION and TF_PROVIDER_<NAME>_MODULE.
providers=()
for var in $(compgen -v TF_PROVIDER_ | grep '_VERSION$' | sort); do
  name="${var#TF_PROVIDER_}"; name="${name%_VERSION}"
  providers+=("$name")
done
[ ${#providers[@]} -gt 0 ] || die "no TF_PROVIDER_<NAME>_VERSION in config/versions.env" "add the pinned providers there"

for upper in "${providers[@]}"; do
  name="$(tr '[:upper:]' '[:lower:]' <<<"$upper")"
  version_var="TF_PROVIDER_${upper}_VERSION"; module_var="TF_PROVIDER_${upper}_MODULE"
  version="${!version_var}"; module="${!module_var:-}"
  [ -n "$module" ] || die "$module_var is not set" "add $module_var=<Go module path> to config/versions.env"
  dest="$mirror/registry.terraform.io/hashicorp/$name/$version/$platform/terraform-provider-${name}_v$version"
  if [ -x "$dest" ]; then
    info "hashicorp/$name $version: cached"
    continue
  fi
  info "hashicorp/$name $version: building $module@v$version (once per machine)"
  start=$SECONDS
  build_module "$module" "v$version" "$dest"
  info "hashicorp/$name $version: built in $((SECONDS - start)) s -> $dest"
done

# 3. The CLI configuration: the mirror and nothing else (no registry, no direct downloads).
tmp_config="$(mktemp)"
cat >"$tmp_config" <<HCL
# Written by scripts/terraform/providers.sh: providers come only from the local
# filesystem mirror built from their Go modules; nothing is downloaded.
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["*/*/*"]
  }
}
disable_checkpoint = true
HCL
mkdir -p "$tf_cache"
if cmp -s "$tmp_config" "$cli_config"; then rm -f "$tmp_config"; else mv "$tmp_config" "$cli_config"; fi
info "CLI config: $cli_config (export TF_CLI_CONFIG_FILE=$cli_config)"

# 4. The dependency lock file of infra/terraform, from this mirror. Locally built binaries
# hash differently from the registry's (and from another machine's Go toolchain), so the
# lock is machine-local (gitignored) and rewritten from the mirror on every run; a stale
# lock after a rebuild would otherwise make `terraform init` refuse the mirror.
lock="$REPO_ROOT/infra/terraform/.terraform.lock.hcl"
rm -f "$lock"
TF_CLI_CONFIG_FILE="$cli_config" "$tf_bin" -chdir="$REPO_ROOT/infra/terraform" providers lock \
    -fs-mirror="$mirror" -platform="$platform" -no-color >/dev/null \
  || die "terraform providers lock from the mirror failed" "delete $mirror and re-run make setup-deploy"
info "lock file: $lock (from the mirror, linux_amd64)"
step "Terraform ready: $tf_bin"
