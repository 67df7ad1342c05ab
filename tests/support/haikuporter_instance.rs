//! A HaikuPorter buildmaster instance, made from scratch and laid out as HaikuPorter leaves its
//! `/var/buildmaster` volume (reference report §3.1, §4.4–4.6, §5.1, §6.2), for the takeover test.
//!
//! ```text
//! <root>/                                  the volume (`/var/buildmaster`)
//!   haikuports/                            the ports tree (a git checkout of the fixture), with
//!     buildmaster/builders/<name>.json     one per builder: private key inline (base64 of the OpenSSH text)
//!     buildmaster/builders/known_hosts     shared by every builder
//!     packages/                            zero-byte stubs of every published package, real files of
//!                                          packages built but not yet published; .obsolete/
//!     repository/                          HaikuPorter's internal repository (hpkgInfoCache, …)
//!   repository/                            REPO_DIR: repo, repo.info, repo.sha256, package.list,
//!                                          packages/ (hard links of the last run's packages, now stubs)
//!   system-packages/<branch>/              Haiku's system packages
//!   output/buildruns/…                     the frontend's tree: last_buildrun, buildruns.txt, <N>/…
//!   storage.json                           the storage config (`prefix` with HaikuPorter's trailing `/`)
//! ```
//!
//! The published packages are real: a throwaway buildmaster builds the history ports on the farm's
//! sshd builders and publishes them to garage. Then everything that is ours and not HaikuPorter's goes
//! (its whole state directory: database, config, output, locks), the bucket's objects are rewritten
//! the way boto3's `upload_fileobj` wrote them (no metadata, no content type), and the output tree
//! gets a HaikuPorter history ending at buildrun [`LAST_BUILDRUN`].
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine as _;

use super::farm::{assert_success, Farm, BIN};

/// The last buildrun HaikuPorter ran on this instance; ours must continue at the next number.
pub const LAST_BUILDRUN: u64 = 41;
/// The highest build number in HaikuPorter's output tree; ours must continue above it.
pub const LAST_BUILD: u64 = 212;
/// HaikuPorter's own counter (`buildmaster/buildnumber`, the next number): builds whose logs were since
/// deleted used the numbers up to here, so ours must start at it, not after [`LAST_BUILD`].
pub const NEXT_BUILD_NUMBER: u64 = LAST_BUILD + 40;
/// Where HaikuPorter keeps the system packages of the Haiku branch it builds for.
pub const SYSTEM_PACKAGE_BRANCH: &str = "r1beta5_72";
/// How long the throwaway buildmaster may take to build and publish the history.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(300);

/// One object in the bucket, as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectState {
    /// The object's ETag.
    pub etag: String,
    /// Last-Modified, in milliseconds since the epoch.
    pub last_modified_ms: i64,
    /// Its size in bytes.
    pub size: i64,
}

/// The instance: the farm (sshd builders, garage, the build ledger) and the volume built in it.
pub struct HaikuPorterInstance {
    /// The farm; its directory is the volume's root.
    pub farm: Farm,
}

impl HaikuPorterInstance {
    /// Builds `history` (ports, with their dependencies) with a throwaway buildmaster on the farm and
    /// publishes them; then builds `unpublished` without publishing (HaikuPorter stopped between a
    /// buildrun and its repository update: real files in `packages/`, not in the index), and turns
    /// what is left into HaikuPorter's layout.
    pub fn create(farm: Farm, history: &[&str], unpublished: &[&str]) -> HaikuPorterInstance {
        let mut args = vec!["buildrun"];
        args.extend_from_slice(history);
        let out = farm.run(&args, HISTORY_TIMEOUT);
        assert_success(&out, "the throwaway buildmaster's buildrun of the history");
        if !unpublished.is_empty() {
            let mut args = vec!["buildrun", "--no-publish"];
            args.extend_from_slice(unpublished);
            let out = farm.run(&args, HISTORY_TIMEOUT);
            assert_success(&out, "the throwaway buildmaster's unpublished buildrun");
        }
        let instance = HaikuPorterInstance { farm };
        instance.move_state_into_haikuporter_layout();
        instance.write_builders();
        instance.write_output_history();
        instance.write_storage_config();
        instance.rewrite_objects_as_boto3();
        instance
    }

    /// The volume's root (`/var/buildmaster`).
    pub fn root(&self) -> PathBuf {
        self.farm.dir.path().to_path_buf()
    }

    /// The ports tree.
    pub fn tree(&self) -> PathBuf {
        self.root().join("haikuports")
    }

    /// HaikuPorter's builders directory.
    pub fn builders_dir(&self) -> PathBuf {
        self.tree().join("buildmaster/builders")
    }

    /// HaikuPorter's packages directory (inside the ports tree).
    pub fn haikuporter_packages(&self) -> PathBuf {
        self.tree().join("packages")
    }

    /// HaikuPorter's `system-packages/<branch>`.
    pub fn system_packages(&self) -> PathBuf {
        self.root().join("system-packages").join(SYSTEM_PACKAGE_BRANCH)
    }

    /// The storage config JSON.
    pub fn storage_config(&self) -> PathBuf {
        self.root().join("storage.json")
    }

    /// `buildmaster --state-dir <root> ARGS`, with the storage config passed as HaikuPorter's scripts
    /// pass theirs (`STORAGE_BACKEND_CONFIG`) and nothing else inherited.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_BUILDERS_DIR")
            .env_remove("BUILDMASTER_STATE_DIR")
            .env_remove("BUILDMASTER_CRASH_AT")
            .env("STORAGE_BACKEND_CONFIG", self.storage_config())
            .env("NO_COLOR", "1")
            .arg("--state-dir")
            .arg(self.root())
            .args(args);
        cmd
    }

    /// Runs `buildmaster ARGS` on the volume to completion (or fails at `timeout`).
    pub fn run(&self, args: &[&str], timeout: Duration) -> Output {
        super::farm::run_with_timeout(&mut self.command(args), timeout)
    }

    /// The throwaway buildmaster's spool and index become HaikuPorter's; the rest of its state goes.
    fn move_state_into_haikuporter_layout(&self) {
        let state = self.farm.state();
        let packages = self.haikuporter_packages();
        std::fs::rename(state.join("packages"), &packages).unwrap();
        let listed = std::fs::read_to_string(state.join("repository/package.list")).unwrap();
        for file in listed.lines().filter(|l| !l.is_empty()) {
            let path = packages.join(file);
            assert!(
                is_stub(&path),
                "{} was published but is not a stub",
                path.display()
            );
        }
        // An obsoleted package's stub, as HaikuPorter's prune leaves them (§5.3).
        std::fs::create_dir_all(packages.join(".obsolete")).unwrap();
        std::fs::write(packages.join(".obsolete/libbase-0.9-1-x86_64.hpkg"), "").unwrap();

        // REPO_DIR: the index files and hard links of the packages (stubs by now, §4.5).
        let repo_dir = self.root().join("repository");
        std::fs::create_dir_all(repo_dir.join("packages")).unwrap();
        for name in ["repo", "repo.info", "repo.sha256", "package.list"] {
            std::fs::copy(state.join("repository").join(name), repo_dir.join(name))
                .unwrap_or_else(|e| panic!("the throwaway buildmaster left no repository/{name}: {e}"));
        }
        // Only the published ones: HaikuPorter makes the links when it updates the repository.
        for entry in std::fs::read_dir(&packages).unwrap() {
            let entry = entry.unwrap();
            if is_stub(&entry.path()) {
                std::fs::hard_link(entry.path(), repo_dir.join("packages").join(entry.file_name())).unwrap();
            }
        }

        // HaikuPorter's internal repository: an (empty) pickled hpkgInfoCache and its backup.
        let internal = self.tree().join("repository");
        std::fs::create_dir_all(&internal).unwrap();
        std::fs::write(internal.join(".formatVersion"), "2").unwrap();
        for name in ["hpkgInfoCache", "hpkgInfoCache.backup"] {
            std::fs::write(internal.join(name), b"\x80\x04}\x94.").unwrap();
        }

        let system = self.system_packages();
        let flat = self.root().join("system-packages-flat");
        std::fs::rename(self.root().join("system-packages"), &flat).unwrap();
        std::fs::create_dir_all(system.parent().unwrap()).unwrap();
        std::fs::rename(&flat, &system).unwrap();

        // Nothing of ours stays: database, config, output tree, locks, recipe cache.
        std::fs::remove_dir_all(&state).unwrap();
    }

    /// `buildmaster/builders/<name>.json` per sshd builder, keys inline as HaikuPorter's loader reads
    /// them (§3.1), and the shared `known_hosts`. The build tool is the farm's ledger-writing wrapper
    /// around the stand-in.
    fn write_builders(&self) {
        let dir = self.builders_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let mut known_hosts = String::new();
        for (i, sshd) in self.farm.builders.iter().enumerate() {
            let name = Farm::builder_name(i);
            let key = std::fs::read_to_string(&sshd.client_key).unwrap();
            // HaikuPorter's sample writes the port as a string; its loader applies int(). Both forms.
            let port = if i % 2 == 0 {
                serde_json::json!(sshd.port)
            } else {
                serde_json::json!(sshd.port.to_string())
            };
            let json = serde_json::json!({
                "name": name,
                "ssh": {
                    "host": "127.0.0.1",
                    "port": port,
                    "user": super::sshd::current_user(),
                    "privateKey": base64::engine::general_purpose::STANDARD.encode(key),
                },
                "portstree": {
                    "path": sshd.work.join("haikuports"),
                    "packagesPath": sshd.work.join("haikuports/packages"),
                    "packagesCachePath": sshd.work.join("haikuports/packages/.cache"),
                    "builderConfig": sshd.work.join("haikuports/builder.conf"),
                },
                "haikuporter": {
                    "path": self.root().join(format!("haikuporter-{name}")),
                    "args": "",
                },
            });
            std::fs::write(
                dir.join(format!("{name}.json")),
                serde_json::to_string_pretty(&json).unwrap(),
            )
            .unwrap();
            known_hosts.push_str(&std::fs::read_to_string(&sshd.known_hosts).unwrap());
        }
        std::fs::write(dir.join("known_hosts"), known_hosts).unwrap();
        // HaikuPorter's other state files next to the builders: the next build number and the last
        // processed revision of the ports tree (§2.2, §2.3).
        let head = Command::new("git")
            .arg("-C")
            .arg(self.tree())
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap();
        assert!(head.status.success(), "git rev-parse HEAD in the ports tree");
        let buildmaster = self.tree().join("buildmaster");
        std::fs::write(buildmaster.join("processed_rev"), head.stdout).unwrap();
        std::fs::write(buildmaster.join("buildnumber"), NEXT_BUILD_NUMBER.to_string()).unwrap();
        // The operator paused HaikuPorter's loop before the takeover (docs/migration.md, step 1).
        std::fs::write(buildmaster.join("stop"), "").unwrap();
    }

    /// HaikuPorter's output tree (§6.2) after buildruns 39–41, the last with one build.
    fn write_output_history(&self) {
        let runs = self.root().join("output/buildruns");
        for n in LAST_BUILDRUN - 2..=LAST_BUILDRUN {
            let dir = runs.join(n.to_string());
            std::fs::create_dir_all(dir.join("builders")).unwrap();
            std::fs::create_dir_all(dir.join("builds")).unwrap();
            std::fs::create_dir_all(dir.join("records")).unwrap();
            let status = serde_json::json!({
                "builds": {"active": [], "scheduled": [], "blocked": [], "complete": [], "failed": [],
                           "lost": [], "skipped": []},
                "builders": {"active": [], "idle": [], "lost": []},
                "nextBuildNumber": LAST_BUILD + 1,
                "portsTreeOriginURL": "https://github.com/haikuports/haikuports.git",
                "portsTreeHead": "0123456789abcdef0123456789abcdef01234567",
                "buildStatus": "complete",
                "startTime": 1_700_000_000.0 + n as f64 * 3600.0,
                "endTime": 1_700_000_600.0 + n as f64 * 3600.0,
            });
            std::fs::write(dir.join("status.json"), status.to_string()).unwrap();
            std::fs::write(
                dir.join("master.log"),
                "2023-11-14 22:13:20,000: buildrun complete\n",
            )
            .unwrap();
        }
        let last = runs.join(LAST_BUILDRUN.to_string());
        let record = serde_json::json!({
            "port": {"name": "libbase", "version": "1.0", "revision": "1", "revisionedName": "libbase-1.0-1"},
            "buildNumbers": [LAST_BUILD], "startTime": 1_700_147_600.0, "duration": 12.5,
            "buildSuccess": true, "builderId": "b1",
        });
        std::fs::write(
            last.join(format!("records/{LAST_BUILD}.json")),
            record.to_string(),
        )
        .unwrap();
        std::fs::write(last.join(format!("builds/{LAST_BUILD}.log")), "built libbase\n").unwrap();
        for (kind, ext) in [("builds", "log"), ("records", "json")] {
            let top = self.root().join("output").join(kind);
            std::fs::create_dir_all(&top).unwrap();
            std::os::unix::fs::symlink(
                format!("../buildruns/{LAST_BUILDRUN}/{kind}/{LAST_BUILD}.{ext}"),
                top.join(format!("{LAST_BUILD}.{ext}")),
            )
            .unwrap();
        }
        let list: String = (LAST_BUILDRUN - 2..=LAST_BUILDRUN)
            .map(|n| format!("{n}\n"))
            .collect();
        std::fs::write(runs.join("buildruns.txt"), list).unwrap();
        std::fs::write(runs.join("last_buildrun"), LAST_BUILDRUN.to_string()).unwrap();
        std::os::unix::fs::symlink(LAST_BUILDRUN.to_string(), runs.join("current")).unwrap();
    }

    /// The storage JSON as HaikuPorter's operators write it: the prefix ends with `/` (§4.2).
    fn write_storage_config(&self) {
        let garage = self.farm.garage;
        let json = serde_json::json!({
            "backend_type": "s3",
            "endpoint_url": garage.s3_endpoint(),
            "region_name": "us-east-1",
            "access_key_id": garage.access_key(),
            "secret_access_key": garage.secret_key(),
            "bucket_name": garage.bucket(),
            "prefix": format!("{}/", self.farm.prefix),
        });
        std::fs::write(
            self.storage_config(),
            serde_json::to_string_pretty(&json).unwrap(),
        )
        .unwrap();
    }

    /// Rewrites every object under the prefix as boto3's `upload_fileobj` wrote HaikuPorter's (§4.3):
    /// the same bytes, with no metadata (no SHA-256), content type or cache control.
    fn rewrite_objects_as_boto3(&self) {
        let garage = self.farm.garage;
        let prefix = format!("{}/", self.farm.prefix);
        runtime().block_on(async {
            let client = garage.sdk_client();
            for key in list(garage, &prefix).await.into_keys() {
                let object = client
                    .get_object()
                    .bucket(garage.bucket())
                    .key(&key)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("GET {key}: {e:?}"));
                let body = object.body.collect().await.unwrap().into_bytes();
                client
                    .put_object()
                    .bucket(garage.bucket())
                    .key(&key)
                    .body(body.into())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("PUT {key}: {e:?}"));
            }
        });
    }

    /// Every object under the instance's prefix (full key → state).
    pub fn objects(&self) -> BTreeMap<String, ObjectState> {
        let prefix = format!("{}/", self.farm.prefix);
        runtime().block_on(list(self.farm.garage, &prefix))
    }

    /// Whether `key` carries user metadata (ours records the SHA-256; boto3's carried none).
    pub fn has_metadata(&self, key: &str) -> bool {
        let garage = self.farm.garage;
        runtime().block_on(async {
            let head = garage
                .sdk_client()
                .head_object()
                .bucket(garage.bucket())
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("HEAD {key}: {e:?}"));
            head.metadata().is_some_and(|m| !m.is_empty())
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Lists every object under the full key prefix `prefix`, page by page.
async fn list(garage: &super::garage::Garage, prefix: &str) -> BTreeMap<String, ObjectState> {
    let client = garage.sdk_client();
    let mut out = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(garage.bucket())
            .prefix(prefix)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("listing {prefix}: {e:?}"));
        for object in page.contents() {
            out.insert(
                object.key().unwrap_or_default().to_owned(),
                ObjectState {
                    etag: object.e_tag().unwrap_or_default().to_owned(),
                    last_modified_ms: object
                        .last_modified()
                        .map(|t| t.to_millis().unwrap())
                        .unwrap_or(0),
                    size: object.size().unwrap_or(0),
                },
            );
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

/// Whether `path` is a zero-byte regular file.
pub fn is_stub(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0)
}
