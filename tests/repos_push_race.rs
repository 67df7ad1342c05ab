//! Two pushes of the same name and version with other bytes, racing: both are checked against the
//! records before either holds the publish lock (`repos::push::store` runs while the lock is being
//! taken), so the check under the lock (`record_and_publish`) is what refuses the second. The first is
//! published; the second is refused with both digests, links nothing and leaves the index as the
//! first left it. Real `.deb` files (`dpkg-deb`), the filesystem backend.

#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;

use std::time::SystemTime;

use buildmaster::config::instance::InstanceConfig;
use buildmaster::repos::push::{record_and_publish, store};
use buildmaster::repos::push_plan::inspect;
use buildmaster::repos::records::Records;
use buildmaster::repos::{config, Formats};
use buildmaster_storage::{ObjectKey, StorageBackend};
use buildmaster_storage_fs::FsBackend;
use debian_tools::build_deb;

#[tokio::test]
async fn the_check_under_the_lock_refuses_what_a_racing_push_stored() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let toml = state.join("buildmaster.toml");
    std::fs::write(
        &toml,
        "[[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\n\
         [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"amd64\"]\n",
    )
    .unwrap();
    let repositories = config::resolve(&InstanceConfig::load(&toml).unwrap().repositories).unwrap();
    let targets: Vec<_> = repositories.iter().collect();
    let storage = FsBackend::new(work.path().join("bucket")).unwrap();
    let formats = Formats::with_index_cache(&state.join("index-cache"));
    let mut records = Records::open(&state.join("buildmaster.sqlite")).unwrap();

    // The same name, version and architecture, other bytes (another description).
    let deb = |dir: &str, description: &str| {
        let dir = work.path().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let control = format!(
            "Package: racer\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: t <t@example.org>\n\
             Description: {description}\n"
        );
        build_deb(&dir, &control, "gzip")
    };
    let first = deb("first", "the first build");
    let second = deb("second", "another build");

    // Both stored against the same records, as two pushes waiting for the lock are.
    let now = SystemTime::now();
    let stored_first = store(
        &storage,
        &records,
        &formats,
        &targets,
        inspect(&formats, &[first]).await.unwrap(),
        now,
    )
    .await
    .expect("nothing recorded yet: the first passes its checks");
    let stored_second = store(
        &storage,
        &records,
        &formats,
        &targets,
        inspect(&formats, &[second]).await.unwrap(),
        now,
    )
    .await
    .expect("nothing recorded yet: the second passes them too");

    let report = record_and_publish(&storage, &mut records, &formats, &targets, stored_first, now)
        .await
        .unwrap();
    assert_eq!(report.linked.len(), 1, "{report:?}");
    let packages_gz = ObjectKey::new("apt/dists/bookworm/main/binary-amd64/Packages.gz").unwrap();
    let index = storage.get_bytes(&packages_gz, 1 << 20).await.unwrap();

    let refused = record_and_publish(&storage, &mut records, &formats, &targets, stored_second, now)
        .await
        .expect_err("the check under the lock refuses the second")
        .to_string();
    assert!(
        refused.contains("racer 1.0-1 (amd64) is already stored with other bytes"),
        "{refused}"
    );
    assert_eq!(records.count_linked("debian/bookworm").unwrap(), 1);
    assert_eq!(
        storage.get_bytes(&packages_gz, 1 << 20).await.unwrap(),
        index,
        "the index is the first push's"
    );
}
