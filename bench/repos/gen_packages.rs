//! Synthetic Debian packages for bench/repos/run.sh (a command, not a test): writes COUNT distinct,
//! valid `.deb` files fast, so a 10,000-package repository is built in seconds instead of running
//! `dpkg-deb` 10,000 times. (RPMs come from `rpmbuild`, many subpackages per spec: bench/repos/rpms.sh;
//! the `rpm` crate's `PackageBuilder` needs its `payload` feature, which this crate does not enable.)
//!
//! ```text
//! repos-bench-gen OUT_DIR FIRST COUNT VERSION
//! ```
//!
//! Package `i` (FIRST ≤ i < FIRST+COUNT) is `bm-bench-<i>` at VERSION (release 1), with one small data
//! file under `/usr/share/bm-bench-<i>/` and a dependency on the previous package, so every file has
//! its own bytes. A `.deb` is an ar archive of `debian-binary`, `control.tar.gz` and `data.tar.gz`
//! (what `dpkg-deb --build` writes), which `dpkg-deb`, aptly and our inspection all read.

use std::io::Write as _;

use md5::Digest as _;
use std::path::{Path, PathBuf};

/// Every file's modification time: fixed, so the same arguments give the same bytes.
const MTIME: u64 = 1_700_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, first, count, version] = args.as_slice() else {
        eprintln!("usage: repos-bench-gen OUT_DIR FIRST COUNT VERSION");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    let first: usize = first.parse().expect("FIRST is a number");
    let count: usize = count.parse().expect("COUNT is a number");
    std::fs::create_dir_all(&out).expect("create OUT_DIR");
    // One thread per core: the machine has few, and each package is independent.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for t in 0..threads {
            let out = &out;
            scope.spawn(move || {
                for i in (first + t..first + count).step_by(threads) {
                    write_deb(out, i, version);
                }
            });
        }
    });
}

/// The package name of index `i`.
fn name(i: usize) -> String {
    format!("bm-bench-{i:05}")
}

/// The one data file's text: distinct per package and version.
fn payload(i: usize, version: &str) -> String {
    format!(
        "{} {version}: a synthetic package of bench/repos/run.sh.\n",
        name(i)
    )
}

/// Appends a regular file to a tar archive.
fn tar_file<W: std::io::Write>(tar: &mut tar::Builder<W>, path: &str, mode: u32, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(MTIME);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data).expect("append to tar");
}

/// Appends a directory to a tar archive.
fn tar_dir<W: std::io::Write>(tar: &mut tar::Builder<W>, path: &str) {
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(MTIME);
    header.set_entry_type(tar::EntryType::Directory);
    tar.append_data(&mut header, path, std::io::empty())
        .expect("append to tar");
}

/// A gzip-compressed tar archive built by `fill`.
fn tar_gz(fill: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>)) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    fill(&mut tar);
    tar.into_inner()
        .expect("finish tar")
        .finish()
        .expect("finish gzip")
}

/// Writes `bm-bench-<i>_<version>-1_amd64.deb`.
fn write_deb(out: &Path, i: usize, version: &str) {
    let name = name(i);
    let text = payload(i, version);
    let doc = format!("./usr/share/{name}/README");
    let data = tar_gz(|tar| {
        for dir in ["./", "./usr/", "./usr/share/", &format!("./usr/share/{name}/")] {
            tar_dir(tar, dir);
        }
        tar_file(tar, &doc, 0o644, text.as_bytes());
    });
    let depends = if i > 0 {
        format!("Depends: {} (>= 1.0)\n", self::name(i - 1))
    } else {
        String::new()
    };
    let control = format!(
        "Package: {name}\nVersion: {version}-1\nArchitecture: amd64\n\
         Maintainer: Bench <bench@example.org>\nInstalled-Size: 1\n{depends}Section: misc\n\
         Priority: optional\nDescription: synthetic package {i} of bench/repos\n \
         Made by bench/repos/gen_packages.rs to fill a 10,000-package repository.\n"
    );
    let md5sums = format!("{:x}  {}\n", md5::Md5::digest(text.as_bytes()), &doc[2..]);
    let control_tar = tar_gz(|tar| {
        tar_dir(tar, "./");
        tar_file(tar, "./control", 0o644, control.as_bytes());
        tar_file(tar, "./md5sums", 0o644, md5sums.as_bytes());
    });
    let path = out.join(format!("{name}_{version}-1_amd64.deb"));
    let file = std::fs::File::create(&path).expect("create .deb");
    let mut ar = ar::Builder::new(std::io::BufWriter::new(file));
    for (member, bytes) in [
        ("debian-binary", &b"2.0\n"[..]),
        ("control.tar.gz", &control_tar),
        ("data.tar.gz", &data),
    ] {
        let mut header = ar::Header::new(member.as_bytes().to_vec(), bytes.len() as u64);
        header.set_mode(0o100644);
        header.set_mtime(MTIME);
        ar.append(&header, bytes).expect("append to ar");
    }
    ar.into_inner().expect("finish ar").flush().expect("write .deb");
}
