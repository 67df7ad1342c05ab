#!/usr/bin/env bash
# `buildmaster repo check` on the 2,333-package vector repository (`../shared/vectors/sample-repo.hpkr`):
# ROUNDS rounds, each running BEFORE (another build of buildmaster, to compare with) and then the
# release binary of this checkout, interleaved so that both see the same load. Prints each side's
# median wall time and median CPU (user+sys from getrusage: `/usr/bin/time` rounds to 10 ms, about a
# fifth of one run) and the load average.
#
# Environment: ROUNDS (5), BEFORE (default: the release binary itself), AFTER (default: this checkout's
# release binary, built first), SYSTEM (a system-packages directory to pass, default none).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-5}"
if [ -z "${AFTER:-}" ]; then
    cargo build --quiet --release --bin buildmaster
    AFTER="${CARGO_TARGET_DIR:-target}/release/buildmaster"
fi
BEFORE="${BEFORE:-$AFTER}"
REPO="../shared/vectors/sample-repo.hpkr"
[ -f "$REPO" ] || { echo "repo_check bench: $REPO is missing (the shared folder beside the checkout)" >&2; exit 1; }
python3 - "$ROUNDS" "$BEFORE" "$AFTER" "$REPO" "${SYSTEM:-}" <<'PY'
import resource, statistics, subprocess, sys, time
rounds, before, after, repo, system = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
extra = ["--system-packages", system] if system else []
runs = {"before": [], "after": []}
for _ in range(rounds):
    for side, binary in (("before", before), ("after", after)):
        r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        # Exit code 3 (unresolvable requirements) is the vector's normal answer.
        code = subprocess.run([binary, "repo", "check", *extra, repo], stdout=subprocess.DEVNULL).returncode
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        if code not in (0, 3):
            sys.exit(f"{binary} repo check exited {code}")
        runs[side].append((t1 - t0, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))
for side, binary in (("before", before), ("after", after)):
    wall = sorted(w for w, _ in runs[side])
    cpu = statistics.median(c for _, c in runs[side])
    print(f"{side} ({binary}): wall median {statistics.median(wall) * 1e3:.1f} ms "
          f"({wall[0] * 1e3:.1f}-{wall[-1] * 1e3:.1f}), CPU median {cpu * 1e3:.1f} ms")
print("load average:", " ".join(open("/proc/loadavg").read().split()[:3]))
PY
