#!/usr/bin/env bash
# SFTP benchmark: streams a 1 GiB package to a builder (a real OpenSSH sshd on 127.0.0.1) through
# buildmaster's SFTP upload ("ours", bench/sftp/sftp_bench.rs built in release: pipelined 255 KiB writes,
# SHA-256 and size verified while streaming, .upload then rename) and through OpenSSH's `sftp` client with
# its default settings (`put`), in the same run, ROUNDS times, alternating; prints the medians and the
# ratio. Both are timed the same way, from outside, including connection setup, with /usr/bin/time: wall
# clock, and the client's CPU time (user + system), which is what the two cores limit on loopback and
# is less disturbed by other load on the machine than the wall clock. The load average is printed too.
#
# WORKLOAD=job sends one build's inputs instead: a SIZE_MIB source plus DEPS dependency packages
# (sizes log-uniform from 20 KiB to 8 MiB, seed 7, so the same files every run; bytes from
# /dev/urandom), ours through the builder flow (bench/sftp/job.rs: cache::send for the source,
# PackageCache::scan + ensure for the dependencies) and OpenSSH through one `sftp -b` session of
# `put`s. Rounds alternate which side goes first. Every byte that arrived is checked with sha256sum.
#
# Environment: ROUNDS (3), SIZE_MIB (1024), WORKLOAD (single | job), DEPS (200), SFTP_BENCH_BIN (see
# below), FILES_IN_FLIGHT (job: dependencies streamed at once, bench/sftp/job.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS="${ROUNDS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"
WORKLOAD="${WORKLOAD:-single}"
DEPS="${DEPS:-200}"
[ "$WORKLOAD" = single ] || [ "$WORKLOAD" = job ] || { echo "WORKLOAD must be single or job" >&2; exit 1; }

[ -x /usr/sbin/sshd ] || { echo "sshd missing: run scripts/install-test-tools.sh" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 1; }

# SFTP_BENCH_BIN: a copy of the release binary built before (so that edits others make to the shared
# tree while the bench runs neither rebuild nor break it); otherwise it is built here.
if [ -n "${SFTP_BENCH_BIN:-}" ]; then
    OURS="$SFTP_BENCH_BIN"
else
    cargo build --quiet --release --example sftp-bench
    OURS="${CARGO_TARGET_DIR:-target}/release/examples/sftp-bench"
fi

WORK="$(mktemp -d /tmp/buildmaster-sftp-bench.XXXXXX)"
SSHD_PID=
cleanup() {
    [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- one builder: sshd on loopback (docs/test-infra.md) ---
mkdir -p /run/sshd "$WORK/remote"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/clientkey"
cp "$WORK/clientkey.pub" "$WORK/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/hostkey
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
CONF
/usr/sbin/sshd -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$WORK/hostkey.pub")" >"$WORK/known_hosts"
USER_NAME="$(id -un)"

SSH_OPTS=(-i "$WORK/clientkey" -P "$PORT" -o UserKnownHostsFile="$WORK/known_hosts"
    -o StrictHostKeyChecking=yes -o BatchMode=yes)
# CPU seconds (user + system) of the sshd sessions that have ended so far: a session's processes are
# reaped by the listening sshd, so their time adds up in its cutime + cstime (fields 16, 17).
sshd_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($16 + $17) / hz}' "/proc/$SSHD_PID/stat"; }
# The server's CPU for the session that just ended (it is reaped right after the client exits).
session_cpu() { sleep 0.2; awk -v a="$1" -v b="$(sshd_cpu)" 'BEGIN {printf "%.2f", b - a}'; }
timed() { # prints "wall cpu" seconds of "$@"
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" >/dev/null 2>>"$WORK/run.log"
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$WORK/time"
}

# --- the bytes: incompressible, hashed once up front (ours re-hashes while streaming) ---
mkdir -p "$WORK/local"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/local/source.tar.gz"
if [ "$WORKLOAD" = job ]; then
    python3 - "$DEPS" >"$WORK/sizes" <<'PY'
import random, sys
rng = random.Random(7)
for i in range(int(sys.argv[1])):
    print(f"dep{i:03d}-1.0-1-x86_64.hpkg", int(20 * 1024 * (8 * 1024 / 20) ** rng.random()))
PY
    while read -r name size; do head -c "$size" /dev/urandom >"$WORK/local/$name"; done <"$WORK/sizes"
    (cd "$WORK/local" && sha256sum source.tar.gz $(cut -d' ' -f1 "$WORK/sizes")) \
        | sed "s|  |  $WORK/local/|" >"$WORK/manifest"
    { echo "mkdir $WORK/remote/openssh"; echo "mkdir $WORK/remote/openssh/download"
      echo "mkdir $WORK/remote/openssh/packages"
      echo "put $WORK/local/source.tar.gz $WORK/remote/openssh/download/source.tar.gz"
      while read -r name _; do echo "put $WORK/local/$name $WORK/remote/openssh/packages/$name"; done <"$WORK/sizes"
    } >"$WORK/batch"
else
    sha256sum "$WORK/local/source.tar.gz" | sed "s|  |  $WORK/local/|" >"$WORK/manifest"
    echo "put $WORK/local/source.tar.gz $WORK/remote/openssh.bin" >"$WORK/batch"
fi
BYTES=$(cut -d' ' -f3 "$WORK/manifest" | xargs stat -c %s | awk '{s += $1} END {print s}')
FILES=$(wc -l <"$WORK/manifest")

# The hashes of what arrived under $1 must be exactly the manifest's (names and digests).
check_arrived() {
    local got want
    got=$(find "$1" -type f -exec sha256sum {} + | awk '{n=$2; sub(".*/", "", n); print $1, n}' | sort)
    want=$(awk '{n=$2; sub(".*/", "", n); print $1, n}' "$WORK/manifest" | sort)
    [ "$WORKLOAD" = single ] && got=$(echo "$got" | awk '{print $1}') && want=$(echo "$want" | awk '{print $1}')
    [ "$got" = "$want" ] || { echo "$2: what arrived differs from what was sent" >&2; tail "$WORK/run.log" >&2; exit 1; }
}
run_ours() {
    rm -rf "$WORK/remote/"*; sync
    local before; before=$(sshd_cpu)
    if [ "$WORKLOAD" = job ]; then
        read -r wall cpu < <(timed "$OURS" job "$PORT" "$USER_NAME" "$WORK/clientkey" "$WORK/known_hosts" \
            "$WORK/manifest" "$WORK/remote/ours")
    else
        read -r wall cpu < <(timed "$OURS" "$PORT" "$USER_NAME" "$WORK/clientkey" "$WORK/known_hosts" \
            "$WORK/local/source.tar.gz" "$WORK/remote/ours.bin" "$(cut -d' ' -f1 "$WORK/manifest")")
    fi
    ours+=("$wall"); ours_cpu+=("$cpu"); ours_server+=("$(session_cpu "$before")")
    check_arrived "$WORK/remote" ours
}
run_openssh() {
    rm -rf "$WORK/remote/"*; sync
    local before; before=$(sshd_cpu)
    read -r wall cpu < <(timed sftp -q -b "$WORK/batch" "${SSH_OPTS[@]}" "$USER_NAME@127.0.0.1")
    openssh+=("$wall"); openssh_cpu+=("$cpu"); openssh_server+=("$(session_cpu "$before")")
    check_arrived "$WORK/remote" openssh
}
ours=(); openssh=(); ours_cpu=(); openssh_cpu=(); ours_server=(); openssh_server=()
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then run_ours; run_openssh; first=ours; else run_openssh; run_ours; first=openssh; fi
    ratio=$(awk -v o="${ours[-1]}" -v s="${openssh[-1]}" 'BEGIN {printf "%.2f", s / o}')
    echo "round $round ($first first): ours ${ours[-1]} s (cpu ${ours_cpu[-1]} s, sshd ${ours_server[-1]} s), openssh sftp ${openssh[-1]} s (cpu ${openssh_cpu[-1]} s, sshd ${openssh_server[-1]} s), ratio ${ratio}x; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
O=$(median "${ours[@]}"); S=$(median "${openssh[@]}")
OC=$(median "${ours_cpu[@]}"); SC=$(median "${openssh_cpu[@]}")
echo "server (sshd) CPU per session, median: ours $(median "${ours_server[@]}") s, openssh sftp $(median "${openssh_server[@]}") s"
echo "workload: $WORKLOAD, $FILES files; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$BYTES" "$O" "$S" "$OC" "$SC" "${ours[*]}" "${openssh[*]}" <<'PY'
import sys
size, o, s, oc, sc = int(sys.argv[1]), *map(float, sys.argv[2:6])
print(f"bytes: {size}; rounds ours: {sys.argv[6]} s; rounds openssh sftp: {sys.argv[7]} s")
print(f"ours (buildmaster SFTP upload): median {o:.2f} s = {size / o / 1e6:.1f} MB/s, client CPU {oc:.2f} s")
print(f"OpenSSH sftp (defaults):        median {s:.2f} s = {size / s / 1e6:.1f} MB/s, client CPU {sc:.2f} s")
print(f"throughput ratio ours/openssh: {s / o:.2f}x; client CPU per byte ours/openssh: {oc / sc:.2f}")
PY
