//! Unit tests of [`super::check`].

use super::check;
use crate::formats::debian::test_support::package;

fn deps(list: &[&str]) -> Vec<(String, String)> {
    list.iter()
        .map(|s| {
            let (p, d) = s.split_once(" -> ").unwrap();
            (p.to_owned(), d.to_owned())
        })
        .collect()
}

fn run(packages: &[&str], base: &[&str]) -> Vec<(String, String)> {
    let packages: Vec<_> = packages.iter().map(|c| package(c)).collect();
    let base: Vec<_> = base.iter().map(|c| package(c)).collect();
    check(&packages, &base)
        .unwrap()
        .into_iter()
        .map(|u| (u.package, u.dependency))
        .collect()
}

const HELLO: &str = "Package: bm-hello\nVersion: 2.0-1\nArchitecture: amd64\n\
                     Depends: bm-libgreet (>= 1.0), libc6 (>= 2.34) | libc6.1\n";

#[test]
fn versioned_dependency_on_an_all_package_and_a_base_package() {
    let lib = "Package: bm-libgreet\nVersion: 1.2\nArchitecture: all\n";
    let libc = "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\n";
    assert_eq!(run(&[HELLO, lib], &[libc]), deps(&[]));
    // Without base, libc6 is missing; the alternative does not help.
    assert_eq!(
        run(&[HELLO, lib], &[]),
        deps(&["bm-hello_2.0-1_amd64 -> libc6 (>= 2.34) | libc6.1"])
    );
}

#[test]
fn version_too_old_and_wrong_architecture() {
    let old = "Package: bm-libgreet\nVersion: 1.0~rc1\nArchitecture: all\n";
    let libc_arm = "Package: libc6\nVersion: 2.36\nArchitecture: arm64\n";
    assert_eq!(
        run(&[HELLO, old, libc_arm], &[]),
        deps(&[
            "bm-hello_2.0-1_amd64 -> bm-libgreet (>= 1.0)",
            "bm-hello_2.0-1_amd64 -> libc6 (>= 2.34) | libc6.1",
        ])
    );
}

#[test]
fn provides_versioned_and_unversioned() {
    let hello = "Package: a\nVersion: 1\nArchitecture: amd64\nPre-Depends: virt, vv (>= 2)\n";
    let unversioned = "Package: p\nVersion: 1\nArchitecture: amd64\nProvides: virt, vv\n";
    assert_eq!(run(&[hello, unversioned], &[]), deps(&["a_1_amd64 -> vv (>= 2)"]));
    let versioned = "Package: q\nVersion: 1\nArchitecture: all\nProvides: vv (= 2.1)\n";
    assert_eq!(run(&[hello, unversioned, versioned], &[]), deps(&[]));
}

#[test]
fn all_package_needs_its_dependency_on_every_architecture() {
    let tool = "Package: tool\nVersion: 1\nArchitecture: all\nDepends: helper\n";
    let amd = "Package: helper\nVersion: 1\nArchitecture: amd64\n";
    let arm_other = "Package: other\nVersion: 1\nArchitecture: arm64\n";
    assert_eq!(run(&[tool, amd], &[]), deps(&[]));
    assert_eq!(run(&[tool, amd, arm_other], &[]), deps(&["tool_1_all -> helper"]));
}

#[test]
fn an_unreadable_dependency_is_an_entry_error() {
    let bad = package("Package: a\nVersion: 1\nArchitecture: amd64\nDepends: b (>= \n");
    let err = check(&[bad], &[]).unwrap_err();
    assert!(err.to_string().contains("a_1_amd64"), "{err}");
}
