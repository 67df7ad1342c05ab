# The Debian build on a Linux builder, run as
#   sh -eu -c "$(this file)" debian-build TARBALL WORK SOURCE DEPS INPUTS RESULTS
# This text is a constant: every input arrives as a positional parameter and is only ever expanded
# inside double quotes, so no name or path from a recipe tree can become shell syntax.
#   TARBALL  the build root made once by `mmdebstrap --variant=buildd` (a tar file on the builder)
#   WORK     this build's directory; removed and made anew, the root is unpacked into WORK/root
#   SOURCE   the source package directory (with debian/) in the builder's copy of the recipe tree
#   DEPS     the directory holding exactly this job's dependency .debs (the flow's visible set)
#   INPUTS   the job's input files (.orig tarballs from the source cache), copied beside the source
#            as dpkg-source expects and unpacked under the packaging (see below); may be missing (a
#            native package has none)
#   RESULTS  where the .deb, .buildinfo and .changes files are moved at the end: outside WORK, which
#            the purge after a build removes before the results join the builder's package cache
tarball=$1 work=$2 source=$3 deps=$4 inputs=$5 results=$6
root=$work/root
name=$(basename "$source")
rm -rf --one-file-system "$work" "$results"
mkdir -p "$root"
tar -x -f "$tarball" -C "$root"
mkdir -p "$root/build/$name" "$root/build-deps"
if [ -d "$inputs" ]; then
    find "$inputs" -maxdepth 1 -type f -exec cp -t "$root/build" {} +
fi
# A tree holds only the packaging (git-buildpackage's overlay layout): the upstream tarballs are
# unpacked first, as `dpkg-source -x` does (the main one into the source directory without its top
# directory, each .orig-COMPONENT one into COMPONENT/), then upstream's own debian/ is dropped and
# the tree's directory copied over them. dpkg-buildpackage applies debian/patches itself.
for orig in "$root/build"/*.orig.tar.* "$root/build"/*.orig-*.tar.*; do
    case $orig in *.asc | *"*"*) continue ;; esac
    into=$root/build/$name
    case $orig in *.orig-*)
        component=${orig##*.orig-}
        into=$into/${component%%.tar.*}
        mkdir -p "$into" ;;
    esac
    tar -x --no-same-owner --strip-components=1 -f "$orig" -C "$into"
done
rm -rf --one-file-system "$root/build/$name/debian"
cp -a "$source/." "$root/build/$name/"
# The visible set holds links into the package cache; the root gets real copies (cp -L), since the
# cache is outside the chroot.
find "$deps" -maxdepth 1 -name '*.deb' -exec cp -L -t "$root/build-deps" {} +
# Both steps that run code from packages or the recipe run in a new network namespace: it has no
# interface but an unconfigured loopback, so nothing in them can reach any host.
if [ -n "$(ls -A "$root/build-deps")" ]; then
    unshare --net -- chroot "$root" dpkg --install --recursive /build-deps
fi
unshare --net -- chroot "$root" env -i --chdir="/build/$name" \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/build LC_ALL=C.UTF-8 \
    dpkg-buildpackage --build=binary --no-sign
mkdir -p "$results"
find "$root/build" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.buildinfo' -o -name '*.changes' \) \
    -exec mv -t "$results" {} +
