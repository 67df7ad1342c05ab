#!/usr/bin/env bash
# Planning-speed benchmark (issue 6, "Planning speed"): on a generated HaikuPorts-shaped tree
# (examples/ports_tree_gen.rs: RECIPES recipes, seed SEED, plus the haiku/haiku_devel system packages),
# times the release `buildmaster --state-dir S plan --everything` from outside:
#   cold: the recipe cache removed before each run (COLD_RUNS runs) — every recipe goes through bash;
#   warm: the cache left in place (WARM_RUNS runs) — stat + cache, no bash;
#   touch: one recipe's content changed before each run — exactly one recipe re-evaluated.
# It also reports the evaluation alone (bench/plan/ports_eval.rs, `PortsTree::load`) with the
# evaluated/cached counts, and the machine load before and after.
#
# Environment: RECIPES (3900), SEED (1), COLD_RUNS (5), WARM_RUNS (7), JOBS (0 = one per core).
set -euo pipefail
cd "$(dirname "$0")/../.."

RECIPES="${RECIPES:-3900}"
SEED="${SEED:-1}"
COLD_RUNS="${COLD_RUNS:-5}"
WARM_RUNS="${WARM_RUNS:-7}"
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 1; }

cargo build --quiet --release --bin buildmaster --example ports_tree_gen --example ports-eval
TARGET="${CARGO_TARGET_DIR:-target}/release"
BIN="$TARGET/buildmaster"

WORK="$(mktemp -d /tmp/buildmaster-plan-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
TREE="$WORK/haikuports"
STATE="$WORK/state"
mkdir -p "$STATE"
"$TARGET/examples/ports_tree_gen" "$TREE" --recipes "$RECIPES" --seed "$SEED" \
    --system-packages "$STATE/system-packages"
cat >"$STATE/buildmaster.toml" <<EOF
[ports]
tree = "$TREE"
target_architecture = "x86_64"
system_packages = "$STATE/system-packages"
EOF
CACHE="$STATE/recipe-cache.sqlite"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

# median FILE: the median of the numbers in FILE, with min and max.
median() {
    sort -g "$1" | awk '{v[NR]=$1} END {printf "median %.3f s (min %.3f, max %.3f; %d runs)", v[int((NR+1)/2)], v[1], v[NR], NR}'
}

# run_plan LABEL RUNS PREPARE: times `plan --everything` RUNS times, running PREPARE before each.
run_plan() {
    local label="$1" runs="$2" prepare="$3"
    : >"$WORK/wall" ; : >"$WORK/cpu"
    for i in $(seq "$runs"); do
        eval "$prepare"
        /usr/bin/time -f '%e %U %S' -o "$WORK/time" \
            "$BIN" --state-dir "$STATE" plan --everything --json >"$WORK/plan.json"
        read -r wall user sys <"$WORK/time"
        echo "$wall" >>"$WORK/wall"
        echo "$user $sys" | awk '{print $1+$2}' >>"$WORK/cpu"
    done
    printf 'plan --everything, %s: wall %s; CPU %s\n' "$label" "$(median "$WORK/wall")" "$(median "$WORK/cpu")"
}

# run_eval LABEL RUNS PREPARE: evaluation alone, with its counts.
run_eval() {
    local label="$1" runs="$2" prepare="$3"
    : >"$WORK/eval"
    for i in $(seq "$runs"); do
        eval "$prepare"
        "$TARGET/examples/ports-eval" "$TREE" --cache "$CACHE" --jobs "${JOBS:-0}" >"$WORK/eval.out"
        sed -n 's/^elapsed_s=\([0-9.]*\).*/\1/p' "$WORK/eval.out" >>"$WORK/eval"
    done
    printf 'evaluation only, %s: %s; last: %s\n' "$label" "$(median "$WORK/eval")" "$(head -1 "$WORK/eval.out")"
}

# Changes one recipe's content (its REVISION) so exactly that recipe must be evaluated again.
TOUCHED="$(find "$TREE" -name '*.recipe' | sort | awk '{r[NR]=$0} END {print r[int((NR+1)/2)]}')"
touch_one() { sed -i 's/^REVISION="\([0-9]*\)"/REVISION="1\1"/' "$TOUCHED"; }

run_eval cold "$COLD_RUNS" 'rm -f "$CACHE" "$CACHE-wal" "$CACHE-shm"'
run_eval warm "$WARM_RUNS" ':'
run_eval "one recipe changed" 3 'touch_one'
run_plan cold "$COLD_RUNS" 'rm -f "$CACHE" "$CACHE-wal" "$CACHE-shm"'
run_plan warm "$WARM_RUNS" ':'
run_plan "one recipe changed" 3 'touch_one'
python3 - "$WORK/plan.json" <<'EOF' || true
import json, sys
plan = json.load(open(sys.argv[1]))
sizes = {k: len(v) for k, v in plan.items() if isinstance(v, list)}
print("last plan:", ", ".join(f"{k}={v}" for k, v in sizes.items()))
EOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
