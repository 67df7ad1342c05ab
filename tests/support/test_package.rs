//! Small real packages for the publishing tests: one data file of random bytes, packed by the binary's
//! own `hpkg create`.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// `hpkg create` of a one-file package at `output`: `payload` random bytes in `data/<name>.dat`,
/// `vendor` as given (the repository's check compares it), `requires` as listed. Its source tree and
/// PackageInfo go to a fresh directory under `work`.
pub fn make_test_package(
    work: &Path,
    name: &str,
    version: &str,
    vendor: &str,
    requires: &[&str],
    payload: usize,
    output: &Path,
) {
    make_arch_package(work, name, version, "x86_64", vendor, requires, payload, output)
}

/// [`make_test_package`] for another architecture (`x86_gcc2`, `any`).
#[allow(clippy::too_many_arguments)]
pub fn make_arch_package(
    work: &Path,
    name: &str,
    version: &str,
    architecture: &str,
    vendor: &str,
    requires: &[&str],
    payload: usize,
    output: &Path,
) {
    let src = work.join(format!("src-{name}-{version}-{:08x}", fastrand::u32(..)));
    std::fs::create_dir_all(src.join("data")).unwrap();
    let bytes: Vec<u8> = (0..payload).map(|_| fastrand::u8(..)).collect();
    std::fs::write(src.join("data").join(format!("{name}.dat")), bytes).unwrap();
    let requires = if requires.is_empty() {
        String::new()
    } else {
        format!("requires {{ {} }}\n", requires.join(" "))
    };
    let info = src.with_extension("PackageInfo");
    std::fs::write(
        &info,
        format!(
            "name {name}\nversion {version}\narchitecture {architecture}\nsummary \"Test package {name}\"\n\
             description \"A package made for the publishing tests.\"\npackager \"Tests <t@example.org>\"\n\
             vendor \"{vendor}\"\ncopyrights {{ \"2026 Tests\" }}\nlicenses {{ \"MIT\" }}\n\
             provides {{ {name} = {version} }}\n{requires}"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_buildmaster"))
        .args(["hpkg", "create", "-i"])
        .arg(&info)
        .arg("-C")
        .arg(&src)
        .arg(output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hpkg create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
