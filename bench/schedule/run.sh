#!/usr/bin/env bash
# Schedule quality: makespan of our critical-path scheduler and of HaikuPorter's FIFO policy against the
# lower bound max(critical path, total work / builders), on generated ports-like graphs
# (src/scheduler/generate.rs documents their shape). Environment: PORTS (5000), BUILDERS (4), SEEDS (5).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --release --example schedule-bench
"${CARGO_TARGET_DIR:-target}/release/examples/schedule-bench" "${PORTS:-5000}" "${BUILDERS:-4}" "${SEEDS:-5}"
