//! Crash safety of pushed repositories, measured the way their clients see it (issue 14, acceptance 3).
//!
//! One instance publishes a signed Debian suite and an RPM repository into a real garage bucket. A poller
//! thread reads them through garage's web endpoint without pause, exactly as the clients do: apt
//! (`InRelease` → its SHA256 list → every `Packages`, `.gz`, `.xz` by hash → every `Filename` in the
//! pool, each checked against its digest and size) and dnf (`repomd.xml` → every data file → the
//! packages `primary.xml.gz` names, each checked against its checksum). Meanwhile 20 pushes each publish
//! a new version of a package to both: 10 of them are SIGKILLed at 10 different crash points
//! (`BUILDMASTER_CRASH_AT`) and rerun, and during one more push garage itself is killed and restarted on
//! the same data directory (an outage while the push is in flight: the push either rides it out or
//! fails with a clear error and succeeds on rerun). A **failed read** — an object an index names that is
//! missing (404), or bytes that do not match their digest — must never happen; reads that found no
//! server (connection refused while garage is down) are counted apart and only allowed during the
//! outage. Then a client holding the first generation's `InRelease` and `repomd.xml` still fetches
//! everything they name after all 20 publishes and a `buildmaster prune` inside the retention window; a
//! prune with the window set to 0, itself killed twice, deletes that generation but never one of the
//! last superseded generations, and converges. Finally real `apt-get` and `dnf` install the newest
//! version. The figures are printed (`--nocapture`).

#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;
#[path = "support/repo_clients.rs"]
#[allow(dead_code)]
mod repo_clients;
#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
mod support;

use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use debian_tools::{build_deb, host_architecture, output_text, require_tool, Apt};
use repo_clients::{resolve, Client, Generation, Named};
use rpm_tools::{dnf_install, rpmbuild, Spec, Trust};
use support::garage::Garage;
use support::pkgman::get;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
/// Publishes (pushes of a new version) in the run.
const PUBLISHES: usize = 20;
/// The crash point each even-numbered push is killed at (`#n`: the n-th time it is reached). The push
/// publishes the Debian suite first, then the RPM repository; the suite has three root files
/// (`Release`, `Release.gpg`, `InRelease`).
const CRASH_POINTS: [&str; 10] = [
    "repos-locked",                    // lock taken (bucket lock object left behind), nothing done
    "repos-pool-uploaded#1",           // the .deb is in the pool, not recorded
    "repos-pool-recorded#2",           // the .rpm recorded, not linked (the .deb linked)
    "repos-linked",                    // both linked, nothing published
    "repos-index-content-addressed#2", // two new content-addressed index files up, not all
    "repos-index-data#1",              // a plainly named Packages overwritten, InRelease still old
    "repos-index-root#1",              // Release up, InRelease still the old one
    "repos-index-uploaded#2",          // RPM: repomd.xml up, old generation not superseded
    "repos-published#1",               // suite published, not marked published
    "repos-unlocking",                 // all done, bucket lock not released
];
/// The push during which garage is killed and restarted.
const OUTAGE_PUBLISH: usize = 11;
/// How long garage stays down.
const OUTAGE: Duration = Duration::from_secs(3);
/// The Debian codename.
const CODENAME: &str = "bookworm";
/// The RPM repository's root below the instance's prefix.
const RPM_ROOT: &str = "rpm/el/9/x86_64";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A state directory with the Debian suite and the RPM repository, storing under a prefix of its own.
struct Instance {
    work: tempfile::TempDir,
    prefix: String,
    key: PathBuf,
}

impl Instance {
    fn new(garage: &Garage) -> Self {
        let work = tempfile::tempdir().unwrap();
        let prefix = format!("crash-{:08x}", fastrand::u32(..));
        std::fs::write(work.path().join("storage.json"), garage.storage_json(&prefix)).unwrap();
        std::fs::create_dir_all(work.path().join("state")).unwrap();
        let key = work.path().join("signing.asc");
        std::fs::write(
            &key,
            buildmaster::formats::signing::generate_ed25519_armored("crash test <c@example.invalid>")
                .unwrap(),
        )
        .unwrap();
        let instance = Self { work, prefix, key };
        instance.configure(None);
        instance
    }

    /// Writes buildmaster.toml; `retention_hours` overrides both repositories' index retention.
    fn configure(&self, retention_hours: Option<u32>) {
        let retention = retention_hours
            .map(|h| format!("index_retention_hours = {h}\n"))
            .unwrap_or_default();
        std::fs::write(
            self.work.path().join("state/buildmaster.toml"),
            format!(
                "[[repositories]]\nid = \"debian/{CODENAME}\"\nroot = \"apt\"\nsigning_key = \"{}\"\n{retention}\
                 [repositories.debian]\ncodename = \"{CODENAME}\"\narchitectures = [\"{}\"]\n\n\
                 [[repositories]]\nid = \"el/9/x86_64\"\nroot = \"{RPM_ROOT}\"\n{retention}\
                 [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n",
                self.key.display(),
                host_architecture()
            ),
        )
        .unwrap();
    }

    fn command(&self, args: &[&str], crash_at: Option<&str>) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--state-dir")
            .arg(self.work.path().join("state"))
            .arg("--storage-backend-config")
            .arg(self.work.path().join("storage.json"))
            .args(args)
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_CRASH_AT");
        if let Some(point) = crash_at {
            cmd.env("BUILDMASTER_CRASH_AT", point);
        }
        cmd
    }

    fn push_command(&self, files: &[PathBuf], crash_at: Option<&str>) -> Command {
        let mut cmd = self.command(&["push"], crash_at);
        cmd.args(files)
            .args(["--to", &format!("debian/{CODENAME}"), "--to", "el/9/x86_64"]);
        cmd
    }

    fn apt(&self) -> String {
        format!("{}/apt", self.prefix)
    }

    fn rpm(&self) -> String {
        format!("{}/{RPM_ROOT}", self.prefix)
    }

    /// A .deb and an .rpm of `bm-poll` version `1.<n>`; with `blob_mib`, the .deb carries that many MiB
    /// of random bytes (a push that takes a while).
    fn packages(&self, n: usize, blob_mib: usize) -> Vec<PathBuf> {
        let debs = self.work.path().join(format!("debs/{n}"));
        let blob_dir = debs.join("bm-poll-root/usr/share/bm-poll");
        std::fs::create_dir_all(&blob_dir).unwrap();
        let blob: Vec<u8> = (0..blob_mib << 20).map(|_| fastrand::u8(..)).collect();
        std::fs::write(blob_dir.join("blob"), blob).unwrap();
        let deb = build_deb(
            &debs,
            &format!(
                "Package: bm-poll\nVersion: 1.{n}-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
                 Description: polled\n Published while a client reads.\n"
            ),
            if blob_mib > 0 { "none" } else { "gzip" },
        );
        let top = self.work.path().join("rpmbuild");
        std::fs::create_dir_all(&top).unwrap();
        let version = format!("1.{n}");
        let rpm = rpmbuild(
            &top,
            &Spec {
                name: "bm-poll",
                version: &version,
                preamble: "",
            },
        );
        vec![deb, rpm]
    }
}

/// What the main thread checks after every publish: both repositories read cleanly and their
/// newest version is `1.<n>`.
fn assert_converged(client: &mut Client, inst: &Instance, n: usize, after: &str) -> (Generation, Generation) {
    let debian = client.read_debian(&inst.apt(), CODENAME, None);
    let rpm = client.read_rpm(&inst.rpm(), None);
    assert!(
        client.tally.failed.is_empty() && client.tally.unavailable_otherwise.is_empty(),
        "{after}: {:?}",
        client.tally
    );
    let (debian, rpm) = (debian.unwrap(), rpm.unwrap());
    assert!(
        debian.versions.contains(&format!("1.{n}-1")),
        "{after}: {:?}",
        debian.versions
    );
    assert!(
        rpm.versions.contains(&format!("1.{n}")),
        "{after}: {:?}",
        rpm.versions
    );
    (debian, rpm)
}

#[test]
fn clients_never_see_a_broken_repository_through_crashes_an_outage_and_prune() {
    for tool in ["dpkg-deb", "apt-get", "gpgv", "rpmbuild", "dnf"] {
        require_tool(tool);
    }
    let garage = Garage::start();
    let inst = Instance::new(&garage);
    let outage = Arc::new(AtomicBool::new(false));
    let mut checker = Client::new(&garage.web_endpoint(), outage.clone());

    let first = inst.packages(1, 0);
    let out = inst.push_command(&first, None).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // The client that keeps the first generation's roots.
    let (early_debian, early_rpm) = assert_converged(&mut checker, &inst, 1, "the first publish");

    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (stop, mut client, apt, rpm) = (
            stop.clone(),
            Client::new(&garage.web_endpoint(), outage.clone()),
            inst.apt(),
            inst.rpm(),
        );
        std::thread::spawn(move || {
            let mut passes = 0u64;
            while !stop.load(Ordering::SeqCst) {
                client.read_debian(&apt, CODENAME, None);
                client.read_rpm(&rpm, None);
                passes += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            (client.tally, passes)
        })
    };

    let mut kills = 0;
    let mut outage_outcome = String::new();
    let mut lock_takeovers = Vec::new();
    let mut generations = vec![(early_debian.clone(), early_rpm.clone())];
    for n in 2..=PUBLISHES {
        let crash = (n % 2 == 0).then(|| CRASH_POINTS[n / 2 - 1]);
        let files = inst.packages(n, if n == OUTAGE_PUBLISH { 8 } else { 0 });
        if let Some(point) = crash {
            let killed = inst.push_command(&files, Some(point)).output().unwrap();
            let name = point.split('#').next().unwrap();
            assert_eq!(
                killed.status.signal(),
                Some(libc::SIGKILL),
                "push {n} was not killed at {point}: {}",
                text(&killed)
            );
            assert!(
                text(&killed).contains(&format!("crash point {name}")),
                "{}",
                text(&killed)
            );
            kills += 1;
            let started = Instant::now();
            let rerun = inst.push_command(&files, None).output().unwrap();
            let took = started.elapsed();
            assert!(rerun.status.success(), "rerun after {point}: {}", text(&rerun));
            let shown = text(&rerun);
            match name {
                // The pool object the killed push uploaded is adopted by its digest, not uploaded again.
                // Its files go up side by side, so the one it finished first (the crash point follows
                // the first upload) may be either; the rerun uploads at most the other.
                "repos-pool-uploaded" => {
                    let adopted = [
                        format!("already stored: bm-poll_1.{n}-1_all.deb"),
                        format!("already stored: bm-poll-1.{n}-1.noarch.rpm"),
                    ];
                    assert!(
                        adopted.iter().any(|line| shown.contains(line.as_str())),
                        "neither pool file adopted: {shown}"
                    );
                    assert!(
                        shown.matches("uploaded: ").count() <= 1,
                        "at most the file the killed push had not finished: {shown}"
                    );
                }
                // The bucket lock the killed push left is taken over at once, not after its TTL.
                "repos-locked" | "repos-unlocking" => {
                    assert!(
                        took < Duration::from_secs(30),
                        "rerun after {point} waited {took:?}"
                    );
                    lock_takeovers.push(took);
                }
                _ => {}
            }
            if name == "repos-unlocking" {
                assert!(
                    shown.contains("nothing changed"),
                    "the killed push had finished: {shown}"
                );
            } else {
                assert!(
                    shown.contains("published "),
                    "rerun after {point} published nothing: {shown}"
                );
            }
        } else if n == OUTAGE_PUBLISH {
            outage_outcome = push_through_an_outage(&garage, &inst, &files, &outage);
        } else {
            let out = inst.push_command(&files, None).output().unwrap();
            assert!(out.status.success(), "push {n}: {}", text(&out));
        }
        let what = format!("publish {n} ({})", crash.unwrap_or("no crash"));
        generations.push(assert_converged(&mut checker, &inst, n, &what));
    }

    // A client holding the first generation catches up after all publishes, and after a prune inside
    // the retention window.
    let mut early = Client::new(&garage.web_endpoint(), outage.clone());
    early.read_debian(&inst.apt(), CODENAME, Some(&early_debian.root));
    early.read_rpm(&inst.rpm(), Some(&early_rpm.root));
    early.fetch_all(&early_debian.named);
    early.fetch_all(&early_rpm.named);
    assert!(
        early.tally.failed.is_empty(),
        "after 20 publishes: {:?}",
        early.tally
    );
    let prune = inst.command(&["prune"], None).output().unwrap();
    assert!(prune.status.success(), "{}", text(&prune));
    assert_eq!(text(&prune).matches("deleted ").count(), 0, "{}", text(&prune));
    early.fetch_all(&early_debian.named);
    early.fetch_all(&early_rpm.named);
    assert!(early.tally.failed.is_empty(), "after prune: {:?}", early.tally);
    let early_reads = early.tally.reads;

    // Retention 0: prune (killed twice, then completed) deletes the first generation's indexes but
    // keeps the last superseded generations, and a second prune finds nothing left to do.
    inst.configure(Some(0));
    let mut prune_kills = 0;
    for point in ["repos-prune-deleted#2", "repos-prune-forgotten#1"] {
        let killed = inst.command(&["prune"], Some(point)).output().unwrap();
        assert_eq!(
            killed.status.signal(),
            Some(libc::SIGKILL),
            "prune at {point}: {}",
            text(&killed)
        );
        prune_kills += 1;
    }
    let prune = inst.command(&["prune"], None).output().unwrap();
    assert!(prune.status.success(), "{}", text(&prune));
    let deleted = text(&prune).matches("deleted ").count();
    assert!(deleted > 0, "{}", text(&prune));
    let again = inst.command(&["prune"], None).output().unwrap();
    assert_eq!(text(&again).matches("deleted ").count(), 0, "{}", text(&again));
    // The first generation's indexes that the current one does not name again are gone: the
    // catch-up check above would have seen a deletion.
    let (current_debian, current_rpm) = generations.last().unwrap();
    let superseded = |early: &Generation, current: &Generation| -> Vec<Named> {
        early
            .named
            .iter()
            .filter(|o| !o.path.contains("pool/") && !current.named.iter().any(|c| c.path == o.path))
            .cloned()
            .collect()
    };
    let first_indexes = [
        superseded(&early_debian, current_debian),
        superseded(&early_rpm, current_rpm),
    ]
    .concat();
    let mut gone = Client::new(&garage.web_endpoint(), outage.clone());
    gone.fetch_all(&first_indexes);
    assert!(!first_indexes.is_empty());
    assert_eq!(
        gone.tally.failed.len(),
        first_indexes.len(),
        "beyond the window the first generation's superseded indexes are deleted: {:?}",
        gone.tally
    );
    let mut kept = Client::new(&garage.web_endpoint(), outage.clone());
    for (debian, rpm) in &generations[generations.len() - 4..] {
        kept.fetch_all(&debian.named);
        kept.fetch_all(&rpm.named);
    }
    assert!(
        kept.tally.failed.is_empty(),
        "the last generations: {:?}",
        kept.tally
    );

    stop.store(true, Ordering::SeqCst);
    let (tally, passes) = poller.join().unwrap();
    println!(
        "crash poller: {} publishes, {kills} killed and rerun, {prune_kills} prunes killed; garage outage: \
         {outage_outcome}; poller: {passes} passes, {} reads, {} failed, {} unavailable during the outage, {} \
         unavailable otherwise; lock takeovers after a kill: {lock_takeovers:?}; first-generation client: \
         {early_reads} reads, 0 failed; retention-0 prune deleted {deleted}",
        PUBLISHES,
        tally.reads,
        tally.failed.len(),
        tally.unavailable_in_outage,
        tally.unavailable_otherwise.len(),
    );
    assert!(tally.failed.is_empty(), "failed reads: {:?}", tally.failed);
    assert!(
        tally.unavailable_otherwise.is_empty(),
        "unavailable outside the outage: {:?}",
        tally.unavailable_otherwise
    );
    assert!(passes > 20, "the poller ran ({passes} passes)");

    install_the_newest(&garage, &inst);
    the_client_counts_what_a_broken_publisher_would_leave(&garage, &inst, outage);
}

/// The counting is not blind: with a current by-hash index deleted and a package overwritten with
/// other bytes (what a wrong upload order or an early prune would leave), the same client reports a
/// failed read for each.
fn the_client_counts_what_a_broken_publisher_would_leave(
    garage: &Garage,
    inst: &Instance,
    outage: Arc<AtomicBool>,
) {
    let mut client = Client::new(&garage.web_endpoint(), outage);
    let debian = client.read_debian(&inst.apt(), CODENAME, None).unwrap();
    let rpm = client.read_rpm(&inst.rpm(), None).unwrap();
    assert!(client.tally.failed.is_empty(), "{:?}", client.tally);
    let by_hash = debian
        .named
        .iter()
        .find(|o| o.path.contains("/by-hash/"))
        .unwrap();
    let package = rpm.named.iter().find(|o| o.path.ends_with(".rpm")).unwrap();
    let s3 = garage.sdk_client();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        s3.delete_object()
            .bucket(garage.bucket())
            .key(&by_hash.path)
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket(garage.bucket())
            .key(&package.path)
            .body(b"other bytes".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    client.read_debian(&inst.apt(), CODENAME, None);
    client.read_rpm(&inst.rpm(), None);
    let failed = &client.tally.failed;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0].contains(&by_hash.path) && failed[0].ends_with("404"),
        "{failed:?}"
    );
    assert!(
        failed[1].contains(&package.path) && failed[1].contains("the index says"),
        "{failed:?}"
    );
}

/// Pushes `files` and kills garage while the push is in flight (it has written the lock and is
/// uploading an 8 MiB package), restarts it on the same data directory after [`OUTAGE`], and returns
/// how the push fared: it rode the outage out, or failed clearly and its rerun succeeded.
fn push_through_an_outage(
    garage: &Garage,
    inst: &Instance,
    files: &[PathBuf],
    outage: &AtomicBool,
) -> String {
    let puts = garage.s3_requests("PutObject");
    let mut child = inst
        .push_command(files, None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while garage.s3_requests("PutObject") == puts {
        assert!(Instant::now() < deadline, "the push never wrote its lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    outage.store(true, Ordering::SeqCst);
    garage.stop();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the push finished before garage went down"
    );
    std::thread::sleep(OUTAGE);
    garage.restart();
    let out = child.wait_with_output().unwrap();
    let outcome = if out.status.success() {
        "the push rode it out".to_string()
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let error = stderr
            .lines()
            .find(|l| l.starts_with("buildmaster: error:"))
            .unwrap_or_default();
        assert!(
            error.contains("storage") && error.contains("failed") && error.contains("transient"),
            "a clear error naming the storage operation and saying a retry can help: {stderr}"
        );
        let rerun = inst.push_command(files, None).output().unwrap();
        assert!(rerun.status.success(), "rerun after the outage: {}", text(&rerun));
        format!("the push failed ({error}) and its rerun succeeded")
    };
    // Clients see the server again before the outage counts as over.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(
        &garage.web_endpoint(),
        &format!("{}/dists/{CODENAME}/InRelease", inst.apt()),
    )
    .map(|r| r.status != 200)
    .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "garage's web endpoint did not come back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    outage.store(false, Ordering::SeqCst);
    outcome
}

/// Real apt resolves and downloads the newest `bm-poll`, real dnf installs it.
fn install_the_newest(garage: &Garage, inst: &Instance) {
    let newest = format!("1.{PUBLISHES}");
    let public = inst.work.path().join("signing.gpg");
    let signer = buildmaster::formats::signing::OpenPgpSigner::from_file(&inst.key).unwrap();
    std::fs::write(&public, signer.public_key_binary().unwrap()).unwrap();
    let url = format!("{}/{}", garage.web_endpoint(), inst.apt());
    let apt = Apt::new(&inst.work.path().join("apt"), &url, CODENAME, &public);
    let update = apt.run(&["update"]);
    let log = output_text(&update);
    assert!(
        update.status.success() && !log.contains("\nW:") && !log.contains("Err:"),
        "{log}"
    );
    let install = apt.run(&["install", "-s", "bm-poll"]);
    let log = output_text(&install);
    assert!(log.contains(&format!("Inst bm-poll ({newest}-1")), "{log}");
    let download = apt.run(&["download", "bm-poll"]);
    assert!(download.status.success(), "{}", output_text(&download));

    let work = inst.work.path().join("dnf");
    std::fs::create_dir_all(&work).unwrap();
    let trust = Trust {
        gpgcheck: false,
        repo_gpgcheck: false,
        key: None,
    };
    let baseurl = format!("{}/{}/", garage.web_endpoint(), inst.rpm());
    let out = dnf_install(&work, &baseurl, &trust, "bm-poll");
    assert!(out.status.success(), "dnf: {}", text(&out));
    let installed = std::fs::read_to_string(work.join("root/usr/share/bm-poll/bm-poll.txt")).unwrap();
    assert_eq!(installed.trim(), format!("bm-poll {newest}"));
}

#[test]
fn hrefs_resolve_like_curl() {
    assert_eq!(
        resolve("p/rpm/el/9/x86_64", "../../../../rpm-pool/ab/abc/x.rpm"),
        "p/rpm-pool/ab/abc/x.rpm"
    );
    assert_eq!(resolve("p/apt", "pool/a.deb"), "p/apt/pool/a.deb");
}
