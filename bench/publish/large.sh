#!/usr/bin/env bash
# Memory of the two streaming paths on a 1 GiB package: `hpkg create` of a 1 GiB tree (512 MiB of random
# bytes and 512 files of 1 MiB of text), then `publish` of the resulting package (its own 1 GiB of random
# bytes, so the package is as large as its tree) to garage on 127.0.0.1. Prints each command's peak RSS
# and wall time as /usr/bin/time -v reports them.
#
# Environment: GARAGE_BIN; BUILDMASTER (default: target/release/buildmaster, built if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${BUILDMASTER:-${CARGO_TARGET_DIR:-target}/release/buildmaster}"
[ -x "$BIN" ] || cargo build --quiet --release --bin buildmaster

WORK="$(mktemp -d /tmp/buildmaster-large-bench.XXXXXX)"
GARAGE_PID=
cleanup() {
    [ -n "$GARAGE_PID" ] && kill "$GARAGE_PID" 2>/dev/null && wait "$GARAGE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/common/garage.sh
. bench/common/garage.sh

measure() { # label, command...
    local label="$1"
    shift
    /usr/bin/time -v "$@" >"$WORK/out" 2>"$WORK/time" || { cat "$WORK/out" "$WORK/time" >&2; exit 1; }
    printf '%-34s peak RSS %6d MiB, wall %s\n' "$label" \
        "$(( $(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time") / 1024 ))" \
        "$(awk -F'): ' '/Elapsed/ {print $2}' "$WORK/time")"
}

info() { # name
    printf 'name %s\nversion 1.0-1\narchitecture x86_64\nsummary "s"\ndescription "d"\npackager "p <p@example.org>"\nvendor "Haiku Project"\ncopyrights { "c" }\nlicenses { "MIT" }\nprovides { %s = 1.0-1 }\n' "$1" "$1" >"$WORK/$1.PackageInfo"
}

mkdir -p "$WORK/mixed/data" "$WORK/random/data" "$WORK/state/packages" "$WORK/state/repository"
head -c 536870912 /dev/urandom >"$WORK/mixed/data/random.bin"
for i in $(seq 512); do
    # `yes` ends on SIGPIPE once head has enough, which pipefail would report as a failure.
    yes "line $i of compressible text for the package heap" | head -c 1048576 >"$WORK/mixed/data/text$i.txt" || true
done
info mixed
measure "hpkg create, 1 GiB tree (zlib)" "$BIN" hpkg create -i "$WORK/mixed.PackageInfo" -C "$WORK/mixed" "$WORK/mixed.hpkg"
rm -rf "$WORK/mixed" "$WORK/mixed.hpkg"

head -c 1073741824 /dev/urandom >"$WORK/random/data/random.bin"
info random
measure "hpkg create, 1 GiB random (zlib)" "$BIN" hpkg create -i "$WORK/random.PackageInfo" -C "$WORK/random" \
    "$WORK/state/packages/random-1.0-1-x86_64.hpkg"
rm -rf "$WORK/random"
ls -l "$WORK/state/packages"

printf 'name Bench\nvendor "Haiku Project"\nsummary "s"\npriority 1\nbaseurl https://example.org/r\nidentifier tag:example.org,2026:bench\narchitecture x86_64\n' \
    >"$WORK/state/repository/repo.info"
cat >"$WORK/storage.json" <<STORAGE_JSON
{"backend_type": "s3", "endpoint_url": "$ENDPOINT", "region_name": "us-east-1",
 "access_key_id": "$ACCESS_KEY", "secret_access_key": "$SECRET_KEY", "bucket_name": "$BUCKET",
 "prefix": "large/x86_64/current"}
STORAGE_JSON
publish=("$BIN" --state-dir "$WORK/state" --storage-backend-config "$WORK/storage.json" publish)
measure "publish of a 1 GiB package (S3)" "${publish[@]}"
measure "publish again, unchanged" "${publish[@]}"
