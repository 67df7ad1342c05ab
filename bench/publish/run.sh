#!/usr/bin/env bash
# Publishing delta cost: a 10,000-package repository in garage on 127.0.0.1, then ROUNDS publishes in
# which 10 packages changed (5 new versions, 5 new names). Prints, per round, the end-to-end publish time
# and the storage requests it made (uploads, listings, HEADs, GETs), then the median.
#
# Then one unchanged publish with the release binary: its time, peak RSS and how many package files it
# opened (strace; must be 0).
#
# Environment: PACKAGES (10000), CHANGED (10), ROUNDS (5), GARAGE_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES="${PACKAGES:-10000}" CHANGED="${CHANGED:-10}" ROUNDS="${ROUNDS:-5}"

WORK="$(mktemp -d /tmp/buildmaster-publish-bench.XXXXXX)"
GARAGE_PID=
cleanup() {
    [ -n "$GARAGE_PID" ] && kill "$GARAGE_PID" 2>/dev/null && wait "$GARAGE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/common/garage.sh
. bench/common/garage.sh

cat >"$WORK/storage.json" <<STORAGE_JSON
{"backend_type": "s3", "endpoint_url": "$ENDPOINT", "region_name": "us-east-1",
 "access_key_id": "$ACCESS_KEY", "secret_access_key": "$SECRET_KEY", "bucket_name": "$BUCKET",
 "prefix": "bench/x86_64/current"}
STORAGE_JSON
cargo build --quiet --release --example publish-bench
"${CARGO_TARGET_DIR:-target}/release/examples/publish-bench" "$WORK/storage.json" "$WORK/state" "$PACKAGES" "$CHANGED" "$ROUNDS"

# An unchanged publish of the whole repository, by the command operators run: it must open no package
# file (every package is a stub the database describes). Timed once without strace, then traced.
cargo build --quiet --release --bin buildmaster
BIN="${CARGO_TARGET_DIR:-target}/release/buildmaster"
publish=("$BIN" --state-dir "$WORK/state" --storage-backend-config "$WORK/storage.json" publish)
/usr/bin/time -v "${publish[@]}" >"$WORK/unchanged.out" 2>"$WORK/unchanged.time"
strace -f -qq -e trace=open,openat -o "$WORK/unchanged.trace" "${publish[@]}" >/dev/null
printf 'unchanged publish: %s; %s package files opened; peak RSS %d MiB; wall %s\n' \
    "$(tail -1 "$WORK/unchanged.out")" \
    "$(grep -c '/packages/[^"/]*\.hpkg"' "$WORK/unchanged.trace" || true)" \
    "$(( $(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/unchanged.time") / 1024 ))" \
    "$(awk -F'): ' '/Elapsed/ {print $2}' "$WORK/unchanged.time")"
