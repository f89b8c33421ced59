#!/usr/bin/env bash
# Regenerate BENCHMARKS.md: ferric against awslambdaric, aws-lambda-ric and native Rust, plus
# ferric with Ruby (no peer here) and with a native echo worker, and the floors (bare
# interpreters' start-up and idle memory).
#
#   scripts/bench.sh                  full run, writes BENCHMARKS.md: 7 runs, each measuring every
#                                     client in both modes (about 6 minutes here, plus a few
#                                     minutes the first time to install the peers)
#   scripts/bench.sh --pin            the pinned mode only (= --modes pinned; --modes unpinned: the
#                                     other): pinned = harness on CPU 0, each client's process tree
#                                     on CPU 1, as a Lambda function of 128-1,769 MB (one vCPU);
#                                     unpinned = as a function of more than 1,769 MB (2+ vCPUs)
#   scripts/bench.sh --smoke          one short run in both modes (what CI runs, under a minute)
#   scripts/bench.sh --help           the harness's options (they all pass through)
#
# Works on a fresh Debian machine: it installs the system packages the peers need (the
# toolchain aws-lambda-ric's native client compiles with, python3-venv, Node.js and npm, Ruby)
# when they are missing, then `cargo bench --bench runtimes` installs the peers themselves if
# they are not there yet: awslambdaric into .cache/py-venv, aws-lambda-ric into
# .cache/node-ric-bench (with npm_config_nodedir=/usr), the lambda_runtime echo and the native
# ferric worker into target/peers. Logs of those installs: target/bench/install.log. The Ruby
# peer (the aws_lambda_ric gem) is not installed: RubyGems is unreachable here.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
want() { # want COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
want cmake cmake
want autoconf autoconf
want automake automake
want libtoolize libtool
want g++ g++
want make make
want python3 python3
want node nodejs
want npm npm
want ruby ruby
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bench.sh: please install: ${missing[*]}" >&2
    exit 1
  fi
  echo "bench.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >&2
fi

export npm_config_nodedir="${npm_config_nodedir:-/usr}"
exec cargo bench --bench runtimes -- "$@"
