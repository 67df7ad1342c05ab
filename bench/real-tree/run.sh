#!/usr/bin/env bash
# The real-tree oracle comparison (issue 12): HaikuPorter's view of the real HaikuPorts tree against ours,
# entry for entry. In one run:
#   1. extracts the real inputs once (scripts/real-inputs.sh) and sets HaikuPorter up as its buildmaster
#      bootstrap does (haikuporter-env.sh: x86_64, ALLOW_UNTESTED unset);
#   2. HaikuPorter's view: haikuporter_view.py runs its `--repository-update` and dumps every active port
#      with its packages, plus the skipped and broken recipes (cold ~90 s the first time, warm ~2 s after;
#      COLD=1 forces a cold one);
#   3. ours: `buildmaster ports dump` on the same tree with an equivalent buildmaster.toml and a fresh
#      recipe cache;
#   4. compare.py: counts per difference class; exits 1 if a class is not in known-differences.tsv or has
#      more differences than listed there (see docs/real-tree.md).
# Outputs stay in WORK (default ~/.cache/buildmaster-real-work): haikuporter-view.json, ours.json and
# differences.txt (every difference, by class).
#
# Environment: WORK, COLD (0), EXAMPLES (3 per class).
set -euo pipefail
cd "$(dirname "$0")/../.."
here="bench/real-tree"
REAL="$(bash scripts/real-inputs.sh)"
WORK="${WORK:-$HOME/.cache/buildmaster-real-work}"
mkdir -p "$WORK"
# shellcheck source=bench/real-tree/haikuporter-env.sh
. "$here/haikuporter-env.sh"

cargo build --quiet --release --bin buildmaster
BIN="${CARGO_TARGET_DIR:-target}/release/buildmaster"

haikuporter_setup "$REAL" "$WORK/haikuporter"
if [ "${COLD:-0}" = 1 ]; then
    rm -rf "$WORK/haikuporter/haikuports/repository"
fi
python3 "$here/haikuporter_view.py" --haikuporter "$REAL/haikuporter" \
    --config "$WORK/haikuporter/haikuports.conf" --out "$WORK/haikuporter-view.json" \
    >"$WORK/haikuporter.log"

STATE="$WORK/ours"
rm -rf "$STATE"
mkdir -p "$STATE"
cat >"$STATE/buildmaster.toml" <<TOML
[ports]
tree = "$REAL/haikuports"
target_architecture = "x86_64"
allow_untested = false
licenses_directory = "$REAL/licenses"
TOML
start="$(date +%s.%N)"
"$BIN" --state-dir "$STATE" ports dump >"$WORK/ours.json"
echo "ours: ports dump (cold) $(echo "$(date +%s.%N) - $start" | bc) s" >&2

python3 "$here/compare.py" --haikuporter "$WORK/haikuporter-view.json" --ours "$WORK/ours.json" \
    --known "$here/known-differences.tsv" --details "$WORK/differences.txt" \
    --examples "${EXAMPLES:-3}"
