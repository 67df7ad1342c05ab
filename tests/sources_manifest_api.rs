//! Job manifests through the API: a manifest recorded in the state database
//! (`manifest::store::ManifestStore`) is served by `GET /api/buildruns/{n}/builds/{b}/manifest` as it
//! was recorded, reads back to the same manifest with a matching digest, and a build without one,
//! or a bad build number, gets a JSON error.

mod server_common;

use std::collections::BTreeMap;

use buildmaster::manifest::store::ManifestStore;
use buildmaster::manifest::{BuildCommand, BuildIdentity, JobInputs, JobManifest, PackageInput, SourceInput};
use server_common::*;

fn manifest(build_number: u64) -> JobManifest {
    JobManifest::new(
        BuildIdentity {
            buildrun: 1,
            build_number,
            builder: "b1".into(),
        },
        JobInputs {
            port: "foo-1.0".into(),
            recipe: "app-misc/foo/foo-1.0.recipe".into(),
            tree_revision: Some("0123abcd".into()),
            sources: vec![SourceInput {
                source_index: "1".into(),
                file_name: "foo-1.0.tar.gz".into(),
                uri: "https://example.org/foo-1.0.tar.gz".into(),
                sha256: "ab".repeat(32),
                size: 1234,
                placed_as: "/ports/app-misc/foo/download/foo-1.0.tar.gz".into(),
            }],
            dependencies: vec![PackageInput {
                file_name: "bar-2-1-x86_64.hpkg".into(),
                sha256: "cd".repeat(32),
                size: 99,
                placed_as: "/packages/bar-2-1-x86_64.hpkg".into(),
            }],
            command: BuildCommand {
                argv: vec!["haikuporter".into(), "foo-1.0".into()],
                work_dir: "/ports".into(),
                env: BTreeMap::from([("LANG".into(), "C".into())]),
            },
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_recorded_manifest_is_served_as_recorded() {
    let tree = Tree::new();
    let database = tree.output().parent().unwrap().join("buildmaster.sqlite");
    let recorded = manifest(7);
    ManifestStore::open(&database).unwrap().record(&recorded).unwrap();
    let mut server = Server::start(&tree.output(), Some(database.clone()), None).await;

    let reply = get(&server.url("/api/buildruns/1/builds/7/manifest")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(reply.text(), recorded.to_json());
    let served: JobManifest = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(served.digest().to_hex(), served.inputs_sha256);
    assert_eq!(served.builder_inputs().len(), 2);
    assert_eq!(
        ManifestStore::open(&database).unwrap().get(1, 7).unwrap(),
        Some(recorded)
    );

    let missing = get(&server.url("/api/buildruns/1/builds/8/manifest")).await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"]
        .as_str()
        .unwrap()
        .contains("build 8 of buildrun 1"));
    let bad = get(&server.url("/api/buildruns/1/builds/x/manifest")).await;
    assert_eq!(bad.status, 400);
    server.stop().await;
}
