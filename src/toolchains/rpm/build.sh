# The RPM build on a Linux builder, run as
#   sh -eu -c "$(this file)" rpm-build WORK SOURCE DEPS INPUTS RESULTS SPEC
# This text is a constant: every input arrives as a positional parameter and is only ever expanded
# inside double quotes, so no name or path from a recipe tree can become shell syntax.
#   WORK     this build's directory; removed and made anew (rpmbuild's _topdir, the sources, the
#            dependency root)
#   SOURCE   the package directory (NAME.spec, `sources`, local source files) in the builder's copy
#            of the recipe tree
#   DEPS     the directory holding exactly this job's dependency .rpms (the flow's visible set)
#   INPUTS   the job's input files (the `sources` file's archives from the source cache), put beside
#            the spec as `rpmbuild -bs` expects; may be missing
#   RESULTS  where the binary .rpms are moved at the end: outside WORK, which the purge after a
#            build removes before the results join the builder's package cache
#   SPEC     the spec's file name inside SOURCE (NAME.spec)
work=$1 source=$2 deps=$3 inputs=$4 results=$5 spec=$6
top=$work/top
deproot=$work/deproot
rm -rf --one-file-system "$work" "$results"
mkdir -p "$top/SOURCES" "$deproot"
# Sources beside the spec (dist-git's layout); hidden files (.git) are not sources.
find "$source" -maxdepth 1 -type f ! -name '.*' -exec cp -t "$top/SOURCES" {} +
if [ -d "$inputs" ]; then
    find "$inputs" -maxdepth 1 -type f -exec cp -t "$top/SOURCES" {} +
fi
# Reproducible metadata: the build time and file mtimes come from the spec's newest %changelog
# entry, the build host is a constant.
set -- --define "_topdir $top" --define "_sourcedir $top/SOURCES" \
    --define "source_date_epoch_from_changelog 1" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    --define "_buildhost buildmaster"
rpmbuild "$@" -bs "$top/SOURCES/$spec"
# The dependencies go into a throwaway root with its own rpmdb: their files are what the build
# reads (under %{buildmaster_deproot}), the db is what rpmbuild checks BuildRequires against. Not
# the host's db: nothing is installed on the builder itself, and no earlier build leaks in.
rpm --root "$deproot" --dbpath /var/lib/rpm --initdb
if [ -n "$(find "$deps" -maxdepth 1 -name '*.rpm' -print -quit)" ]; then
    find "$deps" -maxdepth 1 -name '*.rpm' -exec \
        rpm --root "$deproot" --dbpath /var/lib/rpm --nodeps --noscripts --ignorearch -i {} +
fi
# The build, which runs code from the recipe, runs in a new network namespace: it has no interface
# but an unconfigured loopback, so nothing in it can reach any host.
unshare --net -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LC_ALL=C.UTF-8 \
    rpmbuild "$@" --define "buildmaster_deproot $deproot" --dbpath "$deproot/var/lib/rpm" \
    --rebuild "$top"/SRPMS/*.src.rpm
mkdir -p "$results"
find "$top/RPMS" -name '*.rpm' -exec mv -t "$results" {} +
