#!/usr/bin/env bash
# Extracts the real inputs in ../shared/real (the HaikuPorts tree, HaikuPorter, Haiku's licence files and
# system PackageInfos) into a cache outside the checkout, once, and prints that directory on stdout.
# Tests and benchmarks read them there in place; nothing of them is ever committed.
#   <dir>/haikuports/     the real HaikuPorts tree (haikuports @785d8af8)
#   <dir>/haikuporter/    HaikuPorter 1.4.0 (@8c51a310), pure Python 3
#   <dir>/licenses/       Haiku's licence files (HaikuPorter's LICENSES_DIRECTORY)
#   <dir>/syspkg-infos/   PackageInfos of Haiku's system packages (haiku, haiku_devel, …)
# Environment: BUILDMASTER_REAL_DIR (default ~/.cache/buildmaster-real), BUILDMASTER_SHARED (default
# ../shared beside the checkout).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${BUILDMASTER_SHARED:-$here/../shared}"
DIR="${BUILDMASTER_REAL_DIR:-$HOME/.cache/buildmaster-real}"
REAL="$SHARED/real"
[ -d "$REAL" ] || { echo "real-inputs: $REAL is missing (the shared folder beside the checkout)" >&2; exit 1; }
mkdir -p "$DIR"
# Tests and the stand-in's builds call this concurrently: on a fresh machine several would otherwise
# extract the same archive over each other while others already read it. One extraction at a time; the
# others wait, then find the stamp.
exec 9>"$DIR/.lock"
flock 9
for archive in "$REAL"/*.tar.zst; do
    # One stamp per archive: a newer archive (other commit in its name) extracts beside the old one.
    stamp="$DIR/.$(basename "$archive").done"
    [ -e "$stamp" ] && continue
    echo "real-inputs: extracting $(basename "$archive") into $DIR" >&2
    tar --zstd -xf "$archive" -C "$DIR"
    touch "$stamp"
done
exec 9>&-
echo "$DIR"
