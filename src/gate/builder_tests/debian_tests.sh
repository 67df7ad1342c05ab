# A staged Debian package's autopkgtest-style tests on a Linux builder, run as
#   sh -eu -c "$(this file)" buildmaster-debian-tests TARBALL WORK SOURCE DEBS [NAME BODY TEXT FLAGS DEPENDS]...
# This text is a constant: every input is a positional parameter, only ever expanded inside double
# quotes (a Test-Command is run by `sh -ec` inside the root, as autopkgtest runs it).
#   TARBALL  the build root made once by `mmdebstrap --variant=buildd` (a tar file on the builder)
#   WORK     this run's directory; removed and made anew, the root is unpacked into WORK/root
#   SOURCE   a directory holding debian/tests/ (copied to /src in the root: the tests' cwd)
#   DEBS     the directory holding exactly the package under test and its staged dependencies
# Then five parameters per test:
#   NAME     the test's name (a file debian/tests/NAME when BODY is "file")
#   BODY     "file" or "command"
#   TEXT     the Test-Command ("" for a file)
#   FLAGS    words: allow-stderr, skippable, flaky, skip-not-installable
#   DEPENDS  one "name" or "name op version" per line: must be installed in the root
tarball=$1 work=$2 source=$3 debs=$4
shift 4
root=$work/root
rm -rf --one-file-system "$work"
mkdir -p "$root"
tar -x -f "$tarball" -C "$root"
mkdir "$root/test-debs" "$root/src"
# The visible set holds links into the package cache; the root gets real copies (cp -L).
find "$debs" -maxdepth 1 -name '*.deb' -exec cp -L -t "$root/test-debs" {} +
cp -R "$source/." "$root/src/"
echo "buildmaster: installing into a fresh root, without network:"
( cd "$root/test-debs" && sha256sum -- *.deb )
unshare --net -- chroot "$root" dpkg --install --recursive /test-debs
ran=0 failed=0 summary=""
note() { summary="$summary$1
"; }
# Runs its arguments in the root as a test: no network, a cleared environment, cwd /src.
in_root() {
    unshare --net -- chroot "$root" env -i --chdir=/src \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
        AUTOPKGTEST_TMP="$tmp" ADTTMP="$tmp" "$@"
}
while [ $# -ge 5 ]; do
    name=$1 body=$2 text=$3 flags=" $4 " depends=$5
    shift 5
    missing=""
    while IFS=' ' read -r dep op version; do
        [ -n "$dep" ] || continue
        installed=$(chroot "$root" dpkg-query -W -f='${db:Status-Status} ${Version}' "$dep" 2>/dev/null || true)
        case $installed in
            "installed "*) ;;
            *) missing="$missing $dep"; continue ;;
        esac
        if [ -n "$op" ] && ! chroot "$root" dpkg --compare-versions "${installed#installed }" "$op" "$version"; then
            missing="$missing $dep($op $version)"
        fi
    done <<EOF
$depends
EOF
    if [ -n "$missing" ]; then
        case $flags in
            *" skip-not-installable "*) note "$name SKIP test dependencies not installed:$missing" ;;
            *) note "$name FAIL test dependencies not installed (nothing is fetched):$missing"; failed=1 ;;
        esac
        continue
    fi
    echo "buildmaster: running test $name"
    tmp=/tmp/autopkgtest.$name
    rm -rf "$root$tmp" && mkdir -p "$root$tmp"
    status=0
    if [ "$body" = file ]; then
        chmod a+x "$root/src/debian/tests/$name"
        in_root "/src/debian/tests/$name" 2>"$work/stderr" || status=$?
    else
        in_root sh -ec "$text" 2>"$work/stderr" || status=$?
    fi
    if [ -s "$work/stderr" ]; then
        echo "--- stderr of $name:"
        cat "$work/stderr"
    fi
    ran=$((ran + 1))
    verdict=PASS
    if [ "$status" = 77 ] && [ "${flags#* skippable }" != "$flags" ]; then
        verdict="SKIP exit status 77 (skippable)"
        ran=$((ran - 1))
    elif [ "$status" != 0 ]; then
        verdict="FAIL non-zero exit status $status"
    elif [ -s "$work/stderr" ] && [ "${flags#* allow-stderr }" = "$flags" ]; then
        verdict="FAIL stderr: $(head -n 1 "$work/stderr")"
    fi
    case $verdict in
        FAIL*)
            if [ "${flags#* flaky }" != "$flags" ]; then
                verdict="FLAKY ${verdict#FAIL }"
            else
                failed=1
            fi
            ;;
    esac
    note "$name $verdict"
done
echo "buildmaster: summary"
printf '%s' "$summary"
[ "$failed" = 0 ] || exit 1
[ "$ran" -gt 0 ] || exit 8
