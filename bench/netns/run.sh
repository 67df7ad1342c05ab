#!/bin/sh
# What `network = "none"` adds to each build step (docs/builders.md): the median wall time of starting
# `true` directly, and behind the exact prefix src/builders/network.rs puts in front of a build
# (`unshare --net` as root; `unshare --map-root-user --net` as another user, here `nobody` through
# setpriv), over RUNS starts each, ROUNDS times. Prints the load average before and after.
# Usage: bench/netns/run.sh [RUNS] [ROUNDS]   (run as root, on Linux with util-linux)
set -eu
RUNS="${1:-30}"
ROUNDS="${2:-5}"
uptime
python3 - "$RUNS" "$ROUNDS" <<'PY'
import statistics, subprocess, sys, time
runs, rounds = int(sys.argv[1]), int(sys.argv[2])
up = ["sh", "-c", 'ip link set lo up 2>/dev/null || true; exec "$@"', "sh"]
nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
cases = {
    "root, host network": ["true"],
    "root, unshare --net": ["unshare", "--net", "--", *up, "true"],
    "nobody, host network": [*nobody, "true"],
    "nobody, unshare --map-root-user --net": [*nobody, "unshare", "--map-root-user", "--net", "--", *up, "true"],
}
def median_ms(cmd):
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        xs.append(time.perf_counter() - t)
    return statistics.median(xs) * 1000
for name, cmd in cases.items():
    per_round = [median_ms(cmd) for _ in range(rounds)]
    print(f"{name:40} median of round medians {statistics.median(per_round):6.2f} ms  rounds {', '.join(f'{x:.2f}' for x in per_round)}")
PY
uptime
