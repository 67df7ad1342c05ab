#!/usr/bin/env bash
# Publishing delta cost: a 10,000-package repository in garage on 127.0.0.1, then ROUNDS publishes in
# which 10 packages changed (5 new versions, 5 new names). Prints, per round, the end-to-end publish time
# and the storage requests it made (uploads, listings, HEADs, GETs), then the median.
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
