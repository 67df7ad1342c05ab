//! Fixture generator for the repository-index benchmark (`bench/index/run.sh`). It only prepares
//! inputs; the script times the release `buildmaster` binary on them from outside.
//!
//! - `index_bench update <dir> <count> <new>`: an old repository of `count` packages synthesised
//!   from the real `sample-repo.hpkr` entries (names made distinct with a numeric suffix), a
//!   `package.list` that keeps all but `new` of them and adds `new` freshly built `.hpkg` files, and
//!   `new-repo.info`: the inputs of `repo update -t`.
//! - `index_bench reuse <dir>`: a `package.list` naming every package of the real `sample-repo.hpkr`
//!   (2,333) and `new-repo.info`: `repo update -t` of that vector with every entry reused, the case
//!   the issue measured Haiku's own `package_repo` on.
//! - `index_bench create <dir> <count>`: `count` real `.hpkg` files built with the `hpkg create` code
//!   (attributes taken from the sample entries, renamed), `repo.info` and `packages.args` (the file
//!   names, one per line): the inputs of `repo create`.

use std::path::{Path, PathBuf};

use buildmaster::haiku::heap_writer::Compression;
use buildmaster::haiku::hpkg_writer::encode_package;
use buildmaster::haiku::hpkr_reader::read_repository;
use buildmaster::haiku::hpkr_writer::encode_repository;
use buildmaster::haiku::package_info::PackageInfo;
use buildmaster::haiku::parallel::map_in_order;
use buildmaster::haiku::repo_info::RepositoryInfo;
use buildmaster::haiku::repo_tool::write_package_list;
use buildmaster::haiku::toc_writer::PackageInfoEntry;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/sample-repo.hpkr");

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("update") if args.len() == 5 => update(Path::new(&args[2]), args[3].parse()?, args[4].parse()?),
        Some("create") if args.len() == 4 => create(Path::new(&args[2]), args[3].parse()?),
        Some("reuse") if args.len() == 3 => reuse(Path::new(&args[2])),
        _ => anyhow::bail!(
            "usage: index_bench update <dir> <count> <new> | create <dir> <count> | reuse <dir>"
        ),
    }
}

/// `count` package infos cycled from the sample repository, each renamed `<name>-<n>` → `<name>_<n>`
/// so names and canonical file names are distinct.
fn synthesise(count: usize) -> anyhow::Result<(RepositoryInfo, Vec<PackageInfo>)> {
    let sample = read_repository(Path::new(SAMPLE))?;
    let packages = (0..count)
        .map(|n| {
            let mut info = sample.packages[n % sample.packages.len()].clone();
            info.name = format!("{}_{n}", info.name);
            info
        })
        .collect();
    Ok((sample.info, packages))
}

/// `repo.info` text for the sample repository's description.
fn repo_info_text(info: &RepositoryInfo) -> String {
    format!(
        "name \"{}\"\nvendor \"{}\"\nsummary \"{}\"\npriority {}\nidentifier \"{}\"\narchitecture {}\n",
        info.name, info.vendor, info.summary, info.priority, info.identifier, info.architecture
    )
}

/// Builds real package files for `infos` in `dir/packages` (in parallel), returning their names.
fn build_packages(dir: &Path, infos: &[PackageInfo]) -> anyhow::Result<Vec<String>> {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("bin"))?;
    std::fs::create_dir_all(tree.join("data/doc"))?;
    std::fs::write(tree.join("bin/tool"), "#!/bin/sh\necho benchmark\n".repeat(40))?;
    std::fs::write(
        tree.join("data/doc/README"),
        "A package made for the index benchmark.\n".repeat(100),
    )?;
    std::fs::write(tree.join(".PackageInfo"), "name placeholder\n")?;
    let metadata = std::fs::metadata(tree.join(".PackageInfo"))?;
    let packages = dir.join("packages");
    std::fs::create_dir_all(&packages)?;
    let results = map_in_order(infos, |_, info| -> anyhow::Result<String> {
        let entry = PackageInfoEntry {
            contents: format!("name {}\n", info.name).into_bytes(),
            metadata: metadata.clone(),
        };
        let mut info = info.clone();
        info.checksum.clear();
        let bytes = encode_package(&info, &tree, &entry, Compression::Zlib)?;
        let name = info.canonical_file_name();
        std::fs::write(packages.join(&name), bytes)?;
        Ok(name)
    });
    results.into_iter().collect()
}

fn update(dir: &Path, count: usize, new: usize) -> anyhow::Result<()> {
    let (info, mut packages) = synthesise(count + new)?;
    let fresh = packages.split_off(count);
    let old_repo = dir.join("old-repo");
    std::fs::write(&old_repo, encode_repository(&info, &packages)?)?;
    let new_names = build_packages(dir, &fresh)?;
    // Keep all but the first `new` old entries (they are dropped), then add the new files.
    let mut list: Vec<String> = packages[new..]
        .iter()
        .map(PackageInfo::canonical_file_name)
        .collect();
    list.extend(new_names);
    write_package_list(&dir.join("package.list"), &list)?;
    std::fs::write(dir.join("new-repo.info"), repo_info_text(&info))?;
    println!("{}", old_repo.display());
    Ok(())
}

fn reuse(dir: &Path) -> anyhow::Result<()> {
    let sample = read_repository(Path::new(SAMPLE))?;
    let list: Vec<String> = sample
        .packages
        .iter()
        .map(PackageInfo::canonical_file_name)
        .collect();
    write_package_list(&dir.join("package.list"), &list)?;
    std::fs::write(dir.join("new-repo.info"), repo_info_text(&sample.info))?;
    println!("{SAMPLE}");
    Ok(())
}

fn create(dir: &Path, count: usize) -> anyhow::Result<()> {
    let (info, packages) = synthesise(count)?;
    let names = build_packages(dir, &packages)?;
    std::fs::write(dir.join("repo.info"), repo_info_text(&info))?;
    let args: PathBuf = dir.join("packages.args");
    std::fs::write(&args, names.join("\n") + "\n")?;
    println!("{}", args.display());
    Ok(())
}
