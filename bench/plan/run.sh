#!/usr/bin/env bash
# Planning-speed benchmark (issue 6 "Planning speed", issue 12 "Planning on the real tree"). Times the
# release `buildmaster --state-dir S plan --everything` from outside:
#   cold: the recipe cache removed before each run (COLD_RUNS runs) — every recipe goes through bash;
#   warm: the cache left in place (WARM_RUNS runs) — stat + cache, no bash;
#   touch: one recipe's content changed before each run — exactly one recipe re-evaluated.
# Each plan run's evaluated/cached counts come from its `-v` log line. It also reports the evaluation
# alone (bench/plan/ports_eval.rs, `PortsTree::load`) and the machine load before and after.
#
# TREE=generated (default): examples/ports_tree_gen.rs's HaikuPorts-shaped tree (RECIPES recipes, seed
# SEED) with its generated haiku/haiku_devel system packages.
# TREE=real: the real HaikuPorts tree (scripts/real-inputs.sh; a hard-linked copy, so touching a recipe
# never changes the shared extraction), Haiku's system packages built from the real PackageInfos with our
# `buildmaster hpkg create`, `allow_untested = false` as HaikuPorter's bootstrap config; and HaikuPorter's
# own `--repository-update` on the same tree in the same run, set up as its buildmaster bootstrap does
# (bench/real-tree/haikuporter-env.sh): cold (its repository removed, HP_COLD_RUNS runs) and warm
# (HP_WARM_RUNS runs), with the ratios to ours.
#
# Environment: TREE (generated), RECIPES (3900), SEED (1), COLD_RUNS (5), WARM_RUNS (7), JOBS (0 = one per
# core), HP_COLD_RUNS (3), HP_WARM_RUNS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."

RECIPES="${RECIPES:-3900}"
SEED="${SEED:-1}"
COLD_RUNS="${COLD_RUNS:-5}"
WARM_RUNS="${WARM_RUNS:-7}"
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 1; }

KIND="${TREE:-generated}"
case "$KIND" in generated | real) ;; *) echo "TREE must be generated or real" >&2; exit 2 ;; esac
cargo build --quiet --release --bin buildmaster --example ports_tree_gen --example ports-eval
TARGET="${CARGO_TARGET_DIR:-target}/release"
BIN="$TARGET/buildmaster"

WORK="$(mktemp -d /tmp/buildmaster-plan-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
TREE="$WORK/haikuports"
STATE="$WORK/state"
mkdir -p "$STATE"
if [ "$KIND" = generated ]; then
    "$TARGET/examples/ports_tree_gen" "$TREE" --recipes "$RECIPES" --seed "$SEED" \
        --system-packages "$STATE/system-packages"
    ALLOW_UNTESTED=true
    LICENSES=""
else
    REAL="$(bash scripts/real-inputs.sh)"
    cp -al "$REAL/haikuports" "$TREE" 2>/dev/null || cp -a "$REAL/haikuports" "$TREE"
    # Haiku's system packages, as a bootstrap places them: empty payloads, the real PackageInfos.
    mkdir -p "$STATE/system-packages" "$WORK/empty"
    for info in "$REAL"/syspkg-infos/*.PackageInfo; do
        # name-version-architecture.hpkg, as Haiku's build names them
        file="$(awk '$1 == "name" {n=$2} $1 == "version" {v=$2} $1 == "architecture" {a=$2}
            END {print n "-" v "-" a ".hpkg"}' "$info")"
        "$BIN" hpkg create -i "$info" -C "$WORK/empty" "$STATE/system-packages/$file"
    done
    ls "$STATE/system-packages"
    ALLOW_UNTESTED=false
    LICENSES="licenses_directory = \"$REAL/licenses\""
fi
cat >"$STATE/buildmaster.toml" <<EOF
[ports]
tree = "$TREE"
target_architecture = "x86_64"
allow_untested = $ALLOW_UNTESTED
$LICENSES
system_packages = "$STATE/system-packages"
EOF
echo "tree: $KIND, $(find "$TREE" -name '*.recipe' | wc -l) recipes"
CACHE="$STATE/recipe-cache.sqlite"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

# median FILE: the median of the numbers in FILE, with min and max.
median() {
    sort -g "$1" | awk '{v[NR]=$1} END {printf "median %.3f s (min %.3f, max %.3f; %d runs)", v[int((NR+1)/2)], v[1], v[NR], NR}'
}

# run_plan LABEL RUNS PREPARE: times `plan --everything` RUNS times, running PREPARE before each; the
# last run's evaluated/cached counts come from its `-v` "planned" log line.
run_plan() {
    local label="$1" runs="$2" prepare="$3"
    : >"$WORK/wall" ; : >"$WORK/cpu"
    for i in $(seq "$runs"); do
        eval "$prepare"
        NO_COLOR=1 /usr/bin/time -f '%e %U %S' -o "$WORK/time" \
            "$BIN" -v --state-dir "$STATE" plan --everything --json >"$WORK/plan.json" 2>"$WORK/plan.log"
        read -r wall user sys <"$WORK/time"
        echo "$wall" >>"$WORK/wall"
        echo "$user $sys" | awk '{print $1+$2}' >>"$WORK/cpu"
    done
    printf 'plan --everything, %s: wall %s; CPU %s; last: %s\n' "$label" "$(median "$WORK/wall")" \
        "$(median "$WORK/cpu")" "$(grep -o 'recipes=[0-9]* evaluated=[0-9]* cached=[0-9]*' "$WORK/plan.log" | tail -n 1)"
    sort -g "$WORK/wall" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}' >"$WORK/median.$label"
}

# run_haikuporter LABEL RUNS PREPARE: times HaikuPorter's `--repository-update` (as its buildmaster script
# runs it) RUNS times on the same tree, running PREPARE before each.
run_haikuporter() {
    local label="$1" runs="$2" prepare="$3"
    : >"$WORK/wall" ; : >"$WORK/cpu"
    for i in $(seq "$runs"); do
        eval "$prepare"
        /usr/bin/time -f '%e %U %S' -o "$WORK/time" python3 "$REAL/haikuporter/haikuporter.py" \
            --config "$HP/haikuports.conf" --no-package-obsoletion --repository-update >"$WORK/hp.log" 2>&1
        read -r wall user sys <"$WORK/time"
        echo "$wall" >>"$WORK/wall"
        echo "$user $sys" | awk '{print $1+$2}' >>"$WORK/cpu"
    done
    printf 'haikuporter --repository-update, %s: wall %s; CPU %s\n' "$label" "$(median "$WORK/wall")" \
        "$(median "$WORK/cpu")"
    sort -g "$WORK/wall" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}' >"$WORK/median.hp-$label"
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
if [ "$KIND" = real ]; then
    # shellcheck source=bench/real-tree/haikuporter-env.sh
    . bench/real-tree/haikuporter-env.sh
    HP="$WORK/haikuporter"
    haikuporter_setup "$REAL" "$HP"
    run_haikuporter cold "${HP_COLD_RUNS:-3}" 'rm -rf "$HP/haikuports/repository"'
    run_haikuporter warm "${HP_WARM_RUNS:-3}" ':'
    awk -v hp="$(cat "$WORK/median.hp-cold")" -v ours="$(cat "$WORK/median.cold")" \
        'BEGIN {printf "ratio, cold: haikuporter %.2f s / ours %.2f s = %.1fx\n", hp, ours, hp / ours}'
    awk -v hp="$(cat "$WORK/median.hp-warm")" -v ours="$(cat "$WORK/median.warm")" \
        'BEGIN {printf "ratio, warm: haikuporter %.2f s / ours %.2f s = %.1fx\n", hp, ours, hp / ours}'
fi
python3 - "$WORK/plan.json" <<'EOF' || true
import collections, json, sys
plan = json.load(open(sys.argv[1]))
sizes = {k: len(v) for k, v in plan.items() if isinstance(v, list)}
print("last plan:", ", ".join(f"{k}={v}" for k, v in sizes.items()))
kinds = collections.Counter(s["reason"]["kind"] for s in plan.get("skipped", []))
print("skipped by reason:", ", ".join(f"{k}={v}" for k, v in kinds.most_common()))
EOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
