#!/usr/bin/env bash
# The streaming benchmark (issue 11): 10 MiB streamed responses through ferric + Node,
# aws-lambda-ric 4.0.2 and ferric + Python, and one 100 MiB stream per client per run; time to
# first byte, time to last byte, MiB/s, RSS peaks. Writes the <!-- streaming:begin --> ...
# <!-- streaming:end --> block of BENCHMARKS.md (the rest of the file is kept byte for byte).
#
#   scripts/streaming-bench.sh            10 runs × 5 streams of 10 MiB + 1 of 100 MiB per client
#   scripts/streaming-bench.sh --smoke    1 run, 1 MiB (target/streaming/smoke.md; seconds)
#   scripts/streaming-bench.sh --help     the harness's options (they all pass through)
#
# The peers come from scripts/setup-peers.sh (aws-lambda-ric 4.0.2 in .cache/node-ric4, the
# venv .cache/py-venv); `cargo bench` builds the measured ferric (target/release/ferric).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in node python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "streaming-bench.sh: $tool is needed" >&2
    exit 1
  fi
done
if [ ! -f .cache/node-ric4/node_modules/aws-lambda-ric/package.json ] &&
  [ ! -f .cache/node-ric-bench/node_modules/aws-lambda-ric/package.json ]; then
  echo "streaming-bench.sh: aws-lambda-ric 4.0.2 is missing: run scripts/setup-peers.sh first" >&2
  exit 1
fi
exec cargo bench --bench streaming -- "$@"
