#!/usr/bin/env bash
# Storage benchmark: upload and download of a 1 GiB file to a garage S3 server on 127.0.0.1, through
# buildmaster's S3 backend ("ours", bench/storage/storage_bench.rs built in release) and through
# `aws s3 cp`, in the same run, ROUNDS times; prints the medians, the ratios and our peak memory.
#
# Every timed upload carries fresh bytes: garage deduplicates stored data in 1 MiB blocks, so each upload
# gets the base file rotated by a different offset that is not a multiple of 1 MiB (no block repeats).
# Both tools are timed the same way, from outside, with /usr/bin/time -v (wall clock and peak RSS).
#
# Besides wall-clock time it records the client's CPU time (user + system): on a shared 2-core machine the
# server and other work compete for the cores, and CPU per byte is the part of the cost the client owns.
# "ours-put" is `buildmaster storage put`'s path: the digest is learnt on the way, so the body goes to a
# temporary key and is copied to its own. "ours-put-publisher" is the publisher's: the package's SHA-256
# is known from staging (computed here by sha256sum before the timed run, as staging did before
# publishing), it is passed in `PutOptions`, and the upload goes straight to the key while every byte
# is still hashed on the way to check it. Both send CRC32C part checksums instead of signed payloads.
#
# Environment: ROUNDS (3), SIZE_MIB (1024), PART_SIZE_MIB (16), PARTS_IN_FLIGHT (4), GARAGE_BIN,
# STORAGE_BENCH_BIN (see below), and
# STORAGE_BENCH_THREADS (1: our client on a single-threaded runtime; 2: a multi-threaded one, like the
# daemon's).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS="${ROUNDS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"
PART_SIZE_MIB="${PART_SIZE_MIB:-16}"
PARTS_IN_FLIGHT="${PARTS_IN_FLIGHT:-4}"

[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 1; }
command -v aws >/dev/null || pip install --quiet awscli

# STORAGE_BENCH_BIN: a binary (or a wrapper, e.g. one that profiles it) to run instead of building it here.
if [ -n "${STORAGE_BENCH_BIN:-}" ]; then
    OURS="$STORAGE_BENCH_BIN"
else
    cargo build --quiet --release -p buildmaster-storage-s3 --example storage-bench
    OURS="${CARGO_TARGET_DIR:-target}/release/examples/storage-bench"
fi

WORK="$(mktemp -d /tmp/buildmaster-storage-bench.XXXXXX)"
GARAGE_PID=
cleanup() {
    local status=$?
    # A failed run says why the server went away (garage's log goes with $WORK).
    [ "$status" = 0 ] || tail -n 20 "$WORK/garage.log" >&2 2>/dev/null || true
    [ -n "$GARAGE_PID" ] && kill "$GARAGE_PID" 2>/dev/null && wait "$GARAGE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- garage, single node on loopback (docs/test-infra.md) ---
# shellcheck source=bench/common/garage.sh
. bench/common/garage.sh

# --- both clients' settings ---
cat >"$WORK/ours.json" <<EOF
{"endpoint_url": "$ENDPOINT", "region_name": "us-east-1", "access_key_id": "$ACCESS_KEY",
 "secret_access_key": "$SECRET_KEY", "bucket_name": "$BUCKET", "prefix": "bench",
 "part_size": $((PART_SIZE_MIB << 20)), "multipart_threshold": $((PART_SIZE_MIB << 20)),
 "parts_in_flight": $PARTS_IN_FLIGHT}
EOF
printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' >"$WORK/aws.config"
export AWS_CONFIG_FILE="$WORK/aws.config" AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY"
AWS=(aws --endpoint-url "$ENDPOINT" --only-show-errors)
for _ in $(seq 100); do "${AWS[@]}" s3 ls "s3://$BUCKET" >/dev/null 2>&1 && break; sleep 0.1; done

# --- data ---
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$WORK/base.bin"
VARIANT=0
fresh() { # a rotation of base.bin no earlier upload shares a 1 MiB block with
    VARIANT=$((VARIANT + 1))
    local off=$((VARIANT * ((1 << 20) + 4099)))
    { tail -c +"$((off + 1))" "$WORK/base.bin"; head -c "$off" "$WORK/base.bin"; } >"$WORK/up.bin"
    sync "$WORK/up.bin"
}

RESULTS="$WORK/results.tsv"
# measure NAME ROUND COMMAND...: appends "name round seconds max_rss_kib cpu_seconds"
measure() {
    local name=$1 round=$2
    shift 2
    /usr/bin/time -v -o "$WORK/time.txt" "$@" 2>"$WORK/cmd.err" || { cat "$WORK/cmd.err" >&2; exit 1; }
    python3 - "$WORK/time.txt" "$name" "$round" >>"$RESULTS" <<'PY'
import sys
wall = rss = None
cpu = 0.0
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith(("User time (seconds)", "System time (seconds)")):
        cpu += float(line.rsplit(" ", 1)[1])
    elif line.startswith("Elapsed (wall clock) time"):
        parts = [float(p) for p in line.rsplit(" ", 1)[1].split(":")]
        wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    elif line.startswith("Maximum resident set size"):
        rss = int(line.rsplit(" ", 1)[1])
print(sys.argv[2], sys.argv[3], wall, rss, round(cpu, 2), sep="\t")
PY
    tail -n 1 "$RESULTS" >&2
}

# One untimed warm-up of each transfer by each tool: the first download after the server starts costs
# whichever tool makes it several times the CPU of later ones (4-5 CPU-s instead of 1, in the kernel,
# writing the file), and the first uploads fill garage's fresh metadata database.
fresh
"$OURS" put "$WORK/ours.json" "$WORK/up.bin" warm/ours.bin 2>/dev/null
"${AWS[@]}" s3 cp "$WORK/up.bin" "s3://$BUCKET/bench/warm/aws.bin"
"$OURS" get "$WORK/ours.json" warm/aws.bin "$WORK/down.bin" 2>/dev/null
rm -f "$WORK/down.bin"
"${AWS[@]}" s3 cp "s3://$BUCKET/bench/warm/ours.bin" "$WORK/down.bin"
# This last down.bin is kept until round 1's first download removes it, as every later timed download
# removes the previous one's: each then starts with 1 GiB of page cache just freed. Without it, round
# 1's first download (always ours) had to find 1 GiB of fresh page cache after 3 GiB of uploads had
# used the free memory, and cost 1.4-2.7 CPU-s instead of ~1.0, in every run.
"${AWS[@]}" s3 rm --recursive "s3://$BUCKET/bench/warm/" >/dev/null

echo "load average at the start: $(cut -d" " -f1-3 /proc/loadavg)" >&2
for round in $(seq "$ROUNDS"); do
    # Rotate who goes first, so no side always meets a warmer or busier machine.
    case $((round % 3)) in
        1) uploads="ours publisher aws" ;;
        2) uploads="aws ours publisher" ;;
        0) uploads="publisher aws ours" ;;
    esac
    if [ $((round % 2)) = 1 ]; then downloads="ours aws"; else downloads="aws ours"; fi
    for who in $uploads; do
        fresh
        case $who in
            ours)
                measure ours-put "$round" "$OURS" put "$WORK/ours.json" "$WORK/up.bin" "r$round/ours.bin"
                cp "$WORK/up.bin" "$WORK/ours-uploaded.bin"
                ;;
            publisher)
                digest=$(sha256sum "$WORK/up.bin" | cut -c1-64)
                measure ours-put-publisher "$round" "$OURS" put "$WORK/ours.json" "$WORK/up.bin" \
                    "r$round/publisher.bin" --digest "$digest"
                ;;
            aws) measure aws-put "$round" "${AWS[@]}" s3 cp "$WORK/up.bin" "s3://$BUCKET/bench/r$round/aws.bin" ;;
        esac
    done
    for who in $downloads; do
        rm -f "$WORK/down.bin"
        # Untimed: write back the dirty pages the uploads (3 GiB through garage) or the other tool's
        # download left. Otherwise whichever download comes first in a round writes its 1 GiB on top of
        # gigabytes of dirty page cache and is throttled by writeback (vm.dirty_ratio), and the second
        # pays for the first's file: the order, not the tool, decided such rounds.
        sync
        stalls=$(awk '$1 == "compact_stall" {print $2}' /proc/vmstat)
        if [ "$who" = ours ]; then
            measure ours-get "$round" "$OURS" get "$WORK/ours.json" "r$round/ours.bin" "$WORK/down.bin"
        else
            measure aws-get "$round" "${AWS[@]}" s3 cp "s3://$BUCKET/bench/r$round/ours.bin" "$WORK/down.bin"
        fi
        # Direct compactions on the whole machine during the download: a page-cache write that asks for
        # large folios when free memory has none compacts in the writer's own time (storage_bench.rs).
        echo "  compaction stalls during it (system-wide): $(( $(awk '$1 == "compact_stall" {print $2}' /proc/vmstat) - stalls ))" >&2
        cmp "$WORK/down.bin" "$WORK/ours-uploaded.bin" || { echo "$who: downloaded bytes differ" >&2; exit 1; }
    done
    "${AWS[@]}" s3 rm --recursive "s3://$BUCKET/bench/r$round/" >/dev/null
done

python3 - "$RESULTS" "$SIZE_MIB" "$PART_SIZE_MIB" "$PARTS_IN_FLIGHT" "$ROUNDS" <<'PY'
import os, statistics, sys
path, size_mib, part_mib, in_flight, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [line.split("\t") for line in open(path).read().splitlines()]
runs = {}
for name, _round, wall, rss, cpu in rows:
    runs.setdefault(name, []).append((float(wall), int(rss), float(cpu)))
mb = size_mib * 1024 * 1024 / 1e6
med = {n: statistics.median(w for w, _, _ in r) for n, r in runs.items()}
cpu = {n: statistics.median(c for _, _, c in r) for n, r in runs.items()}
threads = os.environ.get("STORAGE_BENCH_THREADS", "1")
print(f"\n{size_mib} MiB, {rounds} rounds, ours: part_size {part_mib} MiB, parts_in_flight {in_flight}, "
      f"runtime threads {threads}\n")
print("| run | seconds (each round) | median s | MB/s (median) | client CPU s (median) | peak RSS MiB (max) |")
print("|---|---|---|---|---|---|")
for name, r in runs.items():
    walls = ", ".join(f"{w:.2f}" for w, _, _ in r)
    print(f"| {name} | {walls} | {med[name]:.2f} | {mb / med[name]:.0f} | {cpu[name]:.2f} "
          f"| {max(m for _, m, _ in r) / 1024:.0f} |")
print()
print(f"upload ratio (aws time / ours time): publisher {med['aws-put'] / med['ours-put-publisher']:.2f}x,"
      f" storage put {med['aws-put'] / med['ours-put']:.2f}x; target >= 1.2x")
print(f"download ratio: {med['aws-get'] / med['ours-get']:.2f}x; target >= 1.2x at <= 0.6x the client CPU")
print(f"client CPU ratio (aws / ours): put {cpu['aws-put'] / cpu['ours-put']:.2f}x, "
      f"get {cpu['aws-get'] / cpu['ours-get']:.2f}x")
print("\nper round, download: ratio (aws time / ours) and client CPU (ours / aws); "
      "targets >= 1.2x and <= 0.6x")
by_round = {(name, rnd): (float(wall), float(cpu_s)) for name, rnd, wall, _, cpu_s in rows}
for rnd in sorted({rnd for _, rnd, *_ in rows}, key=int):
    (ow, oc), (aw, ac) = by_round[("ours-get", rnd)], by_round[("aws-get", rnd)]
    print(f"  round {rnd}: {ow:.2f} s vs {aw:.2f} s = {aw / ow:.2f}x; CPU {oc:.2f} s vs {ac:.2f} s = {oc / ac:.2f}x")
limit = int(in_flight) * part_mib + 64
peak = max(m for n, r in runs.items() if n.startswith("ours") for _, m, _ in r) / 1024
print(f"ours peak RSS: {peak:.0f} MiB; target < parts_in_flight x part_size + 64 MiB = {limit} MiB")
print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}")
PY
