#!/usr/bin/env bash
# Installs the packages that scripts/package.sh made (target/dist/) the way users do, and runs the
# example handlers through the installed binary:
#   pip install WHEEL                   into a fresh venv: `ferric` on the venv's PATH
#   pip install --target DIR WHEEL      DIR/bin/ferric (what a Dockerfile does into /var/task)
#   npm install TARBALL                 node_modules/.bin/ferric, run with `npx ferric`
# Nothing is downloaded: pip runs with --no-index, npx with --no (no install).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

shopt -s nullglob
wheels=(target/dist/ferric_lambda-*.whl)
tarballs=(target/dist/ferric-lambda-*.tgz)
shopt -u nullglob
if [ "${#wheels[@]}" -ne 1 ] || [ "${#tarballs[@]}" -ne 1 ]; then
  echo "test-packages: expected one wheel and one npm tarball in target/dist (run scripts/package.sh)" >&2
  exit 1
fi
wheel="$repo/${wheels[0]}"
tarball="$repo/${tarballs[0]}"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# check_answer LABEL FILE NAME: FILE is the handler's API Gateway answer greeting NAME.
check_answer() {
  python3 - "$@" <<'EOF'
import json, sys
label, path, name = sys.argv[1:]
text = open(path).read()
try:
    outer = json.loads(text)
    inner = json.loads(outer["body"])
    ok = outer["statusCode"] == 200 and inner["message"] == f"Hello, {name}!"
except (ValueError, KeyError, TypeError):
    ok = False
if not ok:
    sys.exit(f"test-packages: {label}: unexpected answer: {text}")
print(f"test-packages: {label}: {inner['message']}")
EOF
}

echo "== packages: pip install ${wheel##*/} (fresh venv)"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"
[ -x "$work/venv/bin/ferric" ] || { echo "test-packages: no ferric in the venv's bin/" >&2; exit 1; }
# Activated venv: `ferric` is found on PATH, and so is the venv's python3 (FERRIC_PYTHON's default).
got=$(PATH="$work/venv/bin:$PATH" ferric --version)
[ "$got" = "ferric $version" ] || { echo "test-packages: ferric --version: $got" >&2; exit 1; }
PATH="$work/venv/bin:$PATH" ferric invoke --event examples/events/apigw-rest-v1.json \
  examples/python/app/handler.handler >"$work/venv.out"
check_answer "venv ferric invoke" "$work/venv.out" Ferris
"$work/venv/bin/pip" uninstall --quiet --yes ferric-lambda
[ ! -e "$work/venv/bin/ferric" ] || { echo "test-packages: pip uninstall left bin/ferric" >&2; exit 1; }

echo "== packages: pip install --target (a task root)"
mkdir -p "$work/task"
cp -R examples/python/app/. "$work/task/"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --no-index --target "$work/task" "$wheel"
[ -x "$work/task/bin/ferric" ] || { echo "test-packages: --target gave no bin/ferric" >&2; exit 1; }
(cd "$work/task" && ./bin/ferric invoke --event "$repo/examples/events/apigw-rest-v1.json" handler.handler) \
  >"$work/target.out"
check_answer "--target bin/ferric invoke" "$work/target.out" Ferris

echo "== packages: npm install ${tarball##*/}"
mkdir -p "$work/node"
cp -R examples/node/. "$work/node/"
(cd "$work/node" && npm install --no-audit --no-fund --silent "$tarball")
[ -L "$work/node/node_modules/.bin/ferric" ] || { echo "test-packages: no node_modules/.bin/ferric" >&2; exit 1; }
# The .bin link points at the binary itself: an ENTRYPOINT needs no Node.js wrapper.
[ "$(head -c 4 "$work/node/node_modules/.bin/ferric" | tail -c 3)" = ELF ] \
  || { echo "test-packages: node_modules/.bin/ferric is not the binary" >&2; exit 1; }
(cd "$work/node" && npx --no ferric invoke --event "$repo/examples/events/apigw-rest-v1.json" index.handler) \
  >"$work/npx.out"
check_answer "npx ferric invoke" "$work/npx.out" Ferris
