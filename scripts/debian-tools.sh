#!/usr/bin/env bash
# Real third-party servers and clients some tests and benchmarks use (nginx,
# squid, Prometheus/promtool, wrk, h2load, iproute2, etcd/etcdctl, Chromium for the
# console's browser test, MariaDB and PostgreSQL for the DataMesh's database
# sources), from Debian's packages.
# Idempotent: installs only what is missing. Needs root and apt; without them it
# says so and the tests that need a tool skip with a message naming it.
set -euo pipefail
say() { echo "setup: $*" >&2; }
# binary:package
wanted=(nginx:nginx squid:squid prometheus:prometheus promtool:prometheus wrk:wrk h2load:nghttp2-client ip:iproute2 nft:nftables etcd:etcd-server etcdctl:etcd-client chromium:chromium mariadbd:mariadb-server mariadb-install-db:mariadb-server pg_ctlcluster:postgresql)
missing=()
for pair in "${wanted[@]}"; do
  bin="${pair%%:*}"; pkg="${pair#*:}"
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "not root or no apt-get: not installing ${missing[*]} (tests needing them skip)"
  exit 0
fi
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
say "installing Debian packages: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packaged services must not start themselves: tests start their own instances.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1; fi
apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed; trying the cached lists"
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null || say "apt-get install failed for ${pkgs[*]} (tests needing them skip)"
[ "$created_policy" -eq 1 ] && rm -f "$policy"
# Stop anything a package started anyway (the tests use their own ports).
for svc in nginx squid prometheus prometheus-node-exporter etcd; do
  command -v systemctl >/dev/null 2>&1 && systemctl stop "$svc" >/dev/null 2>&1 || true
  pkill -x "$svc" >/dev/null 2>&1 || true
done
for svc in mariadb postgresql; do
  command -v systemctl >/dev/null 2>&1 && systemctl stop "$svc" >/dev/null 2>&1 || true
done
exit 0
