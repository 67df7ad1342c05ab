//! Publishing delta cost (run by `bench/publish/run.sh`): builds a repository of N packages in the
//! configured storage, then runs ROUNDS publishes in each of which CHANGED packages are new, and prints
//! the end-to-end time and the storage requests of each (counted by a wrapper around the backend), and
//! the time of each phase of the publish (the initial one's, and each phase's median over the rounds).
//!
//! Usage: publish-bench <storage.json> <state-dir> <packages> <changed> <rounds>

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use buildmaster::config::StorageConfig;
use buildmaster::haiku::hpkg_writer::{create_package, CreateOptions};
use buildmaster::publish::timings::PhaseTime;
use buildmaster::publish::{publish, PublishSettings, Publisher};
use buildmaster::state::{Database, StateDir};
use buildmaster::storage_api::{
    ObjectKey, ObjectMeta, ObjectReader, ObjectStream, PutOptions, StorageBackend, StorageError,
};

/// Storage requests made through a backend.
#[derive(Debug, Default)]
struct Counts {
    put: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    list: AtomicU64,
    copy: AtomicU64,
    delete: AtomicU64,
}

/// A backend that counts the requests it forwards.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn StorageBackend>,
    counts: Arc<Counts>,
}

#[async_trait]
impl StorageBackend for Counting {
    async fn put(
        &self,
        key: &ObjectKey,
        body: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
        size: u64,
        opts: &PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        self.counts.put.fetch_add(1, Ordering::Relaxed);
        self.inner.put(key, body, size, opts).await
    }
    async fn get(&self, key: &ObjectKey) -> Result<ObjectReader, StorageError> {
        self.counts.get.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        self.counts.head.fetch_add(1, Ordering::Relaxed);
        self.inner.head(key).await
    }
    fn list<'a>(&'a self, prefix: &'a ObjectKey) -> ObjectStream<'a> {
        self.counts.list.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix)
    }
    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        self.counts.copy.fetch_add(1, Ordering::Relaxed);
        self.inner.copy(from, to).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.counts.delete.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

const REPO_INFO: &str =
    "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"Benchmark repository\"\npriority 1\n\
identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n";

/// Writes `name-version-x86_64.hpkg` into the spool, with one small data file.
fn make_package(work: &Path, spool: &Path, name: &str, version: &str) {
    let dir = work.join("src").join(name);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("data").join("payload"),
        format!("{name} {version}\n").repeat(20),
    )
    .unwrap();
    let info = work.join("info").join(format!("{name}-{version}"));
    std::fs::create_dir_all(info.parent().unwrap()).unwrap();
    std::fs::write(
        &info,
        format!(
            "name {name}\nversion {version}\narchitecture x86_64\nsummary \"Benchmark package {name}\"\n\
             description \"Generated for the publishing benchmark.\"\npackager \"Bench <b@example.org>\"\n\
             vendor \"Haiku Project\"\ncopyrights {{ \"2026 Bench\" }}\nlicenses {{ \"MIT\" }}\n\
             provides {{ {name} = {version} cmd:{name} }}\nrequires {{ haiku >= r1~beta4 lib:libfoo >= 1.2 }}\n"
        ),
    )
    .unwrap();
    let options = CreateOptions {
        info_file: Some(info),
        directory: dir,
        compression: buildmaster::haiku::heap_writer::Compression::Zlib,
        install_path: None,
    };
    create_package(&options, &spool.join(format!("{name}-{version}-x86_64.hpkg"))).unwrap();
}

/// `phase 1.2 ms, phase 3.4 ms, …`.
fn describe(phases: &[PhaseTime]) -> String {
    phases
        .iter()
        .map(|p| format!("{} {:.1} ms", p.phase, p.elapsed.as_secs_f64() * 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, state_dir, packages, changed, rounds] = &args[..] else {
        panic!("usage: publish-bench <storage.json> <state-dir> <packages> <changed> <rounds>")
    };
    let (packages, changed, rounds): (usize, usize, usize) = (
        packages.parse().unwrap(),
        changed.parse().unwrap(),
        rounds.parse().unwrap(),
    );
    let state = StateDir::new(PathBuf::from(state_dir));
    state.create().unwrap();
    std::fs::write(state.repository().join("repo.info"), REPO_INFO).unwrap();
    let work = state.root().join("work");

    let started = Instant::now();
    for i in 0..packages {
        make_package(&work, &state.packages(), &format!("pkg{i:05}"), "1.0-1");
    }
    eprintln!(
        "made {packages} packages in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let config = StorageConfig::load(Path::new(config)).unwrap();
    let counts = Arc::new(Counts::default());
    let inner = buildmaster::storage::open_config(&config).await.unwrap();
    let storage: Arc<dyn StorageBackend> = Arc::new(Counting {
        inner,
        counts: counts.clone(),
    });
    let db = Database::open(&state.database()).unwrap();
    let mut publisher = Publisher {
        state: state.clone(),
        db,
        storage,
        settings: PublishSettings::default(),
    };

    let started = Instant::now();
    let report = publish(&mut publisher, false).await.unwrap();
    eprintln!(
        "initial publish: {} packages uploaded, index of {} in {:.1} s",
        report.uploaded.len(),
        report.index_packages,
        started.elapsed().as_secs_f64()
    );
    eprintln!("initial publish phases: {}", describe(&report.phases));

    println!("round\tseconds\tuploads\tlistings\theads\tgets\tindex_packages");
    let mut times = Vec::new();
    let mut round_phases: Vec<Vec<PhaseTime>> = Vec::new();
    for round in 0..rounds {
        for j in 0..changed {
            if j % 2 == 0 {
                // A new version of an existing package.
                make_package(
                    &work,
                    &state.packages(),
                    &format!("pkg{:05}", round * changed + j),
                    &format!("1.{}-1", round + 1),
                );
            } else {
                make_package(
                    &work,
                    &state.packages(),
                    &format!("new{round:02}x{j:02}"),
                    "1.0-1",
                );
            }
        }
        for c in [
            &counts.put,
            &counts.get,
            &counts.head,
            &counts.list,
            &counts.copy,
            &counts.delete,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        let started = Instant::now();
        let report = publish(&mut publisher, false).await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(
            report.uploaded.len(),
            changed,
            "each round uploads exactly the changed packages"
        );
        times.push(seconds);
        round_phases.push(report.phases.clone());
        println!(
            "{round}\t{seconds:.3}\t{}\t{}\t{}\t{}\t{}",
            counts.put.load(Ordering::Relaxed),
            counts.list.load(Ordering::Relaxed),
            counts.head.load(Ordering::Relaxed),
            counts.get.load(Ordering::Relaxed),
            report.index_packages
        );
    }
    println!(
        "median publish time for {changed} changed of {packages}: {:.3} s",
        median(times)
    );
    let medians: Vec<PhaseTime> = round_phases
        .first()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| PhaseTime {
            phase: p.phase,
            elapsed: std::time::Duration::from_secs_f64(median(
                round_phases.iter().map(|r| r[i].elapsed.as_secs_f64()).collect(),
            )),
        })
        .collect();
    println!("median phases: {}", describe(&medians));
}
