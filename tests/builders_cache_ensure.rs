//! `PackageCache::ensure` with several dependencies in flight, against a real OpenSSH sshd on
//! 127.0.0.1: every package arrives verified, a name listed twice is sent once, and when one package
//! fails its check the others in flight finish or clean up — no `.upload` file is left, the listing
//! names exactly the files that are in place, and no new package is started after the failure.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use buildmaster::builders::cache::{CacheListing, PackageCache};
use buildmaster::builders::config::Timeouts;
use buildmaster::builders::connection::Connection;
use buildmaster::builders::error::BuilderError;
use buildmaster::builders::package::WantedPackage;
use buildmaster::builders::sftp::{Sftp, CHUNK_BYTES, UPLOAD_SUFFIX};
use buildmaster::builders::ssh_host::SshHost;
use buildmaster::toolchains::DependencyPlacement;
use buildmaster_storage::Sha256Digest;
use support::sshd::Sshd;

/// Packages in flight in these tests (the default bound is a constant; the behaviour must not
/// depend on it).
const IN_FLIGHT: usize = 4;

async fn host(sshd: &Sshd) -> SshHost {
    let conn = Connection::open("b1", &sshd.target(), &Timeouts::default())
        .await
        .unwrap();
    let sftp = Sftp::open(&conn, Duration::from_secs(30)).await.unwrap();
    SshHost::new(conn, sftp)
}

fn place(root: &Path) -> DependencyPlacement {
    DependencyPlacement {
        cache_dir: root.join("packages/.cache").to_str().unwrap().into(),
        visible_dir: root.join("packages").to_str().unwrap().into(),
        extension: ".hpkg",
    }
}

/// Writes `sizes.len()` spool files of random bytes and returns them as wanted packages.
fn spool(dir: &Path, sizes: &[usize]) -> Vec<WantedPackage> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let mut rng = fastrand::Rng::with_seed(i as u64);
            let bytes: Vec<u8> = (0..size).map(|_| rng.u8(..)).collect();
            let file_name = format!("dep{i:02}-1.0-1-x86_64.hpkg");
            let local = dir.join(&file_name);
            std::fs::write(&local, &bytes).unwrap();
            WantedPackage {
                file_name,
                size: size as u64,
                sha256: Sha256Digest::of(&bytes),
                local: Some(local),
                key: None,
                system: false,
            }
        })
        .collect()
}

/// The cache directory's entries: every file name, `.upload` ones included.
fn cached_names(cache_dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Every file in the cache is a wanted package with its spool bytes, and the listing names exactly
/// those files with their sizes.
fn assert_cache_is_listing(cache_dir: &str, listing: &CacheListing, wanted: &[WantedPackage]) {
    let names = cached_names(cache_dir);
    assert!(
        names.iter().all(|n| !n.ends_with(UPLOAD_SUFFIX)),
        "an upload was left behind: {names:?}"
    );
    assert_eq!(
        names,
        listing.packages.keys().cloned().collect::<Vec<_>>(),
        "the listing must name exactly what is in place"
    );
    for name in &names {
        let package = wanted.iter().find(|p| &p.file_name == name).unwrap();
        let arrived = std::fs::read(PathBuf::from(cache_dir).join(name)).unwrap();
        assert_eq!(
            arrived,
            std::fs::read(package.local.as_ref().unwrap()).unwrap(),
            "{name}"
        );
        assert_eq!(listing.packages[name], package.size, "{name}");
    }
}

#[tokio::test]
async fn several_in_flight_all_arrive_verified_and_a_name_listed_twice_is_sent_once() {
    let sshd = Sshd::start();
    let host = host(&sshd).await;
    let local = tempfile::tempdir().unwrap();
    // Small and multi-chunk files mixed, so files finish out of order.
    let sizes = [
        3 * CHUNK_BYTES + 17,
        20_000,
        1,
        5 * CHUNK_BYTES,
        70_000,
        CHUNK_BYTES - 1,
        2 * CHUNK_BYTES + 1,
        300,
        9_000,
        CHUNK_BYTES + 1,
    ];
    let packages = spool(local.path(), &sizes);
    let mut wanted = packages.clone();
    wanted.push(packages[3].clone());
    let place = place(&sshd.work);
    let cache_dir = place.cache_dir.clone();
    let cache = PackageCache::new(&host, place, None).with_files_in_flight(IN_FLIGHT);
    let mut listing = cache.scan().await.unwrap();

    let report = cache.ensure(&mut listing, &wanted).await.unwrap();
    let mut sent = report.sent.clone();
    sent.sort();
    let names: Vec<String> = packages.iter().map(|p| p.file_name.clone()).collect();
    assert_eq!(sent, names, "each package exactly once");
    assert_eq!(report.already_cached, vec![packages[3].file_name.clone()]);
    assert_eq!(report.bytes, sizes.iter().sum::<usize>() as u64);
    assert_cache_is_listing(&cache_dir, &listing, &packages);

    // Nothing is sent again.
    let again = cache.ensure(&mut listing, &wanted).await.unwrap();
    assert!(again.sent.is_empty(), "{:?}", again.sent);
}

#[tokio::test]
async fn a_package_failing_its_check_stops_new_sends_and_leaves_no_upload_behind() {
    let sshd = Sshd::start();
    let host = host(&sshd).await;
    let local = tempfile::tempdir().unwrap();
    // The first wave is large, so those sends are still streaming when the small fifth package
    // (recorded with another digest) fails; twenty more wait behind them.
    let mut sizes = vec![6 * CHUNK_BYTES; IN_FLIGHT];
    sizes.push(10_000);
    sizes.extend([4 * CHUNK_BYTES; 20]);
    let packages = spool(local.path(), &sizes);
    let mut wanted = packages.clone();
    let tampered = IN_FLIGHT;
    wanted[tampered].sha256 = Sha256Digest::of(b"other bytes");
    let place = place(&sshd.work);
    let cache_dir = place.cache_dir.clone();
    let cache = PackageCache::new(&host, place, None).with_files_in_flight(IN_FLIGHT);
    let mut listing = cache.scan().await.unwrap();

    let err = cache.ensure(&mut listing, &wanted).await.unwrap_err();
    match &err {
        BuilderError::Verify { file, what, .. } => {
            assert!(file.ends_with(&packages[tampered].file_name), "{err}");
            assert_eq!(*what, "SHA-256", "{err}");
        }
        other => panic!("expected a verification error, got {other}"),
    }
    assert_cache_is_listing(&cache_dir, &listing, &packages);
    let names = cached_names(&cache_dir);
    assert!(!names.contains(&packages[tampered].file_name), "{names:?}");
    // At most the packages in flight when it failed (and the ones started before) got through; the
    // last twenty were never all started.
    assert!(
        names.len() < packages.len() - 1,
        "sends went on after the failure: {} of {} arrived",
        names.len(),
        packages.len()
    );

    // The same connection still works: with the right record everything arrives.
    let report = cache.ensure(&mut listing, &packages).await.unwrap();
    assert_eq!(report.sent.len() + names.len(), packages.len());
    assert_cache_is_listing(&cache_dir, &listing, &packages);
    assert_eq!(listing.packages.len(), packages.len());
}
