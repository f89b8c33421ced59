#!/usr/bin/env bash
# The container images, built and run with a real engine: podman (with runc), as measured in
# CONTAINERS.md. Every step must succeed; a missing engine is installed (root + apt-get) or is a
# failure, never a skip.
#
#   images built         Dockerfile.python, Dockerfile.node, Dockerfile.dist,
#                        tests/containers/from-dist.Dockerfile (COPY --from the dist image),
#                        examples/workshop/Dockerfile (the seed, migrated: ferric from the wheel),
#                        examples/workshop/Dockerfile.awslambdaric (the seed itself, for sizes)
#   each function image  run, invoked twice with `curl -d` through the mapped port (the RIE
#                        invoke endpoint on 8080), answer checked, stopped with SIGTERM
#                        (`podman stop`), exit status 0 checked
#
# The Rust build stage is not run: `--build-context build=target/dist/context` replaces the stage
# named `build` with the static binary that scripts/package.sh builds on the host (the same one
# the wheel and the npm package carry). Every final-stage step runs for real (COPY, ENV, WORKDIR,
# USER, and the RUN steps: pip install, npm install, ferric prepare, compileall).
#
# Base images: no registry is reachable from the machines this runs on, so the Dockerfiles' bases
# are stand-ins made from Debian bookworm packages (mmdebstrap) and imported under the real names
# (docker.io/library/python:3.11-slim, python:3.9, node:18-slim); builds use --pull=never and
# the build arguments PYTHON_VERSION=3.11 / NODE_VERSION=18 (bookworm's versions). They are NOT
# the official images: Debian's python3 lives in /usr/bin (linked from /usr/local/bin here, as
# the official image has it), the "python:3.9" stand-in is Python 3.11, and npm comes from the
# npm registry's tarball as in the official node image. The Dockerfiles keep the real names as
# their defaults; the stand-ins are a detail of this test.
#
# Cached in $FERRIC_SHIP_CACHE (default .cache/ship): the stand-ins' tarballs (keyed by their
# recipe), the npm tarball, maturin. A second run re-imports nothing that is already in podman's
# storage and rebuilds images from podman's layer cache.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

SHIP_CACHE=${FERRIC_SHIP_CACHE:-.cache/ship}
mkdir -p "$SHIP_CACHE"
SHIP_CACHE=$(realpath "$SHIP_CACHE")
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
# The name Dockerfile.dist's image is to be published under (README, tests/containers/).
DIST_IMAGE=ghcr.io/ferric-lambda/ferric:$version
NPM_VERSION=10.8.2   # npm for the node:18 stand-in (Debian's npm is 400 packages)
STANDIN_RECIPE=1     # bump to rebuild the stand-ins' tarballs
T=localhost/ferric-test
run_id=$$

fail() { echo "containers: FAIL: $*" >&2; exit 1; }
step() { echo "== containers: $*"; }

# ---------------------------------------------------------------------------------------------
# The engine

step "engine"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v mmdebstrap >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    fail "podman, runc and mmdebstrap are needed: apt-get install podman buildah runc netavark aardvark-dns iptables mmdebstrap"
  fi
  echo "containers: installing podman, runc, mmdebstrap (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    podman buildah runc netavark aardvark-dns iptables mmdebstrap >/dev/null
fi
# Our own containers.conf (nothing under /etc changes): default ulimits within this sandbox's hard
# limits (podman's defaults need CAP_SYS_RESOURCE), and runc (crun refuses hybrid cgroups).
export CONTAINERS_CONF="$SHIP_CACHE/containers.conf"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
podman --version

started=()
decoys=()
work=$(mktemp -d)
background=()
cleanup() {
  for pid in "${background[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  for c in "${started[@]}"; do podman rm -f "$c" >/dev/null 2>&1 || true; done
  remove_decoys
  rm -rf "$work"
}
remove_decoys() {
  for d in "${decoys[@]}"; do
    rm -f "$d"
    rmdir "$(dirname "$d")" 2>/dev/null || true
  done
  decoys=()
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Stand-in base images (in the background, while the binary builds)

# standin NAME PACKAGES HOOK...: $SHIP_CACHE/standin-NAME-HASH.tar from bookworm packages.
standin_tar() {
  local name=$1 packages=$2
  shift 2
  local hash
  hash=$(printf '%s\n' "$STANDIN_RECIPE" "$packages" "$@" | sha256sum | cut -c1-12)
  local tar="$SHIP_CACHE/standin-$name-$hash.tar"
  echo "$tar"
  [ -s "$tar" ] && return 0
  local hooks=()
  for h in "$@"; do hooks+=(--customize-hook="$h"); done
  rm -f "$SHIP_CACHE/standin-$name-"*.tar
  mmdebstrap --quiet --variant=minbase --format=tar \
    --aptopt='APT::Install-Recommends "false"' --dpkgopt=force-unsafe-io \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --include="$packages" "${hooks[@]}" bookworm "$tar.part" >&2
  mv "$tar.part" "$tar"
}

# The hooks run under mmdebstrap's shell, with $1 the new root (hence the single quotes).
# shellcheck disable=SC2016
python_tar() {
  # As the official image: python, python3, pip in /usr/local/bin, and no EXTERNALLY-MANAGED.
  standin_tar python python3,python3-pip,python-is-python3,ca-certificates \
    'for p in python python3; do ln -s /usr/bin/python3 "$1/usr/local/bin/$p"; done' \
    'for p in pip pip3; do ln -s /usr/bin/pip3 "$1/usr/local/bin/$p"; done' \
    'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED'
}

# shellcheck disable=SC2016
node_tar() {
  local npm_tgz="$SHIP_CACHE/npm-$NPM_VERSION.tgz"
  [ -s "$npm_tgz" ] || (cd "$SHIP_CACHE" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  # As the official image: node, npm, npx in /usr/local/bin and a `node` user with uid 1000.
  standin_tar node nodejs,ca-certificates \
    "mkdir -p \"\$1/usr/local/lib/node_modules/npm\" && tar -xzf '$npm_tgz' --no-same-owner -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1" \
    'ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"; ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"; ln -s /usr/bin/node "$1/usr/local/bin/node"' \
    'echo "node:x:1000:1000::/home/node:/bin/sh" >>"$1/etc/passwd"; echo "node:x:1000:" >>"$1/etc/group"; echo "node:*:19000:0:99999:7:::" >>"$1/etc/shadow"; mkdir -p "$1/home/node"; chown 1000:1000 "$1/home/node"'
}

step "stand-in base images (mmdebstrap, in the background) and the packages (scripts/package.sh)"
python_tar >"$work/python.tar.path" 2>"$work/python.log" &
python_pid=$!
node_tar >"$work/node.tar.path" 2>"$work/node.log" &
node_pid=$!
background=("$python_pid" "$node_pid")

scripts/package.sh

wait "$python_pid" || { cat "$work/python.log" >&2; fail "the python stand-in (mmdebstrap)"; }
wait "$node_pid" || { cat "$work/node.log" >&2; fail "the node stand-in (mmdebstrap)"; }
background=()

standin_label() { podman image inspect --format '{{index .Labels "org.ferric.standin"}}' "$1" 2>/dev/null; }

# import TAR CMD NAME...: the tarball as image NAME (and the other names), unless already there.
# A real image under one of those names (pulled by someone) is never replaced.
import() {
  local tar=$1 cmd=$2 name=$3
  shift 3
  local id=${tar##*/} n label
  for n in "$name" "$@"; do
    label=$(standin_label "$n") || continue
    case "$label" in
      "" | "<no value>") fail "$n in podman's storage is not one of this script's stand-ins; remove it (podman rmi $n) or use another storage (CONTAINERS_STORAGE_CONF)" ;;
    esac
  done
  if [ "$(standin_label "$name")" != "$id" ]; then
    podman import --quiet \
      --change "LABEL org.ferric.standin=$id" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change "CMD [\"$cmd\"]" \
      "$tar" "$name" >/dev/null
  fi
  for n in "$@"; do podman tag "$name" "$n"; done
}
import "$(cat "$work/python.tar.path")" python3 docker.io/library/python:3.11-slim docker.io/library/python:3.9
import "$(cat "$work/node.tar.path")" node docker.io/library/node:18-slim

# ---------------------------------------------------------------------------------------------
# Helpers

# build TAG DOCKERFILE CONTEXT [podman build options...]
build() {
  local tag=$1 file=$2 context=$3
  shift 3
  step "build $file -> $tag"
  podman build --quiet --pull=never -v /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-context build="$repo/target/dist/context" \
    -f "$file" -t "$tag" "$@" "$context" >/dev/null || fail "podman build -f $file"
}

# inspect IMAGE FORMAT
inspect() { podman image inspect --format "$2" "$1"; }

# start IMAGE [podman run options / command...]: runs detached, sets $cid and $port.
start() {
  local image=$1
  shift
  local opts=() args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && { shift; args=("$@"); }
  cid=$(podman run -d --name "ferric-test-$run_id-${#started[@]}" -p 127.0.0.1::8080 \
    "${opts[@]}" "$image" "${args[@]}") || fail "podman run $image"
  started+=("$cid")
  port=$(podman port "$cid" 8080/tcp | head -n 1)
  port=${port##*:}
  local i
  for i in $(seq 100); do
    # Any HTTP answer (404 for /) means the invoke endpoint is listening.
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/" || true)" != 000 ] && return 0
    [ "$(podman inspect --format '{{.State.Running}}' "$cid")" = true ] || break
    sleep 0.1
  done
  podman logs "$cid" >&2 || true
  fail "$image: nothing listens on the mapped port 8080"
}

# invoke EVENT OUT: POST the event as `curl -d` does; prints the HTTP status.
invoke() {
  curl -sS --max-time 60 -o "$2" -w '%{http_code}' -d @"$1" \
    "http://127.0.0.1:$port/2015-03-31/functions/function/invocations"
}

# check_greeting LABEL STATUS FILE: the example handlers' answer to apigw-http-v2.json.
check_greeting() {
  python3 - "$@" <<'EOF' || { podman logs "$cid" >&2; exit 1; }
import json, sys
label, status, path = sys.argv[1:]
text = open(path).read()
try:
    outer = json.loads(text)
    inner = json.loads(outer["body"])
    ok = (status == "200" and outer["statusCode"] == 200
          and inner["message"] == "Hello, Lambda!"
          and inner["functionName"] == "test_function")  # RIE's default, as under RIE
except (ValueError, KeyError, TypeError):
    ok = False
if not ok:
    sys.exit(f"containers: FAIL: {label}: HTTP {status}: {text}")
print(f"containers: {label}: HTTP {status}, {inner['message']}")
EOF
}

# stop LABEL: SIGTERM (podman stop), then the exit status must be 0, within the grace period.
stop() {
  local t0=$SECONDS
  podman stop --time 10 "$cid" >/dev/null
  local code
  code=$(podman inspect --format '{{.State.ExitCode}}' "$cid")
  if [ "$code" != 0 ] || [ $((SECONDS - t0)) -ge 10 ]; then
    podman logs "$cid" >&2 || true
    fail "$1: exit status $code $((SECONDS - t0)) s after SIGTERM (0 expected, before the 10 s SIGKILL)"
  fi
  echo "containers: $1: exit 0 after SIGTERM ($((SECONDS - t0)) s)"
}

# serve LABEL IMAGE [run options]: start, invoke twice, check, stop.
serve() {
  local label=$1 image=$2
  shift 2
  start "$image" "$@"
  local n status
  for n in 1 2; do
    status=$(invoke examples/events/apigw-http-v2.json "$work/answer") || fail "$label: curl"
    check_greeting "$label invoke $n" "$status" "$work/answer"
  done
  stop "$label"
}

# expect_config IMAGE FORMAT VALUE
expect_config() {
  local got
  got=$(inspect "$1" "$2")
  [ "$got" = "$3" ] || fail "$1: $2 is $got, expected $3"
}

# ---------------------------------------------------------------------------------------------
# The build context (.dockerignore)

step "the build context after .dockerignore"
# Decoys for what a developer's tree has and an image must not (removed right after).
for d in examples/python/app/__pycache__/ferric-decoy.pyc examples/node/node_modules/ferric-decoy/index.js; do
  [ -e "$d" ] && continue
  mkdir -p "$(dirname "$d")"
  decoys+=("$d")
  touch "$d"
done
podman build --quiet --pull=never -f tests/containers/context.Dockerfile -t "$T/context" . >/dev/null \
  || fail "podman build (the context)"
remove_decoys
ctx=$(podman create "$T/context" /none)
started+=("$ctx")
podman export "$ctx" | tar -t | sed 's|^context/||' | sort >"$work/context.list"
# Everything the Dockerfiles COPY from the context, file by file (git's list where there is one).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files Cargo.toml Cargo.lock src fake-api examples >"$work/needed.list"
else
  find Cargo.toml Cargo.lock src fake-api examples -type f >"$work/needed.list"
fi
for f in Cargo.toml Cargo.lock src/main.rs examples/python/app/handler.py examples/node/index.mjs; do
  grep -qx "$f" "$work/needed.list" || fail "$f is not in the repository's file list"
done
missing=$(sort "$work/needed.list" | comm -23 - "$work/context.list")
[ -z "$missing" ] || fail "the build context lacks (.dockerignore): $missing"
if grep -E '(^|/)(target|\.git|\.cache|__pycache__|node_modules)(/|$)|\.pyc$' "$work/context.list"; then
  fail "the build context holds the files above (.dockerignore)"
fi
echo "containers: context: $(grep -cv '/$' "$work/context.list") files, no target/, .git, .cache, __pycache__, node_modules"

# ---------------------------------------------------------------------------------------------
# Dockerfile.python and Dockerfile.node

build "$T/python" Dockerfile.python . --build-arg PYTHON_VERSION=3.11
build "$T/node" Dockerfile.node . --build-arg NODE_VERSION=18
for image in "$T/python" "$T/node"; do
  expect_config "$image" '{{json .Config.Entrypoint}}' '["/usr/local/bin/ferric"]'
  expect_config "$image" '{{.Config.WorkingDir}}' /var/task
  env=$(inspect "$image" '{{range .Config.Env}}{{println .}}{{end}}')
  grep -qx LAMBDA_TASK_ROOT=/var/task <<<"$env" || fail "$image: LAMBDA_TASK_ROOT is not /var/task"
  ports=$(inspect "$image" '{{json .Config.ExposedPorts}}')
  grep -q '"8080/tcp"' <<<"$ports" || fail "$image: 8080 is not exposed ($ports)"
  user=$(inspect "$image" '{{.Config.User}}')
  case "$user" in "" | root | 0 | 0:*) fail "$image runs as root ($user)" ;; esac
  # Lambda's user must be able to read every file the function needs.
  unreadable=$(podman run --rm --entrypoint /usr/bin/find "$image" /var/task /usr/local/bin/ferric ! -readable)
  [ -z "$unreadable" ] || fail "$image: unreadable by $user: $unreadable"
done
# What the project promises the final images lack: a compiler, and the reference clients.
for image in "$T/python" "$T/node"; do
  found=$(podman run --rm --entrypoint /bin/sh "$image" -c \
    'for t in gcc cc g++ clang make cmake node-gyp rustc cargo; do command -v "$t"; done; true')
  [ -z "$found" ] || fail "$image has a compiler: $found"
done
if podman run --rm --entrypoint python3 "$T/python" -c 'import awslambdaric' 2>/dev/null; then
  fail "$T/python has awslambdaric"
fi
if podman run --rm --entrypoint node "$T/node" -e 'require.resolve("aws-lambda-ric")' 2>/dev/null; then
  fail "$T/node has aws-lambda-ric"
fi
# `RUN ["/usr/local/bin/ferric", "prepare"]` left the compiled shim in a root-owned cache.
podman run --rm --entrypoint /bin/sh "$T/python" -c \
  'ls "$FERRIC_CACHE_DIR" | grep -q "^shim-" && [ "$(stat -c %u "$FERRIC_CACHE_DIR")" = 0 ]' \
  || fail "$T/python: ferric prepare left no root-owned shim cache in FERRIC_CACHE_DIR"

serve "Dockerfile.python" "$T/python"
serve "Dockerfile.node" "$T/node"

# The workshop's mistake (CMD ["app.handler"] with COPY app/ /var/task/): awslambdaric's init
# error, and ferric's hint in the log.
start "$T/python" -- app.handler
status=$(invoke examples/events/apigw-http-v2.json "$work/answer") || fail "curl"
if [ "$status" != 502 ] || ! grep -q '"errorType": "Runtime.ImportModuleError"' "$work/answer"; then
  fail "app.handler: HTTP $status: $(cat "$work/answer")"
fi
for i in $(seq 50); do
  podman logs "$cid" >"$work/log" 2>&1
  grep -q 'did you mean handler.handler' "$work/log" && break
  [ "$i" = 50 ] && { cat "$work/log" >&2; fail "app.handler: no hint in the log"; }
  sleep 0.1
done
echo "containers: Dockerfile.python with CMD app.handler: HTTP 502 Runtime.ImportModuleError, hint logged"
stop "Dockerfile.python (app.handler)"
# The other fix: the app as a directory of the task root (here mounted where `COPY app/
# /var/task/app/` would put it), named in the handler string.
serve "Dockerfile.python, app/ in /var/task/app, app/handler.handler" "$T/python" \
  -v "$repo/examples/python/app:/var/task/app:ro" -- app/handler.handler

# ---------------------------------------------------------------------------------------------
# Dockerfile.dist, and an image that copies ferric from it

build "$T/dist" Dockerfile.dist .
podman tag "$T/dist" "$DIST_IMAGE"
got=$(podman run --rm "$DIST_IMAGE" --version) || fail "$DIST_IMAGE --version"
[ "$got" = "ferric $version" ] || fail "$DIST_IMAGE --version: $got"
dist=$(podman create "$DIST_IMAGE")
started+=("$dist")
files=$(podman export "$dist" | tar -t | grep -v '/$' || true)
[ "$files" = ferric ] || fail "$DIST_IMAGE holds more than /ferric: $files"
echo "containers: $DIST_IMAGE: /ferric only, runs with no libc ($got)"
build "$T/from-dist" tests/containers/from-dist.Dockerfile . \
  --build-arg FERRIC_IMAGE="$DIST_IMAGE" --build-arg PYTHON_VERSION=3.11
serve "COPY --from=$DIST_IMAGE" "$T/from-dist"

# ---------------------------------------------------------------------------------------------
# The workshop's Dockerfile: the seed, and the seed migrated (ferric from the wheel)

# The wheel from target/dist, as `pip install ferric-lambda` will get it from PyPI once it is
# published: pip in the build reads a pip.conf that points it at target/dist only.
printf '[global]\nno-index = true\nfind-links = /wheels\n' >"$work/pip.conf"
build "$T/workshop" examples/workshop/Dockerfile examples/python \
  -v "$repo/target/dist:/wheels:ro" -v "$work/pip.conf:/etc/pip.conf:ro"
# The seed listens where FERRIC_LISTEN's default says (127.0.0.1), so docker run sets it.
serve "examples/workshop/Dockerfile" "$T/workshop" -e FERRIC_LISTEN=0.0.0.0:8080
# The seed itself, for the sizes (awslambdaric from PyPI; it cannot be invoked without RIE).
build "$T/workshop-awslambdaric" examples/workshop/Dockerfile.awslambdaric examples/python
podman run --rm --entrypoint /usr/local/bin/python "$T/workshop-awslambdaric" -c 'import awslambdaric' \
  || fail "the seed's image has no awslambdaric"

# ---------------------------------------------------------------------------------------------

step "image sizes (bytes, as podman counts them; stand-in bases)"
size() { inspect "$1" '{{.Size}}'; }
# row LABEL IMAGE [BASE]
row() {
  local total
  total=$(size "$2")
  printf '%-28s %12s %12s\n' "$1" "$total" "${3:+$((total - $(size "$3")))}"
}
printf '%-28s %12s %12s\n' image size "over base"
row Dockerfile.python "$T/python" docker.io/library/python:3.11-slim
row Dockerfile.node "$T/node" docker.io/library/node:18-slim
row Dockerfile.dist "$DIST_IMAGE"
row "COPY --from dist" "$T/from-dist" docker.io/library/python:3.11-slim
row "workshop (ferric)" "$T/workshop" docker.io/library/python:3.9
row "workshop (awslambdaric)" "$T/workshop-awslambdaric" docker.io/library/python:3.9
echo "containers: all passed (${SECONDS} s)"
