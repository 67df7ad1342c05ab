#!/usr/bin/env bash
# Repository-index benchmark: times the release `buildmaster` binary from outside (wall clock, CPU time
# and peak RSS from getrusage), RUNS times each, and prints the medians and the highest peak:
#   (a) `repo update -t` of a COUNT-package repository synthesised from the real sample repository's
#       entries (distinct names), keeping all but NEW old entries and adding NEW freshly built packages
#       — the path HaikuPorter takes after every build;
#   (b) `repo create` from COUNT real .hpkg files built with our `hpkg create` code;
#   (c) `repo update -t` of the real 2,333-package `sample-repo.hpkr` with every entry reused (the
#       case issue 14 states Haiku's own `package_repo` takes 0.150 s CPU for).
# Fixtures come from examples/index_bench.rs and are not timed.
#
# Environment: RUNS (7), COUNT (10000), NEW (10), SKIP_CREATE (unset: run every part); BUILDMASTER (the
# binary to time, default the release build; set it to an older build to compare in one run).
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS="${RUNS:-7}"
COUNT="${COUNT:-10000}"
NEW="${NEW:-10}"

cargo build --quiet --release --bin buildmaster --example index_bench
TARGET="${CARGO_TARGET_DIR:-target}/release"
BIN="${BUILDMASTER:-$TARGET/buildmaster}"
FIXTURES="$TARGET/examples/index_bench"

WORK="$(mktemp -d /tmp/buildmaster-index-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# run_once CMD...: runs CMD once; prints its wall time, CPU time (user + system, from getrusage: to the
# microsecond, where /usr/bin/time rounds to 10 ms) and peak RSS in KiB.
run_once() {
    python3 -c '
import resource, subprocess, sys, time
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
wall = time.monotonic() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(f"{wall:.4f} {cpu:.4f} {after.ru_maxrss}")' "$@"
}

# measure NAME CMD...: runs CMD RUNS times; prints the median wall time (min, max), the median CPU time
# (user + system: what the run costs when the machine is busy with other work) and the peak RSS.
measure() {
    local name="$1"; shift
    local times=() cpus=() peak=0
    for _ in $(seq "$RUNS"); do
        local wall cpu rss
        read -r wall cpu rss < <(run_once "$@")
        times+=("$wall"); cpus+=("$cpu")
        [ "$rss" -gt "$peak" ] && peak="$rss"
    done
    local sorted median min max cpu
    sorted=$(printf '%s\n' "${times[@]}" | sort -g)
    median=$(echo "$sorted" | awk -v n="$RUNS" 'NR==int((n+1)/2) {print}')
    min=$(echo "$sorted" | head -1)
    max=$(echo "$sorted" | tail -1)
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

# (c) update -t of the sample vector, every entry reused
C="$WORK/reuse"; mkdir -p "$C"
SAMPLE="$("$FIXTURES" reuse "$C")"
measure "update -t, sample-repo.hpkr (2,333 packages, all reused)" \
    "$BIN" repo update -t "$SAMPLE" "$C/new-repo" "$C/package.list"
"$BIN" repo list -f "$C/new-repo" | wc -l | xargs echo "  new repository lists packages:"

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
