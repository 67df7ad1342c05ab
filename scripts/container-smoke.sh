#!/usr/bin/env bash
# Container smoke test (CI runs it after the test suite): builds the image from ./Containerfile with
# podman, starts garage on 127.0.0.1, runs the image as operators do and checks it end to end:
#   - the image: non-root user, HEALTHCHECK, ENTRYPOINT ["buildmaster", "serve"], SIGTERM stop signal;
#   - the daemon serves the UI and /healthz on 127.0.0.1 (HTTP 200), `podman healthcheck run` passes;
#   - the API refuses a publish without the token; with it, the daemon publishes to garage (read back
#     over HTTP as pkgman would);
#   - `podman stop` (SIGTERM) ends it within the timeout with exit code 0 and a clean-shutdown log line.
# Idempotent: the Debian base image is made only when missing; podman's store and build cache live in
# $BUILDMASTER_PODMAN_DIR (default ~/.cache/buildmaster-podman), so a rerun rebuilds only what changed.
# Containers, volume, garage and the work directory are removed on exit. Prints a timing per step.
# Needs: podman, runc, catatonit, mmdebstrap, garage (scripts/install-test-tools.sh installs them all).
set -euo pipefail
cd "$(dirname "$0")/.."

PODMAN_DIR="${BUILDMASTER_PODMAN_DIR:-$HOME/.cache/buildmaster-podman}"
BASE_IMAGE=localhost/debian:bookworm-slim
IMAGE=localhost/buildmaster:smoke
NAME="buildmaster-smoke-$$"
VOLUME="$NAME-state"
# How long `podman stop` waits after SIGTERM before it kills; the daemon must be done well before.
STOP_TIMEOUT=30
# How long the daemon may take from start to answering /healthz.
START_TIMEOUT=60

die() { echo "container-smoke: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
T_START=$(now)
T_LAP=$T_START
TIMINGS=()
# Seconds from $1 to now, one decimal.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# Records how long the step that just ended took.
lap() {
    local secs
    secs=$(since "$T_LAP")
    TIMINGS+=("$(printf '%-30s %6s s' "$1" "$secs")")
    echo "container-smoke: $1 done ($secs s)" >&2
    T_LAP=$(now)
}

for tool in podman runc mmdebstrap curl python3 openssl; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-test-tools.sh"
done
[ -x /usr/libexec/podman/catatonit ] || die "catatonit is missing: run scripts/install-test-tools.sh"

# podman settings this machine needs (../shared/docs/test-infra.md): runc (crun refuses the hybrid
# cgroups), rlimits within the hard limits, and a store of our own instead of /var/lib/containers.
mkdir -p "$PODMAN_DIR"
cat >"$PODMAN_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
cat >"$PODMAN_DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$PODMAN_DIR/run"
graphroot = "$PODMAN_DIR/storage"
EOF
export CONTAINERS_CONF="$PODMAN_DIR/containers.conf" CONTAINERS_STORAGE_CONF="$PODMAN_DIR/storage.conf"

WORK=$(mktemp -d /tmp/buildmaster-smoke.XXXXXX)
GARAGE_PID=
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && podman container exists "$NAME" 2>/dev/null; then
        echo "container-smoke: last log lines of $NAME:" >&2
        podman logs --tail 40 "$NAME" >&2 || true
    fi
    podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    [ -z "$GARAGE_PID" ] || kill "$GARAGE_PID" 2>/dev/null || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

# ---- the base image: Debian bookworm minbase, made locally (no registry here) ----
if ! podman image exists "$BASE_IMAGE"; then
    echo "container-smoke: making $BASE_IMAGE with mmdebstrap (one-time)" >&2
    # Documentation, man pages and translations are left out, in the image and in every package later
    # installed into it (the dpkg excludes stay in /etc/dpkg/dpkg.cfg.d), as the official slim images do.
    mmdebstrap --variant=minbase --mode=root --format=tar \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        bookworm "$WORK/base.tar" >"$WORK/mmdebstrap.log" 2>&1 ||
        { tail -20 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap could not make the base image"; }
    podman import --quiet --change 'CMD ["bash"]' "$WORK/base.tar" "$BASE_IMAGE" >/dev/null
    rm "$WORK/base.tar"
fi
lap "base image"

# ---- the image ----
build_args=(--format docker --network=host --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE")
# Behind a TLS-inspecting proxy the build's downloads need this machine's extra CAs (see Containerfile).
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    build_args+=(-v /usr/local/share/ca-certificates:/run/build-ca:ro)
fi
previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
podman build "${build_args[@]}" . >"$PODMAN_DIR/last-build.log" 2>&1 ||
    { tail -40 "$PODMAN_DIR/last-build.log" >&2; die "podman build failed (whole log: $PODMAN_DIR/last-build.log)"; }
# Drop the image the previous run built (and its untagged parents), so the store does not grow run after
# run. No `image prune`: it would also drop the build stage's cached layers (the compiler packages).
current=$(podman image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
fi
lap "image build"

python3 - "$(podman image inspect "$IMAGE")" <<'PY' || die "the image's metadata is not what the Containerfile promises"
import json, sys
image = json.loads(sys.argv[1])[0]
c = image["Config"]
c["Healthcheck"] = image.get("Healthcheck")
problems = []
if c.get("User", "").split(":")[0] in ("", "root", "0"):
    problems.append(f"runs as root (User={c.get('User')!r})")
if c.get("Entrypoint") != ["buildmaster", "serve"]:
    problems.append(f"Entrypoint is {c.get('Entrypoint')!r}")
if (c.get("Healthcheck") or {}).get("Test", [None])[0] not in ("CMD", "CMD-SHELL"):
    problems.append(f"no HEALTHCHECK (Healthcheck={c.get('Healthcheck')!r}); was it built with --format docker?")
if c.get("StopSignal") not in ("SIGTERM", "15", "TERM"):
    problems.append(f"StopSignal is {c.get('StopSignal')!r}")
if list((c.get("Volumes") or {}).keys()) != ["/var/lib/buildmaster"]:
    problems.append(f"Volumes are {c.get('Volumes')!r}")
for p in problems:
    print("container-smoke: image:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
version=$(podman run --rm --no-healthcheck --network=none --entrypoint buildmaster "$IMAGE" --version) ||
    die "buildmaster --version does not run in the image"
echo "container-smoke: $IMAGE: $version, $((size / 1000000)) MB" >&2

# ---- garage on 127.0.0.1, its web endpoint opened for reading back like pkgman ----
# shellcheck source=../bench/common/garage.sh
source bench/common/garage.sh
"$GARAGE" -c "$WORK/garage.toml" bucket website --allow "$BUCKET" >/dev/null
PREFIX=smoke/x86_64/current
# The storage config holds the S3 keys: readable by the container's user (UID 10001) only.
cat >"$WORK/storage.json" <<EOF
{"backend_type": "s3", "endpoint_url": "$ENDPOINT", "region_name": "us-east-1",
 "access_key_id": "$ACCESS_KEY", "secret_access_key": "$SECRET_KEY",
 "bucket_name": "$BUCKET", "prefix": "$PREFIX/"}
EOF
# The API token, mounted as a file the same way.
openssl rand -hex 24 >"$WORK/api-token"
chown 10001:10001 "$WORK/storage.json" "$WORK/api-token"
chmod 600 "$WORK/storage.json" "$WORK/api-token"
# Reads an object of the bucket over garage's web endpoint (anonymous HTTP, as pkgman does).
web_get() { curl -fsS -H "Host: $BUCKET.web.test" "http://127.0.0.1:$P_WEB/$PREFIX/$1"; }
lap "garage"

# ---- the state volume, prepared by the image's own user (proves the volume is writable to it) ----
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
podman volume create "$VOLUME" >/dev/null
podman run --rm --no-healthcheck --network=none -v "$VOLUME:/var/lib/buildmaster" \
    -v "$PWD/examples:/examples:ro" \
    --entrypoint sh "$IMAGE" -ec "
        printf '[serve]\nlisten = \"127.0.0.1:$PORT\"\ntoken_file = \"/run/secrets/api-token\"\n' \
            > buildmaster.toml
        mkdir -p repository packages
        cp /examples/repo.info repository/repo.info
        buildmaster hpkg create -i /examples/packages/libgreet-1.2.0-1.PackageInfo \
            -C /examples/packages/libgreet-1.2.0-1 packages/libgreet-1.2.0-1-x86_64.hpkg
        sha256sum packages/libgreet-1.2.0-1-x86_64.hpkg > libgreet.sha256" ||
    die "could not prepare the state volume as the image's user"
PACKAGE_SHA256=$(podman run --rm --no-healthcheck --network=none -v "$VOLUME:/var/lib/buildmaster" \
    --entrypoint cut "$IMAGE" -d' ' -f1 libgreet.sha256)
lap "state volume"

# ---- run it as an operator would ----
run_args=(
    -d --name "$NAME"
    --init                          # catatonit as PID 1 reaps git's and bash's orphans, forwards SIGTERM
    --network=host                  # the daemon listens on 127.0.0.1:$PORT of this machine
    --read-only                     # everything it writes goes to the state volume (and tmpfs /tmp)
    --cap-drop=ALL --security-opt=no-new-privileges
    -v "$VOLUME:/var/lib/buildmaster"
    -v "$WORK/storage.json:/run/secrets/storage.json:ro"
    -v "$WORK/api-token:/run/secrets/api-token:ro"
    -e STORAGE_BACKEND_CONFIG=/run/secrets/storage.json
)
# Without systemd, podman 4.3 logs an error for every health-check timer it cannot set up; the check
# itself works on demand (`podman healthcheck run`, below), so those lines are only noise.
no_timer_noise() { grep -v 'unable to get systemd connection' >&2 || true; }
podman run "${run_args[@]}" "$IMAGE" 2> >(no_timer_noise) >/dev/null || die "podman run failed"
for _ in $(seq $((START_TIMEOUT * 10))); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
    [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" = true ] ||
        die "the container exited before serving (exit code $(podman inspect --format '{{.State.ExitCode}}' "$NAME"))"
    sleep 0.1
done
lap "container start to /healthz"

# ---- HTTP: the UI and the health endpoint on 127.0.0.1 ----
# Fetches http://127.0.0.1:$PORT$1 into $WORK/body and insists on 200.
get_200() {
    local code
    code=$(curl -sS -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$PORT$1") ||
        die "GET $1: no answer on 127.0.0.1:$PORT"
    [ "$code" = 200 ] || die "GET $1 answered $code: $(head -c 300 "$WORK/body")"
}
get_200 /
grep -qi '<html' "$WORK/body" || die "GET / answered 200 but not with the web UI (no <html>)"
get_200 /healthz
podman healthcheck run "$NAME" >"$WORK/health" 2>&1 || die "podman healthcheck run: $(cat "$WORK/health")"
lap "UI, /healthz, healthcheck"

# ---- a publish by the daemon, asked through its API, read back from garage ----
# Without the token the API must refuse; with it the daemon accepts and publishes with the storage config
# that STORAGE_BACKEND_CONFIG names.
publish_url="http://127.0.0.1:$PORT/api/publish"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$publish_url")
[ "$code" = 401 ] || [ "$code" = 403 ] || die "POST /api/publish without the token answered $code, not 401/403"
code=$(curl -sS -o "$WORK/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$WORK/api-token")" \
    "$publish_url")
[ "$code" = 202 ] || die "POST /api/publish with the token answered $code: $(head -c 300 "$WORK/body")"
# repo.sha256 is uploaded last: once it is there, the whole publish is.
for _ in $(seq 300); do web_get repo.sha256 >/dev/null 2>&1 && break; sleep 0.1; done
web_get repo.sha256 >/dev/null 2>&1 ||
    die "the daemon did not publish to garage within 30 s (container log above on exit)"
web_get repo.info | grep -q '^name Example' || die "repo.info in garage is not the instance's"
got=$(web_get packages/libgreet-1.2.0-1-x86_64.hpkg | sha256sum | cut -d' ' -f1)
[ "$got" = "$PACKAGE_SHA256" ] || die "the package in garage has SHA-256 $got, the built one $PACKAGE_SHA256"
index_sum=$(web_get repo | sha256sum | cut -d' ' -f1)
web_get repo.sha256 | grep -q "$index_sum" || die "repo.sha256 in garage does not match repo"
lap "publish to garage"

# ---- SIGTERM: a clean stop well within the timeout ----
t=$(now)
podman stop -t "$STOP_TIMEOUT" "$NAME" 2> >(no_timer_noise) >/dev/null || die "podman stop failed"
stop_secs=$(since "$t")
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || die "after SIGTERM the daemon exited with $code, not 0 (137 = killed after ${STOP_TIMEOUT}s)"
podman logs "$NAME" >"$WORK/container.log" 2>&1
grep -q 'stopped cleanly' "$WORK/container.log" || die "no clean-shutdown line ('stopped cleanly') in the log"
! grep -q $'\e\\[' "$WORK/container.log" || die "the container's log has terminal colour codes (NO_COLOR unset?)"
lap "stop on SIGTERM"

echo "container-smoke: PASS ($version, image $((size / 1000000)) MB, stopped ${stop_secs} s after SIGTERM)"
printf '  %s\n' "${TIMINGS[@]}"
printf '  %-30s %6s s\n' total "$(since "$T_START")"
