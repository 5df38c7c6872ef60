#!/usr/bin/env bash
# `npm test`: type-check, then unit, golden and end-to-end tests (real Envoy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/node.sh node_modules/typescript/bin/tsc -p .
bash scripts/node.sh node_modules/typescript/bin/tsc -p console # the web console (DOM types)
echo "typecheck: ok"
# Extra arguments (e.g. --test-name-pattern=...) go before the files.
exec bash scripts/node.sh --test --test-reporter=spec --test-concurrency=2 --test-timeout=600000 "$@" \
  'test/unit/*.test.ts' 'test/golden/*.test.ts' 'test/xds/*.test.ts' 'test/e2e/*.test.ts'
