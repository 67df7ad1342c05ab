//! `buildmaster repo check` end to end: real `.hpkg` files made by the binary's own `hpkg create`, an
//! HPKR repository made by its `repo create`, and the report read back as text, JSON and exit code.
//! The check is the Haiku format's resolver (`src/formats/haiku/check.rs`); these tests hold the
//! command's output, which scripts parse, to what it was before the resolver moved there.

#[path = "support/test_package.rs"]
mod test_package;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use test_package::make_test_package;

const VENDOR: &str = "Haiku Project";

/// Runs `buildmaster` with `args`.
fn buildmaster(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buildmaster"))
        .args(args)
        .output()
        .unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `repo create` of `packages` (file names under `dir`), moved to `dir/<name>.hpkr`.
fn create_repo(dir: &Path, name: &str, packages: &[&str]) -> PathBuf {
    let info = dir.join(format!("{name}.info"));
    std::fs::write(
        &info,
        format!(
            "name {name}\nvendor \"{VENDOR}\"\nsummary \"repo check test\"\npriority 1\n\
             baseurl https://example.com/{name}\nidentifier tag:example.com,2026:{name}\narchitecture x86_64\n"
        ),
    )
    .unwrap();
    let mut args = vec!["repo", "create", "-C", s(dir), s(&info)];
    args.extend_from_slice(packages);
    let out = buildmaster(&args);
    assert!(
        out.status.success(),
        "repo create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `repo create` writes `repo` beside the info file, as `package_repo` does.
    let repo = dir.join(format!("{name}.hpkr"));
    std::fs::rename(dir.join("repo"), &repo).unwrap();
    repo
}

/// Makes `name-version-x86_64.hpkg` in `dir` requiring `requires`; returns its file name.
fn package(dir: &Path, name: &str, version: &str, requires: &[&str]) -> String {
    let file_name = format!("{name}-{version}-x86_64.hpkg");
    make_test_package(dir, name, version, VENDOR, requires, 64, &dir.join(&file_name));
    file_name
}

#[test]
fn repo_check_reports_unresolvable_requires_as_text_json_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let app = package(work, "app", "1.0-1", &["lib >= 1.2", "haiku >= r1~beta4"]);
    let old_lib = package(work, "lib", "1.1-1", &[]);
    let system = work.join("system");
    std::fs::create_dir(&system).unwrap();
    package(&system, "haiku", "r1~beta5-1", &[]);
    // The system directory holds only its packages: the helper's source trees go elsewhere.
    for entry in std::fs::read_dir(&system).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "hpkg") {
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }

    let repo = create_repo(work, "old", &[&app, &old_lib]);
    let alone = buildmaster(&["repo", "check", s(&repo)]);
    assert_eq!(alone.status.code(), Some(3), "{alone:?}");
    let text = String::from_utf8(alone.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // One line per problem, in the package's order of requires, then the summary.
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[..2],
        [
            "app-1.0-1-x86_64.hpkg: unresolvable requires \"lib>=1.2\"",
            "app-1.0-1-x86_64.hpkg: unresolvable requires \"haiku>=r1~beta4\"",
        ],
        "{text}"
    );
    assert_eq!(
        lines[2],
        "2 packages checked against 0 system packages: 2 unresolvable requirements"
    );

    // The system packages provide haiku (r1~beta5 >= r1~beta4); lib 1.1 still is too old for app.
    let with_system = buildmaster(&[
        "repo",
        "check",
        "--system-packages",
        s(&system),
        "--json",
        s(&repo),
    ]);
    assert_eq!(with_system.status.code(), Some(3), "{with_system:?}");
    let report: serde_json::Value = serde_json::from_slice(&with_system.stdout).unwrap();
    assert_eq!(report["packages"], 2, "{report}");
    assert_eq!(report["system_packages"], 1, "{report}");
    assert_eq!(
        report["unresolved"],
        serde_json::json!([{ "package": "app-1.0-1-x86_64.hpkg", "requires": "lib>=1.2" }]),
        "{report}"
    );

    // A newer lib resolves everything: exit 0.
    let new_lib = package(work, "lib", "1.3-1", &[]);
    let fixed = create_repo(work, "new", &[&app, &new_lib]);
    let good = buildmaster(&["repo", "check", "--system-packages", s(&system), s(&fixed)]);
    assert!(good.status.success(), "{good:?}");
    assert_eq!(
        String::from_utf8(good.stdout).unwrap(),
        "2 packages checked against 1 system packages: 0 unresolvable requirements\n"
    );
}

#[test]
fn repo_check_names_an_unreadable_repository_or_system_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.hpkr");
    let out = buildmaster(&["repo", "check", s(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot read repository {}", missing.display())),
        "{stderr}"
    );

    let not_a_repo = dir.path().join("garbage.hpkr");
    std::fs::write(&not_a_repo, b"not an HPKR file").unwrap();
    let out = buildmaster(&["repo", "check", s(&not_a_repo)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("cannot read repository {}", not_a_repo.display())),
        "{out:?}"
    );

    let app = package(dir.path(), "app", "1.0-1", &[]);
    let repo = create_repo(dir.path(), "r", &[&app]);
    let no_system = dir.path().join("no-system");
    let out = buildmaster(&["repo", "check", "--system-packages", s(&no_system), s(&repo)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&no_system.display().to_string()),
        "{out:?}"
    );
}
