#!/usr/bin/env bash
# The main job on the embedded defaults, as far as it exists today: builds the example packages in
# examples/packages/ with `buildmaster hpkg create`, publishes them to the filesystem storage backend in
# the state directory (upload → verify → stub → index), and shows the repository a client would read.
# (Planning and building ports on a local builder arrive with the buildrun; see docs/.)
#
# Usage: bash scripts/demo.sh [STATE_DIR]   (default: ./buildmaster-state)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${1:-buildmaster-state}"
cargo build --quiet --release --bin buildmaster
BM="${CARGO_TARGET_DIR:-target}/release/buildmaster"

mkdir -p "$STATE/packages" "$STATE/repository"
[ -f "$STATE/repository/repo.info" ] || cp examples/repo.info "$STATE/repository/repo.info"
for info in examples/packages/*.PackageInfo; do
    name="$(basename "$info" .PackageInfo)"
    out="$STATE/packages/$name-x86_64.hpkg"
    [ -e "$out" ] || "$BM" hpkg create -i "$info" -C "examples/packages/$name" "$out"
done
"$BM" --state-dir "$STATE" publish
echo "--- the repository in $STATE/storage (what pkgman would read) ---"
"$BM" --state-dir "$STATE" storage ls -l
"$BM" repo list -f "$STATE/storage/repo"
"$BM" repo check "$STATE/storage/repo"
