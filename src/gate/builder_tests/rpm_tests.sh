# A staged RPM's tmt tests on a Linux builder, run as
#   sh -eu -c "$(this file)" buildmaster-rpm-tests TARBALL WORK TREE RPMS [NAME PATH COMMAND SECONDS RESULT REQUIRE ENV]...
# This text is a constant: every input is a positional parameter, only ever expanded inside double
# quotes (a test's command is run by `bash -e -o pipefail -c` inside the root, as tmt runs it).
#   TARBALL  the root's tarball (a tar file on the builder: a shell, coreutils and libc)
#   WORK     this run's directory; removed and made anew, the root is unpacked into WORK/root
#   TREE     the package's fmf tree (copied to /tree in the root)
#   RPMS     the directory holding exactly the package under test and its staged dependencies
# Then seven parameters per test:
#   NAME     the test's fmf name (/tests/smoke)
#   PATH     its working directory from the tree root (/tests)
#   COMMAND  its `test`
#   SECONDS  its `duration`, in seconds
#   RESULT   respect, xfail, pass or info
#   REQUIRE  one package or capability per line: must be installed in the root
#   ENV      one NAME=value per line (names checked on the master, values without newlines)
tarball=$1 work=$2 tree=$3 rpms=$4
shift 4
root=$work/root
db=/var/lib/rpm
rm -rf --one-file-system "$work"
mkdir -p "$root"
tar -x -f "$tarball" -C "$root"
mkdir "$root/test-rpms" "$root/tree"
# The visible set holds links into the package cache; the root gets real copies (cp -L).
find "$rpms" -maxdepth 1 -name '*.rpm' -exec cp -L -t "$root/test-rpms" {} +
cp -R "$tree/." "$root/tree/"
echo "buildmaster: installing with rpm into a fresh root, without network:"
( cd "$root/test-rpms" && sha256sum -- *.rpm )
rpm --root "$root" --dbpath "$db" --initdb
# The root's own files are dpkg's: its rpmdb starts empty, so rpm's dependency check cannot see
# /bin/sh or libc there. What it would refuse is shown (a path the root has is marked so), then the
# packages are installed with --nodeps; whether they resolve is the installability check's (dnf).
unresolved=$(unshare --net -- rpm --root "$root" --dbpath "$db" -i --test -- "$root"/test-rpms/*.rpm 2>&1 || true)
printf '%s\n' "$unresolved" | while IFS= read -r line; do
    case $line in
        *" is needed by "*)
            need=${line#"${line%%[![:space:]]*}"}
            need=${need%% *}
            case $need in
                /*) if [ -e "$root$need" ]; then where="a file of the root"; else where="MISSING from the root"; fi ;;
                *) where="not in the root's rpmdb" ;;
            esac
            echo "buildmaster: requirement ${line#"${line%%[![:space:]]*}"} ($where)"
            ;;
    esac
done
unshare --net -- rpm --root "$root" --dbpath "$db" -i --nodeps -- "$root"/test-rpms/*.rpm
rpm --root "$root" --dbpath "$db" -qa --qf '%{NEVRA} installed\n'
mkdir -p "$root/var/tmp/buildmaster-tmt"
failed=0 index=0 summary=""
note() { summary="$summary$1
"; }
while [ $# -ge 7 ]; do
    name=$1 path=$2 command=$3 seconds=$4 result=$5 require=$6 environment=$7
    shift 7
    index=$((index + 1))
    missing=""
    while IFS= read -r package; do
        [ -n "$package" ] || continue
        rpm --root "$root" --dbpath "$db" -q --whatprovides -- "$package" >/dev/null 2>&1 ||
            missing="$missing $package"
    done <<EOF
$require
EOF
    if [ -n "$missing" ]; then
        note "$name ERROR required packages not installed (nothing is fetched):$missing"
        failed=1
        continue
    fi
    data=/var/tmp/buildmaster-tmt/$index
    mkdir -p "$root$data/data"
    printf '%s\n' "$environment" >"$root$data/environment"
    echo "buildmaster: running test $name"
    status=0
    # No network (a new namespace with only loopback), a cleared environment, a time limit; the
    # test's own variables are exported from its file by a constant wrapper.
    timeout --kill-after=10 "$seconds" unshare --net -- chroot "$root" \
        env -i --chdir="/tree$path" PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
        TMT_TREE=/tree TMT_TEST_NAME="$name" TMT_TEST_DATA="$data/data" \
        bash -c 'while IFS= read -r pair; do [ -z "$pair" ] || export "$pair"; done <"$1"
exec bash -e -o pipefail -c "$2"' buildmaster-tmt-test "$data/environment" "$command" \
        2>&1 || status=$?
    case $status in
        0) outcome=pass ;;
        1) outcome=fail ;;
        124 | 137) outcome="error timed out after ${seconds}s (duration)" ;;
        *) outcome="error exit status $status" ;;
    esac
    case $result:$outcome in
        respect:pass | xfail:fail) verdict=PASS ;;
        respect:fail) verdict="FAIL exit status 1" ;;
        xfail:pass) verdict="FAIL passed, expected to fail (result: xfail)" ;;
        pass:* | info:*) verdict="PASS (result: $result; it was ${outcome%% *})" ;;
        *) verdict="ERROR ${outcome#error }" ;;
    esac
    case $verdict in
        FAIL* | ERROR*) failed=1 ;;
    esac
    note "$name $verdict"
done
echo "buildmaster: summary"
printf '%s' "$summary"
[ "$failed" = 0 ] || exit 1
[ "$index" -gt 0 ] || exit 8
