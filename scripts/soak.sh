#!/usr/bin/env bash
# The long-run check (issue 10): ferric's and its worker's memory and open fds over a million
# invocations beside awslambdaric, 50,000-invocation runs, 100,000 through the emulator's invoke
# endpoint, faults under 4 lanes, SIGTERM with invocations in flight. Writes benches/SOAK.md.
#
#   scripts/soak.sh                  everything at full counts (about 35 minutes on 2 noisy cores)
#   scripts/soak.sh --smoke          a few thousand invocations in all (seconds, once built)
#   scripts/soak.sh --parts long --invocations 100000   one part, shorter (target/soak/partial.md)
#   scripts/soak.sh --help           the harness's options (they all pass through)
#
# Builds release ferric first (the binary measured is target/release/ferric); awslambdaric is
# installed into .cache/py-venv by the harness when missing (python3-venv needed).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null 2>&1; then
  echo "soak.sh: python3 is needed" >&2
  exit 1
fi

echo "soak.sh: cargo build --release --bin ferric" >&2
cargo build --release --bin ferric
exec cargo bench --bench soak -- --no-build "$@"
