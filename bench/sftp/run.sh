#!/usr/bin/env bash
# SFTP benchmark: streams a 1 GiB package to a builder (a real OpenSSH sshd on 127.0.0.1) through
# buildmaster's SFTP upload ("ours", bench/sftp/sftp_bench.rs built in release: pipelined 255 KiB writes,
# SHA-256 and size verified while streaming, .upload then rename) and through OpenSSH's `sftp` client with
# its default settings (`put`), in the same run, ROUNDS times, alternating; prints the medians and the
# ratio. Both are timed the same way, from outside, including connection setup, with /usr/bin/time: wall
# clock, and the client's CPU time (user + system), which is what the two cores limit on loopback and
# is less disturbed by other load on the machine than the wall clock. The load average is printed too.
#
# Environment: ROUNDS (3), SIZE_MIB (1024).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS="${ROUNDS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"

[ -x /usr/sbin/sshd ] || { echo "sshd missing: run scripts/install-test-tools.sh" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 1; }

cargo build --quiet --release --example sftp-bench
OURS="${CARGO_TARGET_DIR:-target}/release/examples/sftp-bench"

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

# --- the package: incompressible bytes, hashed once up front (ours re-hashes while streaming) ---
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/package.hpkg"
SHA=$(sha256sum "$WORK/package.hpkg" | cut -d' ' -f1)
BYTES=$(stat -c %s "$WORK/package.hpkg")

timed() { # prints "wall cpu" seconds of "$@"
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" >/dev/null 2>>"$WORK/run.log"
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$WORK/time"
}
ours=(); openssh=(); ours_cpu=(); openssh_cpu=()
for round in $(seq "$ROUNDS"); do
    rm -f "$WORK/remote/"*; sync
    read -r wall cpu < <(timed "$OURS" "$PORT" "$USER_NAME" "$WORK/clientkey" "$WORK/known_hosts" \
        "$WORK/package.hpkg" "$WORK/remote/ours.hpkg" "$SHA")
    ours+=("$wall"); ours_cpu+=("$cpu")
    [ "$(sha256sum "$WORK/remote/ours.hpkg" | cut -d' ' -f1)" = "$SHA" ] || { echo "ours: corrupt upload" >&2; exit 1; }
    rm -f "$WORK/remote/"*; sync
    echo "put $WORK/package.hpkg $WORK/remote/openssh.hpkg" >"$WORK/batch"
    read -r wall cpu < <(timed sftp -q -b "$WORK/batch" -i "$WORK/clientkey" -P "$PORT" \
        -o UserKnownHostsFile="$WORK/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
        "$USER_NAME@127.0.0.1")
    openssh+=("$wall"); openssh_cpu+=("$cpu")
    [ "$(stat -c %s "$WORK/remote/openssh.hpkg")" = "$BYTES" ] || { echo "openssh: short upload" >&2; exit 1; }
    echo "round $round: ours ${ours[-1]} s (cpu ${ours_cpu[-1]} s), openssh sftp ${openssh[-1]} s (cpu ${openssh_cpu[-1]} s); load $(cut -d' ' -f1 /proc/loadavg)" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
O=$(median "${ours[@]}"); S=$(median "${openssh[@]}")
OC=$(median "${ours_cpu[@]}"); SC=$(median "${openssh_cpu[@]}")
python3 - "$BYTES" "$O" "$S" "$OC" "$SC" "${ours[*]}" "${openssh[*]}" <<'PY'
import sys
size, o, s, oc, sc = int(sys.argv[1]), *map(float, sys.argv[2:6])
print(f"size: {size} bytes; rounds ours: {sys.argv[6]} s; rounds openssh sftp: {sys.argv[7]} s")
print(f"ours (buildmaster SFTP upload): median {o:.2f} s = {size / o / 1e6:.1f} MB/s, client CPU {oc:.2f} s")
print(f"OpenSSH sftp (defaults):        median {s:.2f} s = {size / s / 1e6:.1f} MB/s, client CPU {sc:.2f} s")
print(f"throughput ratio ours/openssh: {s / o:.2f}x; client CPU per byte ours/openssh: {oc / sc:.2f}")
PY
