# Sourced by bench/real-tree/run.sh and bench/plan/run.sh: sets HaikuPorter up the way its buildmaster
# bootstrap does (haikuporter/buildmaster/backend/assets/bootstrap), on the real inputs.
#
# haikuporter_setup REAL DIR: DIR/haikuports becomes a hard-linked copy of REAL/haikuports (HaikuPorter
# writes its work directories, packages/ and repository/ into the tree, as the bootstrap's config leaves
# OUTPUT_DIRECTORY unset; the shared extraction stays untouched), and DIR/haikuports.conf holds the
# bootstrap's settings for x86_64 with no secondary architecture and ALLOW_UNTESTED unset. Kept between
# runs: HaikuPorter's repository then makes the next run warm; remove DIR/haikuports/repository for a cold
# one. Prints nothing; fails if the inputs are missing.
haikuporter_setup() {
    local real="$1" dir="$2"
    [ -d "$real/haikuports" ] && [ -d "$real/haikuporter/HaikuPorter" ] \
        || { echo "haikuporter_setup: $real lacks haikuports/ or haikuporter/" >&2; return 1; }
    command -v gcc >/dev/null || { echo "haikuporter_setup: HaikuPorter needs gcc on PATH" >&2; return 1; }
    mkdir -p "$dir"
    if [ ! -e "$dir/.tree-linked" ]; then
        rm -rf "$dir/haikuports"
        # Hard links when the cache and DIR share a file system, a plain copy otherwise.
        cp -al "$real/haikuports" "$dir/haikuports" 2>/dev/null || cp -a "$real/haikuports" "$dir/haikuports"
        touch "$dir/.tree-linked"
    fi
    # The bootstrap's lines, with this machine's paths (it uses /var/buildmaster and /var/licenses).
    cat >"$dir/haikuports.conf" <<CONF
TREE_PATH="$dir/haikuports"
LICENSES_DIRECTORY="$real/licenses"
PACKAGE_COMMAND="package"
PACKAGE_REPO_COMMAND="package_repo"
PACKAGER="buildmaster x86_64 <buildmaster@haiku-os.org>"
TARGET_ARCHITECTURE="x86_64"
CONF
}
