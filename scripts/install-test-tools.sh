#!/usr/bin/env bash
# Installs what the test suite needs and is not on a fresh machine, caching it outside the checkout so
# that later runs (and CI, which runs on the developer's machine) reuse it:
#   - garage 2.5.0, the S3 server the storage tests talk to (about 11 minutes to build once).
#   - OpenSSH server, sftp-server and client: the builder tests start real sshd on 127.0.0.1 (~18 s).
#   - podman, runc, catatonit, mmdebstrap: scripts/container-smoke.sh builds and runs the image (~35 s);
#     its image store and build cache live in ~/.cache/buildmaster-podman.
#   - Chromium: the web UI test drives headless Chromium over the DevTools protocol.
#   - dnf, rpm and gpg: tests/rpm_dnf.rs builds, signs and installs real RPMs (~1 min).
#     rpm2cpio (rpm2archive): tests/rpm_build.rs reads files out of the RPMs it built.
#   - lintian: tests/gate_push.rs runs Debian's linter as the gate's lint check (~30 s).
#   - a Debian bookworm build root (mmdebstrap --variant=buildd, as a tarball in $TOOLS): the root that
#     tests/debian_build.rs unpacks per build for dpkg-buildpackage (~2 min once; reads apt's sources).
# Prints the environment to export (GARAGE_BIN) on stdout.
set -euo pipefail

TOOLS="${BUILDMASTER_TOOLS:-$HOME/.cache/buildmaster-test-tools}"
GARAGE_VERSION=2.5.0

if [ ! -x "$TOOLS/bin/garage" ] || ! "$TOOLS/bin/garage" --version 2>/dev/null | grep -q "cargo:$GARAGE_VERSION"; then
    echo "installing garage $GARAGE_VERSION into $TOOLS (one-time, ~11 min on 2 cores)" >&2
    cargo install --locked "garage@$GARAGE_VERSION" --root "$TOOLS" >&2
fi
# sftp-server: the test sshd runs OpenSSH's sftp-server -P rename (refusing plain rename as Haiku's BFS does).
if [ ! -x /usr/sbin/sshd ] || [ ! -x /usr/lib/openssh/sftp-server ]; then
    echo "installing OpenSSH server and client for the builder tests" >&2
    apt-get update >&2
    apt-get install -y --no-install-recommends openssh-server openssh-sftp-server openssh-client >&2
fi
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v mmdebstrap >/dev/null ||
    [ ! -x /usr/libexec/podman/catatonit ]; then
    echo "installing podman, runc, catatonit and mmdebstrap for the container smoke test" >&2
    apt-get update >&2
    apt-get install -y --no-install-recommends podman runc catatonit mmdebstrap >&2
fi
if ! command -v chromium >/dev/null; then
    echo "installing Chromium for the web UI browser test (headless, DevTools protocol)" >&2
    apt-get update >&2
    apt-get install -y --no-install-recommends chromium >&2
fi
if ! command -v dnf >/dev/null || ! command -v rpmbuild >/dev/null || ! command -v rpmsign >/dev/null ||
    ! command -v gpg >/dev/null || ! command -v rpm2archive >/dev/null; then
    echo "installing dnf, rpm (rpmbuild, rpmsign) and gpg for the RPM repository test (tests/rpm_dnf.rs)" >&2
    apt-get update >&2
    apt-get install -y --no-install-recommends dnf rpm rpm2cpio gpg >&2
fi
if ! command -v lintian >/dev/null; then
    echo "installing lintian for the gate's lint check test (tests/gate_push.rs)" >&2
    apt-get update >&2
    apt-get install -y --no-install-recommends lintian >&2
fi
# The Debian build root: build-essential and dpkg-dev, nothing else; written to a temporary name and
# renamed, so that an interrupted run never leaves a half tarball that later runs would take as done.
DEBIAN_BUILDD="$TOOLS/debian-buildd-bookworm.tar"
if [ ! -s "$DEBIAN_BUILDD" ]; then
    echo "making the Debian bookworm build root $DEBIAN_BUILDD with mmdebstrap (one-time)" >&2
    mkdir -p "$TOOLS"
    mmdebstrap --variant=buildd --mode=root --format=tar bookworm "$DEBIAN_BUILDD.partial" >&2
    mv "$DEBIAN_BUILDD.partial" "$DEBIAN_BUILDD"
fi
echo "export GARAGE_BIN=$TOOLS/bin/garage"
