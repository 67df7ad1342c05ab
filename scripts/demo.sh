#!/usr/bin/env bash
# The main job on the embedded defaults: `buildmaster serve` with the example ports tree (examples/ports),
# the local builder (running the HaikuPorter stand-in, tools/haikuporter-standin) and filesystem storage
# in the state directory. It plans the tree, builds every port, publishes the repository (upload → verify
# → stub → index) and serves the web UI and API until Ctrl-C; SIGINT/SIGTERM stop it cleanly, and a
# buildrun that was running resumes at the next start.
#
# Usage: bash scripts/demo.sh [STATE_DIR]        (default: ./buildmaster-state)
#   LISTEN=127.0.0.1:8080     where the UI is served
#   BUILDMASTER_BIN=path      use this binary instead of building one (cargo build --release)
#   HAIKUPORTER_DIR=path      the HaikuPorter checkout whose resolver the stand-in uses (default: the one
#                             scripts/real-inputs.sh extracts)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${1:-buildmaster-state}"
LISTEN="${LISTEN:-127.0.0.1:8080}"
if [ -z "${BUILDMASTER_BIN:-}" ]; then
    cargo build --quiet --release --bin buildmaster
    BUILDMASTER_BIN="${CARGO_TARGET_DIR:-target}/release/buildmaster"
fi
mkdir -p "$STATE/repository"
# Every repository needs its repo.info (name, vendor, identifier, …); the example's is a starting point.
[ -f "$STATE/repository/repo.info" ] || cp examples/repo.info "$STATE/repository/repo.info"
# The stand-in packs the built files with this same binary.
BUILDMASTER_BIN="$(realpath "$BUILDMASTER_BIN")"
export BUILDMASTER="$BUILDMASTER_BIN"
# The stand-in decides whether a build's visible packages suffice with HaikuPorter's own resolver: it
# needs a HaikuPorter checkout (HAIKUPORTER_DIR), by default the one scripts/real-inputs.sh extracts.
if [ -z "${HAIKUPORTER_DIR:-}" ]; then
    real="$(bash scripts/real-inputs.sh)" || {
        echo "buildmaster demo: set HAIKUPORTER_DIR to a HaikuPorter checkout (https://github.com/haikuports/haikuporter)" >&2
        exit 1
    }
    export HAIKUPORTER_DIR="$real/haikuporter"
fi
echo "buildmaster: building examples/ports, publishing to $STATE/storage, UI on http://$LISTEN/ (Ctrl-C stops)"
exec "$BUILDMASTER_BIN" --state-dir "$STATE" serve --config examples/buildmaster.toml --listen "$LISTEN"
