//! Unit tests of [`super::inspect`] on `.deb` files assembled here (real `dpkg-deb` output is
//! covered by tests/debian_apt.rs).

use std::io::Write;
use std::path::{Path, PathBuf};

use md5::Md5;
use sha2::{Digest, Sha256};

use super::inspect;
use crate::formats::FormatError;

const CONTROL: &str = "Package: bm-hello\nVersion: 1:2.0-1\nArchitecture: amd64\n\
                       Maintainer: T <t@example.invalid>\nSize: 99\nFilename: evil\n\
                       Description: hi\n more\n";

fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
    match kind {
        "" => data.to_vec(),
        ".gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        ".xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        ".zst" => zstd::encode_all(data, 3).unwrap(),
        _ => unreachable!(),
    }
}

fn deb(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = ar::Builder::new(Vec::new());
    for (name, data) in members {
        builder
            .append(
                &ar::Header::new(name.as_bytes().to_vec(), data.len() as u64),
                &data[..],
            )
            .unwrap();
    }
    builder.into_inner().unwrap()
}

fn standard(compression: &str, control: &str) -> Vec<u8> {
    let control_tar = compress(
        compression,
        &tar_with(&[("./md5sums", b"x"), ("./control", control.as_bytes())]),
    );
    deb(&[
        ("debian-binary", b"2.0\n".to_vec()),
        (&format!("control.tar{compression}"), control_tar),
        (
            "data.tar.xz",
            compress(".xz", &tar_with(&[("./usr/bin/hello", b"#!/bin/sh\n")])),
        ),
    ])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn every_control_compression() {
    let dir = tempfile::tempdir().unwrap();
    for compression in ["", ".gz", ".xz", ".zst"] {
        let bytes = standard(compression, CONTROL);
        let path = write(dir.path(), "upload.tmp", &bytes);
        let p = inspect(&path).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.architecture.as_str()),
            ("bm-hello", "1:2.0-1", "amd64")
        );
        assert_eq!(p.file_name, "bm-hello_2.0-1_amd64.deb");
        assert_eq!(p.size, bytes.len() as u64);
        assert_eq!(p.sha256, hex::encode(Sha256::digest(&bytes)));
        // The file's own Size/Filename are replaced by what was measured.
        let md5 = hex::encode(Md5::digest(&bytes));
        assert_eq!(
            p.entry,
            format!(
                "Package: bm-hello\nVersion: 1:2.0-1\nArchitecture: amd64\nMaintainer: T <t@example.invalid>\n\
                 Description: hi\n more\nSize: {}\nMD5sum: {md5}\nSHA256: {}\n",
                bytes.len(),
                p.sha256
            ),
            "control.tar{compression}"
        );
    }
}

fn invalid_reason(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, bytes);
    match inspect(&path) {
        Err(FormatError::Invalid {
            path: p,
            format,
            reason,
        }) => {
            assert_eq!((p, format), (path, "debian"));
            reason
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_packages_are_refused_with_the_cause() {
    let good = standard(".xz", CONTROL);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "not a Debian package"),
        (
            "not-ar",
            b"hello world, not a package".to_vec(),
            "not a Debian package",
        ),
        ("truncated", good[..good.len() - 40].to_vec(), "truncated"),
        (
            "no-data",
            deb(&[
                ("debian-binary", b"2.0\n".to_vec()),
                ("control.tar", tar_with(&[("control", CONTROL.as_bytes())])),
            ]),
            "no data.tar",
        ),
        (
            "order",
            deb(&[("control.tar", Vec::new()), ("debian-binary", b"2.0\n".to_vec())]),
            "first member",
        ),
        (
            "format",
            deb(&[("debian-binary", b"3.0\n".to_vec())]),
            "unsupported package format",
        ),
        ("no-control", standard(".gz", "Package: xy\n"), "no Version"),
        (
            "bad-version",
            standard("", &CONTROL.replace("1:2.0-1", "two")),
            "must start with a digit",
        ),
        (
            "bad-name",
            standard("", &CONTROL.replace("bm-hello", "BM_Hello")),
            "not a valid Debian package name",
        ),
        (
            "corrupt-gz",
            deb(&[
                ("debian-binary", b"2.0\n".to_vec()),
                ("control.tar.gz", b"\x1f\x8b garbage".to_vec()),
                ("data.tar", Vec::new()),
            ]),
            "control member",
        ),
    ];
    for (name, bytes, want) in cases {
        let reason = invalid_reason(name, &bytes);
        assert!(reason.contains(want), "{name}: {reason}");
    }
}

#[test]
fn file_name_architecture_must_agree() {
    let bytes = standard(".xz", CONTROL);
    let reason = invalid_reason("bm-hello_2.0-1_arm64.deb", &bytes);
    assert!(
        reason.contains("\"arm64\"") && reason.contains("\"amd64\""),
        "{reason}"
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(inspect(&write(dir.path(), "bm-hello_2.0-1_amd64.deb", &bytes)).is_ok());
}

#[test]
fn a_missing_file_is_an_io_error() {
    let err = inspect(Path::new("/nonexistent/x.deb")).unwrap_err();
    assert!(matches!(err, FormatError::Io { .. }), "{err}");
}
