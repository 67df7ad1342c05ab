#!/usr/bin/env bash
# Gate cost (issue 15, acceptance 7): ROUNDS gated pushes of CHANGED packages into a Debian suite of
# PACKAGES packages (each package depends on the previous one, so installability has work to do).
# Ours, end to end (release build, process start to exit): stage (upload into the staging storage),
# the installability fixpoint over the open pipelines against the whole suite, promotion (a hard link
# from the staging root into the served root on the filesystem backends), link and publish.
# Requests: objects created or changed under the served and the staging roots per push (sidecars not
# counted) — O(changed), not O(repository). Prints each round, the median and the machine load.
#
# Environment: PACKAGES (10000), CHANGED (10), ROUNDS (5), KEEP_WORK (keep the work dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES="${PACKAGES:-10000}" CHANGED="${CHANGED:-10}" ROUNDS="${ROUNDS:-5}"
command -v dpkg-deb >/dev/null || { echo "dpkg-deb missing: apt-get install -y dpkg" >&2; exit 1; }

WORK="$(mktemp -d /tmp/buildmaster-gate-bench.XXXXXX)"
cleanup() {
    [ -n "${KEEP_WORK:-}" ] && { echo "work dir kept: $WORK" >&2; return; }
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --quiet --release --bin buildmaster --example repos-bench-gen
TARGET="${CARGO_TARGET_DIR:-target}/release"
BIN="$TARGET/buildmaster" GEN="$TARGET/examples/repos-bench-gen"
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for ((first = 0; first < PACKAGES; first += 1000)); do
    "$GEN" "$WORK/base" "$first" $((PACKAGES - first < 1000 ? PACKAGES - first : 1000)) 1.0
done
for r in $(seq "$ROUNDS"); do
    # New versions of existing packages: each depends on its predecessor, already served.
    "$GEN" "$WORK/round-$r" $(((r - 1) * CHANGED)) "$CHANGED" "1.$r"
done

mkdir -p "$WORK/state" "$WORK/served" "$WORK/staging"
printf '{"backend_type": "fs", "path": "%s"}\n' "$WORK/served" >"$WORK/served.json"
printf '{"backend_type": "fs", "path": "%s"}\n' "$WORK/staging" >"$WORK/staging.json"
chmod 600 "$WORK/served.json" "$WORK/staging.json"
REPOSITORY='[[repositories]]
id = "debian/bench"
root = "apt"
[repositories.debian]
codename = "bench"
architectures = ["amd64"]
'
run() { "$BIN" --state-dir "$WORK/state" --storage-backend-config "$WORK/served.json" "$@"; }

# The suite, filled without the gate (set-up, not measured), then the gate switched on.
printf '%s' "$REPOSITORY" >"$WORK/state/buildmaster.toml"
t0=$(now_ms)
run push "$WORK"/base/*.deb --to debian/bench >/dev/null
echo "set-up: $PACKAGES packages pushed ungated in $(secs $(($(now_ms) - t0))) s"
printf '[gate]\nstaging = "%s"\n\n%s' "$WORK/staging.json" "$REPOSITORY" >"$WORK/state/buildmaster.toml"

count_changed() { # files (not sidecars) changed since the marker
    find "$WORK/served" "$WORK/staging" -type f -newer "$WORK/marker" -not -path '*/.buildmaster-meta/*' | wc -l
}
times=()
for r in $(seq "$ROUNDS"); do
    touch "$WORK/marker"
    sleep 0.01
    t0=$(now_ms)
    out=$(run push "$WORK/round-$r"/*.deb --to debian/bench)
    elapsed=$(secs $(($(now_ms) - t0)))
    grep -q "pipeline $r: promoted" <<<"$out" || { echo "round $r was not promoted:" >&2; echo "$out" >&2; exit 1; }
    changed=$(count_changed)
    staged_left=$(find "$WORK/staging" -type f -not -path '*/.buildmaster-meta/*' | wc -l)
    echo "round $r: $CHANGED gated into $PACKAGES: ${elapsed} s, $changed objects created or changed, $staged_left left in staging"
    times+=("$elapsed")
done
echo "median: $(median "${times[@]}") s per gated push of $CHANGED into $PACKAGES (target <= 2 s); load: $(cut -d' ' -f1-3 /proc/loadavg)"
