#!/usr/bin/env bash
# Gate cost of the HaikuPorts repository (issue 15, acceptance 7): the installability evaluation of a
# gated publish — CHANGED staged packages, each a new version requiring its predecessor, against a
# published repository of PACKAGES packages plus the system packages — ROUNDS times, release build.
# Storage requests of a gated publish are O(staged) by construction (per new package: one HEAD, one
# PUT and one verifying HEAD into staging; per promoted package: one HEAD and one CopyObject;
# tests/gate_buildrun.rs counts them on garage); this measures the CPU part, which reads the whole
# repository's records.
#
# Environment: PACKAGES (10000), CHANGED (10), ROUNDS (5).
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES="${PACKAGES:-10000}" CHANGED="${CHANGED:-10}" ROUNDS="${ROUNDS:-5}"
cargo build --quiet --release --example haikuports-bench
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"${CARGO_TARGET_DIR:-target}/release/examples/haikuports-bench" "$PACKAGES" "$CHANGED" "$ROUNDS"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
