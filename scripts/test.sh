#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the peers the tests compare against (idempotent),
# then the Rust unit + integration tests (ferric's and the fake Runtime API's, fake-api/), the
# shims' own test suites, the packages users install (wheel, npm tarball: scripts/package.sh and
# scripts/test-packages.sh) and, when podman is installed or FERRIC_REQUIRE_CONTAINERS=1 (CI), the
# container images built and run for real (scripts/containers.sh, which installs podman as root).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-peers.sh

echo "== cargo test"
cargo test --workspace --no-fail-fast --lib --bins --tests 2>&1

# The shims' differential tests drive the shared fake Runtime API's binary.
cargo build -p ferric-fake-api

echo "== Python shim tests"
.cache/py-venv/bin/python -m unittest discover -s src/shims/python/tests -p 'test_*.py'

echo "== Ruby shim tests"
ruby src/shims/ruby/test/run.rb

if [ -d src/shims/node/test ]; then
  echo "== Node shim tests"
  node --test --test-concurrency=4 src/shims/node/test/*.test.js
fi

# The container tests build the packages themselves (while their base images are made).
if command -v podman >/dev/null 2>&1 || [ "${FERRIC_REQUIRE_CONTAINERS:-}" = 1 ]; then
  scripts/containers.sh
else
  echo "== containers: skipped: podman is not installed (scripts/containers.sh installs it as root on Debian)"
  scripts/package.sh
fi
scripts/test-packages.sh
