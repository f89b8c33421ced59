#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the peers the tests compare against (idempotent),
# then the Rust unit + integration tests (ferric's and the fake Runtime API's, fake-api/) and the
# shims' own test suites.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-peers.sh

echo "== cargo test"
cargo test --workspace --no-fail-fast --lib --bins --tests 2>&1

echo "== Python shim tests"
.cache/py-venv/bin/python -m unittest discover -s src/shims/python/tests -p 'test_*.py'

echo "== Ruby shim tests"
ruby src/shims/ruby/test/run.rb

if [ -d src/shims/node/test ]; then
  echo "== Node shim tests"
  node --test src/shims/node/test/*.test.js
fi
