#!/usr/bin/env bash
# Repository-index benchmark: times the release `buildmaster` binary from outside with /usr/bin/time -v
# (wall clock and peak RSS), RUNS times each, and prints the median and the highest peak:
#   (a) `repo update -t` of a COUNT-package repository synthesised from the real sample repository's
#       entries (distinct names), keeping all but NEW old entries and adding NEW freshly built packages
#       — the path HaikuPorter takes after every build;
#   (b) `repo create` from COUNT real .hpkg files built with our `hpkg create` code.
# Fixtures come from examples/index_bench.rs and are not timed.
#
# Environment: RUNS (7), COUNT (10000), NEW (10), SKIP_CREATE (unset: run both parts).
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS="${RUNS:-7}"
COUNT="${COUNT:-10000}"
NEW="${NEW:-10}"
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 1; }

cargo build --quiet --release --bin buildmaster --example index_bench
TARGET="${CARGO_TARGET_DIR:-target}/release"
BIN="$TARGET/buildmaster"
FIXTURES="$TARGET/examples/index_bench"

WORK="$(mktemp -d /tmp/buildmaster-index-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# measure NAME CMD...: runs CMD RUNS times; prints the median wall time (min, max), the median CPU time
# (user + system: what the run costs when the machine is busy with other work) and the peak RSS.
measure() {
    local name="$1"; shift
    local times=() cpus=() peak=0
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        cpus+=("$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$WORK/time.txt")")
        # m:ss.cc → seconds
        times+=("$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')")
        [ "$rss" -gt "$peak" ] && peak="$rss"
    done
    local sorted
    sorted=$(printf '%s\n' "${times[@]}" | sort -g)
    local median min max
    median=$(echo "$sorted" | awk -v n="$RUNS" 'NR==int((n+1)/2) {print}')
    min=$(echo "$sorted" | head -1)
    max=$(echo "$sorted" | tail -1)
    local cpu
    cpu=$(printf '%s\n' "${cpus[@]}" | sort -g | awk -v n="$RUNS" 'NR==int((n+1)/2) {print}')
    printf '%s: median %s s wall (min %s, max %s; %s runs), median CPU %s s, peak RSS %.1f MB\n' \
        "$name" "$median" "$min" "$max" "$RUNS" "$cpu" "$(echo "$peak" | awk '{print $1/1024}')"
}

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg)"

# (a) update -t
A="$WORK/update"; mkdir -p "$A"
"$FIXTURES" update "$A" "$COUNT" "$NEW" >/dev/null
measure "update -t, $COUNT packages ($NEW new)" \
    "$BIN" repo update -C "$A/packages" -t "$A/old-repo" "$A/new-repo" "$A/package.list"
"$BIN" repo list -f "$A/new-repo" | wc -l | xargs echo "  new repository lists packages:"

# (b) create from real .hpkg files
if [ -z "${SKIP_CREATE:-}" ]; then
    B="$WORK/create"; mkdir -p "$B"
    "$FIXTURES" create "$B" "$COUNT" >/dev/null
    mapfile -t PACKAGES < "$B/packages.args"
    du -sh "$B/packages" | awk '{print "  package files: " $1}'
    measure "create from $COUNT .hpkg files" \
        "$BIN" repo create -C "$B/packages" "$B/repo.info" "${PACKAGES[@]}"
    "$BIN" repo list -f "$B/repo" | wc -l | xargs echo "  repository lists packages:"
fi
