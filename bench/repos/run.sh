#!/usr/bin/env bash
# Push delta cost of the Debian and RPM repositories (issue 14, acceptance 5), side by side with the
# reference tools, in one run:
#   Debian: a PACKAGES-package suite (one, amd64), then ROUNDS rounds of CHANGED packages (half new
#     versions, half new names): `buildmaster push` end to end (release build; filesystem backend, and
#     garage S3 on 127.0.0.1 when installed) vs `aptly repo add` + `aptly publish update` of the same
#     files into an aptly repository of the same PACKAGES, published to a filesystem endpoint.
#   RPM: the same against `cp` + `createrepo_c --update` + copying the packages and repodata into place.
#     Into garage, the reference also uploads its 10 packages and new repodata with `aws s3 cp` (when
#     aws-cli is installed): createrepo_c --update + upload, as issue 14 words it.
# Both sides unsigned (no signing_key; aptly -skip-signing) and without what ours does not write
# (aptly -skip-contents; createrepo_c --no-database). Prints each round and the medians, the requests
# ours made per push (files created or changed in the fs backend's directory; garage's own request
# counters), the publish's phases (from push's debug log) and the machine load.
#
# Packages are synthetic but real (bench/repos/gen_packages.rs, bench/repos/rpms.sh); one of each is checked with dpkg-deb
# and rpm, and aptly and createrepo_c read all of them.
#
# Environment: PACKAGES (10000), CHANGED (10), ROUNDS (5), GARAGE_BIN, KEEP_WORK (keep the work dir),
# BUILDMASTER (a buildmaster binary to time instead of this tree's release build).
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES="${PACKAGES:-10000}" CHANGED="${CHANGED:-10}" ROUNDS="${ROUNDS:-5}"

missing=()
command -v aptly >/dev/null || missing+=(aptly)
command -v createrepo_c >/dev/null || missing+=(createrepo-c)
command -v dpkg-deb >/dev/null || missing+=(dpkg)
command -v rpm >/dev/null || missing+=(rpm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing reference tools; install them with: apt-get install -y ${missing[*]}" >&2
    exit 1
fi

WORK="$(mktemp -d /tmp/buildmaster-repos-bench.XXXXXX)"
GARAGE_PID=
cleanup() {
    [ -n "$GARAGE_PID" ] && kill "$GARAGE_PID" 2>/dev/null && wait "$GARAGE_PID" 2>/dev/null
    [ -n "${KEEP_WORK:-}" ] && { echo "work dir kept: $WORK" >&2; return; }
    rm -rf "$WORK"
}
trap cleanup EXIT

TARGET="${CARGO_TARGET_DIR:-target}/release"
# A given BUILDMASTER with the generator already built needs no build (the shared tree may not
# compile while others work in it).
if [ -z "${BUILDMASTER:-}" ] || [ ! -x "$TARGET/examples/repos-bench-gen" ]; then
    cargo build --quiet --release --bin buildmaster --example repos-bench-gen
fi
BIN="${BUILDMASTER:-$TARGET/buildmaster}" GEN="$TARGET/examples/repos-bench-gen"

now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# CPU time (user + system) of the children this shell waited for: `cpu_mark` and `cpu_stop` record it
# (the `times` builtin, run in this shell: in a subshell it would count the subshell's children), and
# `cpu_spent` prints the seconds between the two.
cpu_mark() { times >"$WORK/cpu.mark"; }
cpu_stop() { times >"$WORK/cpu.now"; }
cpu_spent() {
    awk 'function s(t, a) { split(t, a, /[ms]/); return a[1] * 60 + a[2] }
        FNR == 2 { c[FILENAME] = s($1) + s($2) } END { printf "%.3f", c[ARGV[2]] - c[ARGV[1]] }' "$WORK/cpu.mark" "$WORK/cpu.now"
}

# --- Packages ------------------------------------------------------------------------------------
HALF=$((CHANGED / 2))
# shellcheck source=bench/repos/rpms.sh
. bench/repos/rpms.sh
gen() { # FORMAT OUT FIRST COUNT VERSION
    local fmt="$1"
    shift
    if [ "$fmt" = deb ]; then "$GEN" "$@"; else gen_rpms "$@"; fi
}
t0=$(now_ms)
for fmt in deb rpm; do
    for ((first = 0; first < PACKAGES; first += 1000)); do
        gen "$fmt" "$WORK/$fmt/base" "$first" $((PACKAGES - first < 1000 ? PACKAGES - first : 1000)) 1.0
    done
    for r in $(seq "$ROUNDS"); do
        # Half new versions of existing packages, half new names; every round different ones.
        gen "$fmt" "$WORK/$fmt/round-$r" $(((r - 1) * HALF)) "$HALF" "1.$r"
        gen "$fmt" "$WORK/$fmt/round-$r" $((PACKAGES + (r - 1) * (CHANGED - HALF))) $((CHANGED - HALF)) 1.0
    done
done
echo "generated $((2 * (PACKAGES + ROUNDS * CHANGED))) packages in $(secs $(($(now_ms) - t0))) s"
dpkg-deb --info "$WORK/deb/base/bm-bench-00001_1.0-1_amd64.deb" >/dev/null
rpm -qp --requires "$WORK/rpm/base/bm-bench-00001-1.0-1.noarch.rpm" >/dev/null

# --- Our instances: one per storage backend, a Debian suite and an RPM repository each ------------
BACKENDS=(fs)
REPOSITORIES='[[repositories]]
id = "debian/bench"
root = "apt"
[repositories.debian]
codename = "bench"
architectures = ["amd64"]

[[repositories]]
id = "el/9/x86_64"
root = "rpm/el/9/x86_64"
[repositories.rpm]
distro = "el"
release = "9"
arch = "x86_64"'
mkdir -p "$WORK/fs/state" "$WORK/fs/bucket"
printf '%s\n' "$REPOSITORIES" >"$WORK/fs/state/buildmaster.toml"
printf '{"backend_type": "fs", "path": "%s"}\n' "$WORK/fs/bucket" >"$WORK/fs/storage.json"
chmod 600 "$WORK/fs/storage.json"
GARAGE="${GARAGE_BIN:-$HOME/.cache/buildmaster-test-tools/bin/garage}"
if [ -x "$GARAGE" ]; then
    # shellcheck source=bench/common/garage.sh
    . bench/common/garage.sh
    BACKENDS+=(garage)
    mkdir -p "$WORK/garage/state"
    printf '%s\n' "$REPOSITORIES" >"$WORK/garage/state/buildmaster.toml"
    cat >"$WORK/garage/storage.json" <<STORAGE_JSON
{"backend_type": "s3", "endpoint_url": "$ENDPOINT", "region_name": "us-east-1",
 "access_key_id": "$ACCESS_KEY", "secret_access_key": "$SECRET_KEY", "bucket_name": "$BUCKET",
 "prefix": "bench"}
STORAGE_JSON
    chmod 600 "$WORK/garage/storage.json"
    # The reference's upload into the same garage (createrepo_c --update + upload, issue 14), when
    # aws-cli is installed (bench/storage/run.sh installs it).
    if command -v aws >/dev/null; then
        printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' >"$WORK/aws.config"
        export AWS_CONFIG_FILE="$WORK/aws.config" AWS_SHARED_CREDENTIALS_FILE=/dev/null
        export AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY"
        AWS=(aws --endpoint-url "$ENDPOINT" --only-show-errors)
    fi
else
    echo "garage not found at $GARAGE (scripts/install-test-tools.sh): filesystem backend only" >&2
fi
push() { # BACKEND REPO FILE… (debug log, with the publish's phase timings, in $WORK/push.err)
    local backend="$1" repo="$2"
    shift 2
    "$BIN" --state-dir "$WORK/$backend/state" --storage-backend-config "$WORK/$backend/storage.json" \
        -vv push "$@" --to "$repo" 2>"$WORK/push.err"
}
# The publish's phases from push's debug log (src/repos/records.rs, src/formats/{debian,rpm}): reading
# the repository's records (RPM: listing them without their entries, src/repos/records.rs `listing`), rendering the index text, compressing (only chunks not cached) and
# hashing; milliseconds, "read render compress chunks". RPM renders whole chunks from its chunk cache
# (src/formats/rpm/chunk_cache.rs): its "render" is finding the chunks, reading the cached ones and
# rendering + compressing the others ("chunks": rendered/all), its "compress" joining the gzip
# members and hashing (open-checksum over all the XML); Debian's "chunks" is "-".
phases() {
    awk 'function ms(line) { if (!match(line, /ms=[0-9.]+/)) return -1; return substr(line, RSTART + 3, RLENGTH - 3) }
        /linked packages (read|listed)/ { r = $0 } / rendered / { t = $0 } /compressed and hashed/ { c = $0 }
        function field(line, name) { if (!match(line, name "=[0-9]+")) return "-"; return substr(line, RSTART + length(name) + 1, RLENGTH - length(name) - 1) }
        END { n = field(t, "rendered_chunks"); printf "%.1f %.1f %.1f %s", ms(r), ms(t), ms(c), n == "-" ? n : n "/" field(t, " chunks") }' "$WORK/push.err"
}
# Garage's own S3 request counters, "endpoint count" per line.
garage_requests() {
    curl -s "http://127.0.0.1:$P_ADMIN/metrics" |
        sed -n 's/^api_s3_request_counter{api_endpoint="\([A-Za-z]*\)"} \([0-9.e+]*\)$/\1 \2/p' | sort
}
# Objects created or changed (path, size, mtime) in the fs backend's directory; not its metadata
# sidecars (.buildmaster-meta/, one per object written).
fs_snapshot() { find "$WORK/fs/bucket" -path '*/.buildmaster-meta' -prune -o -type f -printf '%P %s %T@\n' | sort; }

# --- aptly: a local repository published to a filesystem endpoint --------------------------------
cat >"$WORK/aptly.conf" <<APTLY
{"rootDir": "$WORK/aptly", "architectures": ["amd64"],
 "FileSystemPublishEndpoints": {"bench": {"rootDir": "$WORK/aptly-public", "linkMethod": "copy"}}}
APTLY
aptly() { command aptly -config="$WORK/aptly.conf" "$@"; }

# --- createrepo_c: a working directory, copied into place -------------------------------------------
mkdir -p "$WORK/crc/work" "$WORK/crc/public/repodata"

# --- The 10,000-package repositories (not timed as the result) -------------------------------------
t0=$(now_ms)
for backend in "${BACKENDS[@]}"; do
    push "$backend" debian/bench "$WORK"/deb/base/*.deb >/dev/null
    push "$backend" el/9/x86_64 "$WORK"/rpm/base/*.rpm >/dev/null
done
echo "ours: initial pushes of $PACKAGES .deb and $PACKAGES .rpm (${BACKENDS[*]}) in $(secs $(($(now_ms) - t0))) s"
t0=$(now_ms)
aptly repo create -distribution=bench -component=main bench >/dev/null
aptly repo add bench "$WORK/deb/base" >/dev/null 2>&1
aptly publish repo -skip-signing -skip-contents -architectures=amd64 bench filesystem:bench: >/dev/null
echo "aptly: initial add + publish in $(secs $(($(now_ms) - t0))) s"
t0=$(now_ms)
cp "$WORK"/rpm/base/*.rpm "$WORK/crc/work/"
createrepo_c --quiet --no-database "$WORK/crc/work"
cp -a "$WORK/crc/work/." "$WORK/crc/public/"
echo "createrepo_c: initial repository in $(secs $(($(now_ms) - t0))) s"

# --- Rounds: the same CHANGED files into each, interleaved so load hits every side alike ----------
declare -A T   # T[side] = space-separated seconds per round
declare -A N   # N[side] = space-separated request counts per round
record() { T[$1]="${T[$1]:-} $2"; }
last() { echo "${T[$1]##* }"; }
count() { N[$1]="${N[$1]:-} $2"; }
for r in $(seq "$ROUNDS"); do
    echo "round $r (load $(cut -d' ' -f1-3 /proc/loadavg)):"
    for fmt in deb rpm; do
        [ "$fmt" = deb ] && repo=debian/bench || repo=el/9/x86_64
        files=("$WORK/$fmt/round-$r"/*."$fmt")
        for backend in "${BACKENDS[@]}"; do
            [ "$backend" = fs ] && fs_snapshot >"$WORK/before"
            [ "$backend" = garage ] && garage_requests >"$WORK/before"
            t0=$(now_ms)
            cpu_mark
            push "$backend" "$repo" "${files[@]}" >"$WORK/push.out"
            t=$(secs $(($(now_ms) - t0)))
            cpu_stop
            record "$fmt-$backend" "$t"
            record "$fmt-$backend-cpu" "$(cpu_spent)"
            read -r p_read p_render p_compress p_chunks <<<"$(phases)"
            record "$fmt-$backend-read" "$p_read"
            record "$fmt-$backend-render" "$p_render"
            record "$fmt-$backend-compress" "$p_compress"
            if [ "$backend" = fs ]; then
                fs_snapshot >"$WORK/after"
                changed=$(comm -13 "$WORK/before" "$WORK/after" | wc -l)
                count "$fmt-fs" "$changed"
                detail="$changed objects written"
                [ "$r" = 1 ] && comm -13 "$WORK/before" "$WORK/after" | cut -d' ' -f1 |
                    sed 's|/[0-9a-f]\{64\}/.*|/<sha256>/<file>|; s|/[0-9a-f]\{64\}|/<sha256>|; s|/[0-9a-f][0-9a-f]/<sha256>/|/<aa>/<sha256>/|' |
                    sort | uniq -c | sed 's/^/        /' >"$WORK/written-$fmt"
            else
                garage_requests >"$WORK/after"
                detail=$(join -a2 "$WORK/before" "$WORK/after" |
                    awk 'NF == 2 { $3 = $2; $2 = 0 } $3 - $2 > 0 { printf "%s%s %d", sep, $1, $3 - $2; sep = ", " }')
                puts=$(join -a2 "$WORK/before" "$WORK/after" |
                    awk '$1 == "PutObject" { print (NF == 2 ? $2 : $3 - $2) }')
                count "$fmt-garage" "${puts:-0}"
            fi
            printf '  %s ours (%s): %s s (CPU %s s), %s; phases: read %s ms, render %s ms (chunks rendered: %s), compress+hash %s ms\n' \
                "$fmt" "$backend" "$t" "$(last "$fmt-$backend-cpu")" "$detail" "$p_read" "$p_render" "$p_chunks" "$p_compress"
        done
        if [ "$fmt" = deb ]; then
            t0=$(now_ms)
            aptly repo add bench "$WORK/deb/round-$r" >/dev/null 2>&1
            t1=$(now_ms)
            aptly publish update -skip-signing -skip-contents bench filesystem:bench: >/dev/null
            t2=$(now_ms)
            record deb-aptly-add "$(secs $((t1 - t0)))"
            record deb-aptly-update "$(secs $((t2 - t1)))"
            record deb-aptly "$(secs $((t2 - t0)))"
            printf '  deb aptly: repo add %s s + publish update %s s\n' "$(secs $((t1 - t0)))" "$(secs $((t2 - t1)))"
        else
            t0=$(now_ms)
            cpu_mark
            cp "${files[@]}" "$WORK/crc/work/"
            createrepo_c --quiet --no-database --update "$WORK/crc/work"
            t1=$(now_ms)
            cp "${files[@]}" "$WORK/crc/public/"
            cp -a "$WORK/crc/work/repodata/." "$WORK/crc/public/repodata/"
            t2=$(now_ms)
            cpu_stop
            record rpm-createrepo "$(secs $((t2 - t0)))"
            record rpm-createrepo-cpu "$(cpu_spent)"
            printf '  rpm createrepo_c: cp + --update %s s, into place %s s (CPU %s s)\n' "$(secs $((t1 - t0)))" \
                "$(secs $((t2 - t1)))" "$(last rpm-createrepo-cpu)"
            if [ -n "${AWS[*]:-}" ]; then
                # Into a bucket, as ours on garage: the 10 packages and the new repodata with one
                # `aws s3 cp --recursive` (staged outside the timing; one process, every file at once, no
                # order: less than a publisher that puts repomd.xml last must do).
                rm -rf "$WORK/crc/stage" && mkdir -p "$WORK/crc/stage/repodata"
                cp "${files[@]}" "$WORK/crc/stage/"
                cp -a "$WORK/crc/work/repodata/." "$WORK/crc/stage/repodata/"
                t3=$(now_ms)
                "${AWS[@]}" s3 cp --recursive "$WORK/crc/stage" "s3://$BUCKET/crc/"
                t4=$(now_ms)
                record rpm-createrepo-s3 "$(secs $((t1 - t0 + t4 - t3)))"
                printf '  rpm createrepo_c into garage: cp + --update %s s, aws s3 cp %s s\n' "$(secs $((t1 - t0)))" \
                    "$(secs $((t4 - t3)))"
            fi
        fi
    done
done

# --- Medians --------------------------------------------------------------------------------------
echo
echo "medians of $ROUNDS rounds, $CHANGED packages into $PACKAGES (load now $(cut -d' ' -f1-3 /proc/loadavg)):"
# shellcheck disable=SC2086 # word splitting of the recorded lists is the point
{
    m_aptly=$(median ${T[deb-aptly]}) m_update=$(median ${T[deb-aptly-update]})
    m_crc=$(median ${T[rpm-createrepo]}) m_crc_cpu=$(median ${T[rpm-createrepo-cpu]})
    printf '  aptly repo add + publish update: %s s (publish update alone %s s, repo add %s s)\n' \
        "$m_aptly" "$m_update" "$(median ${T[deb-aptly-add]})"
    printf '  createrepo_c --update + copy into place: %s s\n' "$m_crc"
    [ -n "${T[rpm-createrepo-s3]:-}" ] && m_crc_s3=$(median ${T[rpm-createrepo-s3]}) &&
        printf '  createrepo_c --update + aws s3 cp into garage: %s s\n' "$m_crc_s3"
    for backend in "${BACKENDS[@]}"; do
        m=$(median ${T[deb-$backend]})
        printf '  deb ours (%s): %s s = %s× aptly add+update, %s× publish update alone; %s requests (%s)\n' \
            "$backend" "$m" "$(ratio "$m" "$m_aptly")" "$(ratio "$m" "$m_update")" \
            "$(median ${N[deb-$backend]})" "$([ "$backend" = fs ] && echo "objects written" || echo PutObject)"
        m=$(median ${T[rpm-$backend]})
        printf '  rpm ours (%s): %s s = %s× createrepo_c; %s requests (%s)\n' \
            "$backend" "$m" "$(ratio "$m" "$m_crc")" "$(median ${N[rpm-$backend]})" \
            "$([ "$backend" = fs ] && echo "objects written" || echo PutObject)"
        [ "$backend" = garage ] && [ -n "${m_crc_s3:-}" ] &&
            printf '    = %s× createrepo_c --update + aws s3 cp into garage\n' "$(ratio "$m" "$m_crc_s3")"
        m=$(median ${T[rpm-$backend-cpu]})
        printf '    CPU (user + system): %s s = %s× createrepo_c'"'"'s %s s\n' "$m" "$(ratio "$m" "$m_crc_cpu")" "$m_crc_cpu"
        for fmt in deb rpm; do
            printf '    %s (%s) phases, medians: read records %s ms, render %s ms, compress+hash %s ms\n' \
                "$fmt" "$backend" "$(median ${T[$fmt-$backend-read]})" "$(median ${T[$fmt-$backend-render]})" \
                "$(median ${T[$fmt-$backend-compress]})"
        done
    done
}
for fmt in deb rpm; do
    echo "objects written by our first $fmt push (fs backend):"
    cat "$WORK/written-$fmt"
done
