#!/usr/bin/env bash
# Builds what ferric ships, into target/dist/ (idempotent: a second run only re-packs):
#   ferric                          the release binary, statically linked: runs on any Linux libc
#   ferric_lambda-V-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
#                                   the PyPI package (maturin, bindings = "bin"; packaging/python)
#   ferric-lambda-V.tgz             the npm package (packaging/npm)
#   context/usr/local/bin/ferric    a build context for `--build-context build=target/dist/context`,
#                                   which replaces the Dockerfiles' Rust stage with this binary
# Publishing them is docs/PUBLISHING.md. Needs Rust, Python 3 (for maturin, installed from PyPI
# into $FERRIC_SHIP_CACHE, default .cache/ship) and npm.
#
# Why glibc with crt-static and not musl: the Dockerfiles' build stage (rust:alpine) builds musl
# natively, but a rustup toolchain may have only its host target (`rustup target list
# --installed`), and a static glibc build needs nothing more. It needs no libc in the image
# (scripts/containers.sh runs it FROM scratch). Lambda's AWS_LAMBDA_RUNTIME_API is an address
# (parsed, never looked up); a host name there is resolved by the static glibc's own files/dns
# lookup, which worked FROM scratch and on Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

MATURIN_VERSION=1.16.0
SHIP_CACHE=${FERRIC_SHIP_CACHE:-.cache/ship}
DIST=target/dist
triple=$(rustc -vV | sed -n 's/^host: //p')
case "$triple" in
  x86_64-unknown-linux-gnu) npm_cpu=x64 ;;
  aarch64-unknown-linux-gnu) npm_cpu=arm64 ;;
  *) echo "package: no static build recipe for $triple" >&2; exit 1 ;;
esac
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

echo "== package: static release binary ($triple, crt-static)"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros, and the output in
# target/$triple/release, apart from the benchmark's target/release.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"
cargo build --release --locked --bin ferric --target "$triple"
bin="target/$triple/release/ferric"
if readelf -lW "$bin" | grep 'Requesting program interpreter'; then
  echo "package: $bin is dynamically linked" >&2
  exit 1
fi
size=$(stat -c %s "$bin")
if [ "$size" -gt $((5 * 1024 * 1024)) ]; then
  echo "package: $bin is $size bytes, over 5 MiB" >&2
  exit 1
fi
[ "$("$bin" --version)" = "ferric $version" ] || { echo "package: $bin --version is not ferric $version" >&2; exit 1; }

rm -rf "$DIST"
mkdir -p "$DIST/context/usr/local/bin" "$DIST/npm/bin"
cp "$bin" "$DIST/ferric"
cp "$bin" "$DIST/context/usr/local/bin/ferric"

echo "== package: wheel (maturin $MATURIN_VERSION)"
maturin="$SHIP_CACHE/maturin-venv/bin/maturin"
if [ "$("$maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ]; then
  rm -rf "$SHIP_CACHE/maturin-venv"
  mkdir -p "$SHIP_CACHE"
  python3 -m venv "$SHIP_CACHE/maturin-venv"
  "$SHIP_CACHE/maturin-venv/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION"
fi
maturin=$(realpath "$maturin")
# The same cargo invocation as above (same RUSTFLAGS, target and profile), so maturin finds the
# binary built and packs it. manylinux2014: the binary needs no glibc symbol at all; maturin's
# audit checks that.
(cd packaging/python && "$maturin" build --release --locked --target "$triple" \
  --compatibility manylinux2014 --auditwheel check --out "../../$DIST")

echo "== package: npm tarball"
# shellcheck disable=SC2016
node -e '
  const fs = require("fs");
  const [src, dst, version, cpu] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(src, "utf8"));
  if (pkg.version !== version) {
    console.error(`package: ${src} has version ${pkg.version}, Cargo.toml ${version}`);
    process.exit(1);
  }
  pkg.cpu = [cpu];
  fs.writeFileSync(dst, JSON.stringify(pkg, null, 2) + "\n");
' packaging/npm/package.json "$DIST/npm/package.json" "$version" "$npm_cpu"
cp packaging/npm/README.md "$DIST/npm/"
cp "$bin" "$DIST/npm/bin/ferric"
(cd "$DIST" && npm pack --silent ./npm >/dev/null)

ls -l "$DIST"
