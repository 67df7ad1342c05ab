# Sourced by bench/repos/run.sh: `gen_rpms OUT FIRST COUNT VERSION` writes COUNT distinct, valid noarch
# RPMs bm-bench-<i>-VERSION-1 (FIRST ≤ i < FIRST+COUNT) into OUT with one `rpmbuild` run: one spec whose
# subpackages are the packages (rpmbuild per package would take ~0.3 s each; this is ~8 ms), each with
# one data file and a dependency on the previous package, gzip level 1 payloads.
gen_rpms() {
    local out="$1" first="$2" count="$3" version="$4" top
    mkdir -p "$out"
    top="$(mktemp -d "$out.rpmbuild.XXXXXX")"
    {
        printf 'Name: bm-bench-batch\nVersion: %s\nRelease: 1\nSummary: batch\nLicense: MIT\n' "$version"
        printf 'BuildArch: noarch\nAutoReqProv: no\n%%description\nbatch\n'
        awk -v f="$first" -v c="$count" 'BEGIN { for (i = f; i < f + c; i++) {
            n = sprintf("bm-bench-%05d", i)
            printf "%%package -n %s\nSummary: synthetic package %d of bench/repos\n", n, i
            if (i > 0) printf "Requires: bm-bench-%05d >= 1.0\n", i - 1
            printf "Provides: %s-feature\n%%description -n %s\nMade by bench/repos/run.sh.\n", n, n
            printf "%%files -n %s\n/usr/share/%s\n", n, n } }'
        printf '%%install\n'
        awk -v f="$first" -v c="$count" -v v="$version" 'BEGIN { for (i = f; i < f + c; i++) {
            n = sprintf("bm-bench-%05d", i)
            printf "mkdir -p %%{buildroot}/usr/share/%s && echo \"%s %s\" > %%{buildroot}/usr/share/%s/README\n", n, n, v, n } }'
    } >"$top/batch.spec"
    rpmbuild --quiet --define "_topdir $top" --define '_binary_payload w1.gzdio' \
        --define '_build_id_links none' -bb "$top/batch.spec" >"$top/log" 2>&1 || { cat "$top/log" >&2; return 1; }
    mv "$top"/RPMS/noarch/bm-bench-[0-9]*.rpm "$out/"
    rm -rf "$top"
}
