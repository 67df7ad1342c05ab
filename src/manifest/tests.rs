//! The manifest's JSON shape and digest.

use super::*;

fn sample() -> (BuildIdentity, JobInputs) {
    let build = BuildIdentity {
        buildrun: 3,
        build_number: 17,
        builder: "b1".into(),
    };
    let inputs = JobInputs {
        port: "foo-1.0".into(),
        recipe: "app-misc/foo/foo-1.0.recipe".into(),
        tree_revision: Some("c0ffee".into()),
        sources: vec![
            SourceInput {
                source_index: "2".into(),
                file_name: "extra.tar".into(),
                uri: "git+file:///srv/extra.git#commit=aa".into(),
                sha256: "22".repeat(32),
                size: 20,
                placed_as: "/ports/app-misc/foo/download/extra.tar".into(),
            },
            SourceInput {
                source_index: "1".into(),
                file_name: "foo-1.0.tar.gz".into(),
                uri: "https://example.org/foo-1.0.tar.gz".into(),
                sha256: "11".repeat(32),
                size: 10,
                placed_as: "/ports/app-misc/foo/download/foo-1.0.tar.gz".into(),
            },
        ],
        dependencies: vec![
            PackageInput {
                file_name: "zlib-1.3-1-x86_64.hpkg".into(),
                sha256: "44".repeat(32),
                size: 40,
                placed_as: "/packages/zlib-1.3-1-x86_64.hpkg".into(),
            },
            PackageInput {
                file_name: "bar-2-1-x86_64.hpkg".into(),
                sha256: "33".repeat(32),
                size: 30,
                placed_as: "/packages/bar-2-1-x86_64.hpkg".into(),
            },
        ],
        command: BuildCommand {
            argv: vec!["haikuporter".into(), "--no-dependencies".into(), "foo-1.0".into()],
            work_dir: "/ports".into(),
            env: BTreeMap::from([("LANG".into(), "C".into()), ("HOME".into(), "/home/b".into())]),
        },
    };
    (build, inputs)
}

/// Asserts that the keys appear in `json` at nesting `level`, in this order (first occurrences).
fn in_order(json: &str, level: usize, keys: &[&str]) {
    let indent = "  ".repeat(level);
    let positions: Vec<usize> = keys
        .iter()
        .map(|key| {
            json.find(&format!("\n{indent}\"{key}\": "))
                .unwrap_or_else(|| panic!("{key} not at level {level} in {json}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{keys:?} out of order in {json}"
    );
}

#[test]
fn json_has_a_fixed_shape_and_order() {
    let (build, inputs) = sample();
    let manifest = JobManifest::new(build, inputs).unwrap();
    let json = manifest.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    // Fields in declaration order (pretty JSON: two spaces of indent per level).
    in_order(&json, 1, &["format", "build", "inputs_sha256", "inputs"]);
    in_order(
        &json,
        2,
        &[
            "port",
            "recipe",
            "tree_revision",
            "sources",
            "dependencies",
            "command",
        ],
    );
    in_order(
        &json,
        4,
        &["source_index", "file_name", "uri", "sha256", "size", "placed_as"],
    );
    in_order(&json, 3, &["argv", "work_dir", "env"]);
    // Canonical order: sources by index, dependencies by file name, environment by name.
    assert_eq!(value["inputs"]["sources"][0]["source_index"], "1");
    assert_eq!(
        value["inputs"]["dependencies"][0]["file_name"],
        "bar-2-1-x86_64.hpkg"
    );
    in_order(&json, 4, &["HOME", "LANG"]);
    assert_eq!(value["inputs_sha256"], manifest.digest().to_hex());
    // The JSON reads back to the same manifest, and a field we do not know is refused.
    let back: JobManifest = serde_json::from_str(&manifest.to_json()).unwrap();
    assert_eq!(back, manifest);
    let mut extra = value.clone();
    extra["inputs"]["surprise"] = serde_json::json!(1);
    assert!(serde_json::from_value::<JobManifest>(extra).is_err());
}

#[test]
fn the_digest_follows_the_inputs_only() {
    let (build, inputs) = sample();
    let base = JobManifest::new(build.clone(), inputs.clone()).unwrap();
    // Input order given does not matter.
    let mut shuffled = inputs.clone();
    shuffled.sources.reverse();
    shuffled.dependencies.reverse();
    assert_eq!(
        JobManifest::new(build.clone(), shuffled).unwrap().inputs_sha256,
        base.inputs_sha256
    );
    // Another builder, the same inputs: the same digest.
    let elsewhere = BuildIdentity {
        builder: "b2".into(),
        build_number: 18,
        ..build.clone()
    };
    assert_eq!(
        JobManifest::new(elsewhere, inputs.clone()).unwrap().inputs_sha256,
        base.inputs_sha256
    );
    // Any changed input changes it.
    type Change = Box<dyn Fn(&mut JobInputs)>;
    let changes: Vec<Change> = vec![
        Box::new(|i| i.sources[0].sha256 = "55".repeat(32)),
        Box::new(|i| i.sources[1].size += 1),
        Box::new(|i| i.dependencies[0].sha256 = "66".repeat(32)),
        Box::new(|i| i.dependencies.pop().map(drop).unwrap_or_default()),
        Box::new(|i| i.command.argv.push("--extra".into())),
        Box::new(|i| {
            i.command.env.insert("LANG".into(), "de_DE".into());
        }),
        Box::new(|i| i.tree_revision = Some("beef".into())),
        Box::new(|i| i.sources[0].placed_as.push('x')),
    ];
    for (n, change) in changes.iter().enumerate() {
        let mut changed = inputs.clone();
        change(&mut changed);
        let digest = JobManifest::new(build.clone(), changed).unwrap().inputs_sha256;
        assert_ne!(digest, base.inputs_sha256, "change {n} left the digest as it was");
    }
}

#[test]
fn builder_inputs_list_every_file() {
    let (build, inputs) = sample();
    let manifest = JobManifest::new(build, inputs).unwrap();
    let listed: Vec<(InputKind, String, u64)> = manifest
        .builder_inputs()
        .into_iter()
        .map(|i| (i.kind, i.path, i.size))
        .collect();
    assert_eq!(
        listed,
        [
            (
                InputKind::Source,
                "/ports/app-misc/foo/download/foo-1.0.tar.gz".to_owned(),
                10
            ),
            (
                InputKind::Source,
                "/ports/app-misc/foo/download/extra.tar".to_owned(),
                20
            ),
            (
                InputKind::Dependency,
                "/packages/bar-2-1-x86_64.hpkg".to_owned(),
                30
            ),
            (
                InputKind::Dependency,
                "/packages/zlib-1.3-1-x86_64.hpkg".to_owned(),
                40
            ),
        ]
    );
    assert_eq!(manifest.builder_inputs()[0].sha256.to_hex(), "11".repeat(32));
}

#[test]
fn secrets_bad_digests_and_clashing_paths_are_refused() {
    let (build, inputs) = sample();
    let mut secret = inputs.clone();
    secret.command.env.insert("GITHUB_TOKEN".into(), "x".into());
    assert!(matches!(
        JobManifest::new(build.clone(), secret),
        Err(ManifestError::SecretInEnvironment { name, .. }) if name == "GITHUB_TOKEN"
    ));
    let mut bad = inputs.clone();
    bad.dependencies[0].sha256 = "xyz".into();
    assert!(matches!(
        JobManifest::new(build.clone(), bad),
        Err(ManifestError::BadDigest { .. })
    ));
    let mut clash = inputs;
    clash.sources[1].placed_as = clash.sources[0].placed_as.clone();
    assert!(matches!(
        JobManifest::new(build, clash),
        Err(ManifestError::SamePath { .. })
    ));
}
