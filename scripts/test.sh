#!/usr/bin/env bash
# The whole test suite: installs the real components the tests talk to (cached), then runs every test
# of the workspace. This is the README's test command and what CI runs after its lint gates.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/install-test-tools.sh)"
cargo test --workspace --no-fail-fast
