//! Taking over a HaikuPorter buildmaster instance exactly as `docs/migration.md` tells an operator to:
//! the instance is built from scratch in HaikuPorter's layout (`support::haikuporter_instance`), two
//! real sshd builders are described only by HaikuPorter's builder JSON files, and the bucket holds
//! HaikuPorter's published packages and index. After the takeover's buildrun, no object that was in
//! the bucket has been written again, the new ports' packages are published and readable the way
//! pkgman reads them, buildrun and build numbers continue HaikuPorter's, and every local package is a
//! zero-byte stub.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::farm::{Farm, LedgerEntry};
use support::haikuporter_instance::{
    is_stub, HaikuPorterInstance, ObjectState, LAST_BUILDRUN, NEXT_BUILD_NUMBER,
};
use support::pkgman::refresh_and_download;

/// Ports HaikuPorter built before the takeover (libbase comes with them as their dependency).
const HISTORY: &[&str] = &["libleft", "libright", "libcore"];
/// Ports HaikuPorter built but did not publish before it was stopped.
const UNPUBLISHED: &[&str] = &["libtwo"];
/// Ports the takeover must build (among others): each needs packages only the bucket holds.
const NEW_PORTS: &[&str] = &["toolbox", "libmiddle"];
/// How long the takeover's buildrun may take.
const BUILDRUN_TIMEOUT: Duration = Duration::from_secs(300);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// From the ledger entries after `skip`: builds started per port (`name-version`), and the package
/// files the builders produced per port.
fn ledger_since(farm: &Farm, skip: usize) -> (BTreeMap<String, usize>, BTreeMap<String, BTreeSet<String>>) {
    let mut starts: BTreeMap<String, usize> = BTreeMap::new();
    let mut results: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in farm.ledger().into_iter().skip(skip) {
        match entry {
            LedgerEntry::Start(_, port, _) => *starts.entry(port).or_default() += 1,
            LedgerEntry::Result(_, port, file, _) => {
                results.entry(port).or_default().insert(file);
            }
            LedgerEntry::End(..) => {}
        }
    }
    (starts, results)
}

/// A plan's builds (`name-version`) and the package files they are to produce.
fn planned(plan: &serde_json::Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let builds = plan["builds"].as_array().expect("the plan has a builds list");
    let ports = builds
        .iter()
        .map(|b| {
            format!(
                "{}-{}",
                b["port"]["name"].as_str().unwrap_or_default(),
                b["port"]["version"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let results = builds
        .iter()
        .flat_map(|b| b["results"].as_array().into_iter().flatten())
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    (ports, results)
}

/// The package file names in a `package.list`.
fn package_list(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The published packages the builds needed reached the builders' (emptied) caches from the
/// bucket, whole: each cached copy has the size of the bucket's object.
fn assert_dependencies_came_from_the_bucket(
    instance: &HaikuPorterInstance,
    objects: &BTreeMap<String, ObjectState>,
) {
    let mut streamed = 0;
    for sshd in &instance.farm.builders {
        let Ok(cache) = std::fs::read_dir(sshd.work.join("haikuports/packages/.cache")) else {
            continue;
        };
        for entry in cache.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let key = format!("{}/packages/{file}", instance.farm.prefix);
            if let Some(object) = objects.get(&key) {
                assert_eq!(
                    entry.metadata().unwrap().len() as i64,
                    object.size,
                    "{file} in the cache of {} is not the bucket's",
                    sshd.work.display()
                );
                streamed += 1;
            }
        }
    }
    assert!(streamed > 0, "no published package reached a builder's cache");
}

/// Buildrun numbers continue after HaikuPorter's last (`last_buildrun`, `buildruns.txt`, `current`),
/// the `builds` build numbers after its highest, and its history is left as it was.
fn assert_numbering_continues(root: &Path, builds: usize, history_status: &[u8]) {
    let next = LAST_BUILDRUN + 1;
    let runs = root.join("output/buildruns");
    let last = std::fs::read_to_string(runs.join("last_buildrun")).unwrap();
    assert_eq!(last.trim(), next.to_string());
    let listed: Vec<u64> = std::fs::read_to_string(runs.join("buildruns.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(listed, (LAST_BUILDRUN - 2..=next).collect::<Vec<_>>());
    assert_eq!(
        std::fs::read_link(runs.join("current")).unwrap(),
        PathBuf::from(next.to_string())
    );
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(runs.join(format!("{next}/records"))).unwrap() {
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let record_numbers = record["buildNumbers"].as_array().unwrap();
        numbers.extend(record_numbers.iter().filter_map(serde_json::Value::as_u64));
    }
    assert_eq!(numbers.len(), builds, "build numbers: {numbers:?}");
    assert!(
        numbers.iter().all(|n| *n >= NEXT_BUILD_NUMBER),
        "build numbers {numbers:?} do not continue from HaikuPorter's counter {NEXT_BUILD_NUMBER}"
    );
    let status = runs.join(format!("{LAST_BUILDRUN}/status.json"));
    assert_eq!(
        std::fs::read(&status).unwrap(),
        history_status,
        "{} changed",
        status.display()
    );
}

#[test]
fn a_haikuporter_instance_is_taken_over_without_uploading_any_package_again() {
    let started = Instant::now();
    let instance = HaikuPorterInstance::create(Farm::start(2), HISTORY, UNPUBLISHED);
    let root = instance.root();
    let published_before = package_list(&root.join("repository/package.list"));
    // Built by HaikuPorter, never published: real files only in its packages directory.
    let unpublished: BTreeSet<String> = std::fs::read_dir(instance.haikuporter_packages())
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file() && !is_stub(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        unpublished.iter().any(|f| f.starts_with("libtwo-")) && unpublished.is_disjoint(&published_before),
        "{unpublished:?}"
    );
    assert!(
        published_before.iter().any(|f| f.starts_with("libbase-"))
            && published_before.iter().any(|f| f.starts_with("libcore-")),
        "the history did not publish what it should: {published_before:?}"
    );
    let history_status =
        std::fs::read(root.join(format!("output/buildruns/{LAST_BUILDRUN}/status.json"))).unwrap();
    let before = instance.objects();
    let package_key = |file: &str| format!("{}/packages/{file}", instance.farm.prefix);
    for file in &published_before {
        let key = package_key(file);
        assert!(
            before.contains_key(&key),
            "{key} is not in the bucket: {before:?}"
        );
        assert!(
            !instance.has_metadata(&key),
            "{key} should look uploaded by boto3"
        );
    }
    // The builders come to the takeover with empty package caches (provisioned afresh): every
    // dependency of the new builds must then come from the bucket, through the local stubs.
    for sshd in &instance.farm.builders {
        let _ = std::fs::remove_dir_all(sshd.work.join("haikuports/packages"));
    }
    let ledger_mark = instance.farm.ledger().len();
    // Object timestamps have a resolution of a second or coarser: make any rewrite visible.
    std::thread::sleep(Duration::from_millis(1100));

    // The takeover, as docs/migration.md tells the operator (steps 1 and 2 stop HaikuPorter and
    // back the volume up; the fixture is stopped already).
    // Step 3. The packages directory moves from the ports tree to the state directory.
    std::fs::rename(instance.haikuporter_packages(), root.join("packages")).unwrap();
    // Step 4. The instance config names the system packages (everything else has HaikuPorter's defaults).
    std::fs::write(
        root.join("buildmaster.toml"),
        format!(
            "[ports]\nsystem_packages = \"{}\"\n",
            instance.system_packages().display()
        ),
    )
    .unwrap();
    // Step 5. The database is filled from HaikuPorter's local index.
    let out = instance.run(&["recover", "--from", "local"], Duration::from_secs(60));
    support::farm::assert_success(&out, "recover --from local");
    let recovered = text(&out.stdout);
    assert!(
        recovered.contains(&format!(
            "recovered {} packages (0 stubs created)",
            published_before.len()
        )),
        "{recovered}"
    );
    let complaints = text(&out.stderr);
    assert!(
        !complaints.contains("not in storage") && !complaints.contains("disagree"),
        "{complaints}"
    );
    // Step 6. The plan of everything builds only what HaikuPorter has not published.
    let builders = instance.builders_dir();
    let builders = builders.to_str().unwrap();
    let out = instance.run(&["plan", "--json", "--everything"], Duration::from_secs(120));
    support::farm::assert_success(&out, "plan --everything");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan printed no JSON ({e}): {}", text(&out.stdout)));
    let (planned, planned_results) = planned(&plan);
    for port in NEW_PORTS {
        assert!(
            planned.iter().any(|p| p.starts_with(&format!("{port}-"))),
            "{port} is not planned: {planned:?}"
        );
    }
    assert!(
        planned_results.is_disjoint(&published_before) && planned_results.is_disjoint(&unpublished),
        "the plan rebuilds existing packages: {planned_results:?}"
    );
    // Step 7. The buildrun with HaikuPorter's builders directory builds and publishes them.
    let out = instance.run(
        &["buildrun", "--builders-dir", builders, "--everything"],
        BUILDRUN_TIMEOUT,
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the takeover's buildrun failed ({}):\n{stdout}{}\n{}",
        out.status,
        text(&out.stderr),
        instance.farm.diagnostics()
    );
    assert!(
        stdout.contains(&format!("buildrun {}: complete", LAST_BUILDRUN + 1)),
        "{stdout}"
    );

    // Exactly the planned ports were built, each once, on HaikuPorter's builders.
    let (starts, built) = ledger_since(&instance.farm, ledger_mark);
    assert_eq!(
        starts.keys().cloned().collect::<BTreeSet<_>>(),
        planned,
        "{}",
        instance.farm.diagnostics()
    );
    for (port, count) in &starts {
        assert_eq!(*count, 1, "{port} was built {count} times");
    }
    let built_files: BTreeSet<String> = built.values().flatten().cloned().collect();
    assert_eq!(built_files, planned_results);

    assert_dependencies_came_from_the_bucket(&instance, &before);

    // The publish names only the new packages: those just built and those HaikuPorter left unpublished.
    let published_now: BTreeSet<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("published: "))
        .map(str::to_owned)
        .collect();
    let new_files: BTreeSet<String> = built_files.union(&unpublished).cloned().collect();
    assert_eq!(published_now, new_files, "{stdout}");

    // No object that was in the bucket was written again; the new packages are there.
    let after = instance.objects();
    let index_files: BTreeSet<String> = ["repo", "repo.info", "repo.sha256", "package.list"]
        .iter()
        .map(|f| format!("{}/{f}", instance.farm.prefix))
        .collect();
    for (key, old) in &before {
        let new = after
            .get(key)
            .unwrap_or_else(|| panic!("{key} disappeared from the bucket"));
        if !index_files.contains(key) {
            assert_eq!(new, old, "{key} was uploaded again");
        }
    }
    for file in &new_files {
        assert!(after.contains_key(&package_key(file)), "{file} was not uploaded");
    }
    // Nothing else appeared under packages/ (our own bookkeeping objects may appear elsewhere).
    let packages_prefix = format!("{}/packages/", instance.farm.prefix);
    let added: BTreeSet<String> = after
        .keys()
        .filter(|k| k.starts_with(&packages_prefix) && !before.contains_key(*k))
        .cloned()
        .collect();
    let expected_added: BTreeSet<String> = new_files.iter().map(|f| package_key(f)).collect();
    assert_eq!(added, expected_added, "packages other than the new ones appeared");

    // pkgman sees old and new packages, and every download matches the index.
    let refreshed = refresh_and_download(&instance.farm.web_base())
        .unwrap_or_else(|e| panic!("pkgman refresh failed: {e:?}\n{}", instance.farm.diagnostics()));
    let served: BTreeSet<String> = refreshed.packages.iter().map(|(n, _)| n.clone()).collect();
    let expected: BTreeSet<String> = published_before.union(&new_files).cloned().collect();
    assert_eq!(served, expected);
    assert_eq!(package_list(&root.join("repository/package.list")), expected);

    // Every local package is a stub, the new ones included.
    for file in &expected {
        let path = root.join("packages").join(file);
        assert!(is_stub(&path), "{} is not a zero-byte stub", path.display());
    }

    assert_numbering_continues(&root, planned.len(), &history_status);
    eprintln!(
        "takeover test: {:.1} s wall, {} packages kept, {} published",
        started.elapsed().as_secs_f64(),
        published_before.len(),
        new_files.len()
    );
}
