//! In-memory fake builders and plan helpers for the buildrun logic tests: builds take milliseconds,
//! outcomes are scripted per port and builder, and every build is recorded for assertions.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use buildmaster::builders::build::{BuildOutcome, BuildRequest};
use buildmaster::builders::cache::TransferReport;
use buildmaster::builders::error::BuilderError;
use buildmaster::builders::exec::{Exit, OutputSink, Stream};
use buildmaster::builders::package::WantedPackage;
use buildmaster::builders::results::ResultFile;
use buildmaster::builders::state::BuilderState;
use buildmaster::buildrun::builder::{Builder, Report, Snapshot};
use buildmaster::buildrun::Context;
use buildmaster::config::instance::InstanceConfig;
use buildmaster::plan::model::{PackageOrigin, Plan, PlannedBuild, PresentPackage};
use buildmaster::ports::model::{ArchStatus, Port};
use buildmaster::state::StateDir;
use buildmaster_storage::Sha256Digest;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What a scripted build does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Builds.
    Success,
    /// Exits non-zero.
    Fail,
    /// The connection drops; the builder goes `then` (reconnecting for a while, or lost until revived).
    Transient { then: AfterTransient },
    /// Runs until cancelled.
    Hang,
    /// Setup fails on a live connection (a full disk): an infrastructure error, the builder stays
    /// available.
    Infrastructure,
}

/// The builder's state after a transient error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterTransient {
    /// Back after this many milliseconds.
    ReconnectAfterMs(u64),
    /// Lost until [`Fake::revive`].
    Lost,
}

/// One build a fake ran.
#[derive(Clone, Debug)]
pub struct Ran {
    /// Builder name.
    pub builder: String,
    /// `name-version`.
    pub port: String,
    /// Build number.
    pub number: u64,
    /// Dependencies it was given.
    pub deps: Vec<String>,
    /// Start and end.
    pub start: Instant,
    /// End.
    pub end: Instant,
    /// Scripted outcome.
    pub outcome: Outcome,
}

/// Shared script and ledger.
#[derive(Default)]
pub struct Farm {
    /// (port, builder) → outcome; (port, "*") for any builder. Default success.
    pub script: Mutex<HashMap<(String, String), Outcome>>,
    /// Every build run, in start order.
    pub ran: Mutex<Vec<Ran>>,
    /// Milliseconds a build takes.
    pub build_ms: Mutex<HashMap<String, u64>>,
    /// Where results are committed (the spool).
    pub commit: Mutex<Option<PathBuf>>,
}

impl Farm {
    /// Scripts `port` on `builder` (`*`: any).
    pub fn script(&self, port: &str, builder: &str, outcome: Outcome) {
        self.script
            .lock()
            .unwrap()
            .insert((port.into(), builder.into()), outcome);
    }

    fn outcome(&self, port: &str, builder: &str) -> Outcome {
        let script = self.script.lock().unwrap();
        script
            .get(&(port.to_string(), builder.to_string()))
            .or_else(|| script.get(&(port.to_string(), "*".to_string())))
            .cloned()
            .unwrap_or(Outcome::Success)
    }

    /// Ports in the order they started, with their builder.
    pub fn order(&self) -> Vec<(String, String)> {
        self.ran
            .lock()
            .unwrap()
            .iter()
            .map(|r| (r.port.clone(), r.builder.clone()))
            .collect()
    }

    /// How many times `port` was started.
    pub fn runs_of(&self, port: &str) -> usize {
        self.ran.lock().unwrap().iter().filter(|r| r.port == port).count()
    }
}

/// A fake builder.
pub struct Fake {
    name: String,
    farm: Arc<Farm>,
    state: watch::Sender<BuilderState>,
    ready_after: Mutex<Option<Duration>>,
    cached: HashSet<String>,
    failures: Mutex<u32>,
}

impl Fake {
    /// A builder that is ready after `ready_after_ms` and whose cache holds `cached`.
    pub fn new(name: &str, farm: &Arc<Farm>, ready_after_ms: u64, cached: &[&str]) -> Arc<Self> {
        let (state, _) = watch::channel(BuilderState::Reconnecting);
        Arc::new(Self {
            name: name.into(),
            farm: farm.clone(),
            state,
            ready_after: Mutex::new(Some(Duration::from_millis(ready_after_ms))),
            cached: cached.iter().map(|s| s.to_string()).collect(),
            failures: Mutex::new(0),
        })
    }

    /// Brings a lost builder back.
    pub fn revive(&self) {
        self.state.send_replace(BuilderState::Available);
    }
}

fn bytes_of(file_name: &str) -> Vec<u8> {
    format!("package {file_name}").into_bytes()
}

#[async_trait]
impl Builder for Fake {
    fn name(&self) -> &str {
        &self.name
    }

    fn cached(&self, deps: &[WantedPackage]) -> usize {
        deps.iter().filter(|d| self.cached.contains(&d.file_name)).count()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: *self.state.borrow(),
            connection_errors: *self.failures.lock().unwrap(),
            last_error: None,
            needs_operator: false,
        }
    }

    async fn wait_ready(&self, _report: &Report<'_>, cancel: &CancellationToken) -> bool {
        let first = self.ready_after.lock().unwrap().take();
        if let Some(delay) = first {
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
            self.state.send_replace(BuilderState::Available);
        }
        let mut rx = self.state.subscribe();
        tokio::select! {
            _ = cancel.cancelled() => false,
            r = rx.wait_for(|s| *s == BuilderState::Available) => r.is_ok(),
        }
    }

    async fn build(
        &self,
        req: &BuildRequest,
        sink: OutputSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<BuildOutcome, BuilderError> {
        let outcome = self.farm.outcome(&req.port, &self.name);
        let ms = self
            .farm
            .build_ms
            .lock()
            .unwrap()
            .get(&req.port)
            .copied()
            .unwrap_or(15);
        let start = Instant::now();
        sink(Stream::Stdout, format!("building {}\n", req.port).as_bytes());
        let wait = if outcome == Outcome::Hang {
            Duration::from_secs(3600)
        } else {
            Duration::from_millis(ms)
        };
        let cancelled = tokio::select! {
            _ = cancel.cancelled() => true,
            _ = tokio::time::sleep(wait) => false,
        };
        self.farm.ran.lock().unwrap().push(Ran {
            builder: self.name.clone(),
            port: req.port.clone(),
            number: req.number,
            deps: req.dependencies.iter().map(|d| d.file_name.clone()).collect(),
            start,
            end: Instant::now(),
            outcome: outcome.clone(),
        });
        if cancelled {
            return Err(BuilderError::Cancelled {
                builder: self.name.clone(),
                what: req.port.clone(),
            });
        }
        match outcome {
            Outcome::Success => {
                let commit = self.farm.commit.lock().unwrap().clone().expect("commit dir set");
                let mut results = Vec::new();
                for name in &req.results {
                    let bytes = bytes_of(name);
                    let path = commit.join(name);
                    std::fs::write(&path, &bytes).unwrap();
                    results.push(ResultFile {
                        file_name: name.clone(),
                        size: bytes.len() as u64,
                        sha256: Sha256Digest::of(&bytes),
                        path,
                    });
                }
                Ok(BuildOutcome {
                    results,
                    transfer: TransferReport::default(),
                    exit: Exit {
                        status: 0,
                        signal: None,
                    },
                })
            }
            Outcome::Fail => Err(BuilderError::BuildFailed {
                builder: self.name.clone(),
                port: req.port.clone(),
                status: 2,
            }),
            Outcome::Transient { then } => {
                *self.failures.lock().unwrap() += 1;
                match then {
                    AfterTransient::Lost => {
                        self.state.send_replace(BuilderState::Lost);
                    }
                    AfterTransient::ReconnectAfterMs(ms) => {
                        self.state.send_replace(BuilderState::Reconnecting);
                        *self.ready_after.lock().unwrap() = Some(Duration::from_millis(ms));
                    }
                }
                Err(BuilderError::Lost {
                    builder: self.name.clone(),
                    during: "build".into(),
                })
            }
            Outcome::Infrastructure => Err(BuilderError::Command {
                builder: self.name.clone(),
                command: "mkdir -p work".into(),
                status: "exit status 1".into(),
                output: "No space left on device".into(),
            }),
            Outcome::Hang => unreachable!("a hanging build only ends by cancellation"),
        }
    }
}

/// A port `name-1.0`, revision 1.
pub fn port(name: &str) -> Port {
    Port {
        name: name.into(),
        version: "1.0".into(),
        revision: 1,
        category: "test".into(),
        recipe_path: format!("test/{name}/{name}-1.0.recipe").into(),
        secondary_arch: None,
        status: ArchStatus::Stable,
        packages: vec![],
        build_requires: vec![],
        build_prerequires: vec![],
    }
}

/// The file name of `name`'s package.
pub fn hpkg(name: &str) -> String {
    format!("{name}-1.0-1-x86_64.hpkg")
}

/// A plan of `(name, after, present)` builds, in order.
pub fn plan(builds: &[(&str, &[usize], &[&str])]) -> Plan {
    let names: Vec<&str> = builds.iter().map(|b| b.0).collect();
    Plan {
        builds: builds
            .iter()
            .map(|(name, after, present)| PlannedBuild {
                port: port(name),
                results: vec![hpkg(name)],
                present: present
                    .iter()
                    .map(|p| PresentPackage {
                        file_name: p.to_string(),
                        origin: PackageOrigin::System,
                    })
                    .collect(),
                missing_ids: after.iter().map(|&a| format!("{}-1.0-1", names[a])).collect(),
                after: after.to_vec(),
                target: None,
            })
            .collect(),
        skipped: vec![],
    }
}

/// A state directory with a system-packages directory holding `system` packages.
pub struct Instance {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The state directory.
    pub state: StateDir,
    /// The config.
    pub config: InstanceConfig,
}

impl Instance {
    /// A fresh instance with the given system packages and retry budget.
    pub fn new(system: &[&str], max_attempts: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        state.create().unwrap();
        let sys = dir.path().join("system");
        std::fs::create_dir_all(&sys).unwrap();
        for name in system {
            std::fs::write(sys.join(name), bytes_of(name)).unwrap();
        }
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        let mut config = InstanceConfig::default();
        config.ports.tree = Some(tree);
        config.ports.system_packages = Some(sys);
        config.buildrun.max_attempts = max_attempts;
        Self { dir, state, config }
    }

    /// A context over `builders`; the farm commits results into this instance's spool.
    pub fn context(&self, farm: &Arc<Farm>, builders: &[Arc<Fake>], cancel: CancellationToken) -> Context {
        *farm.commit.lock().unwrap() = Some(self.state.packages());
        Context {
            state: self.state.clone(),
            config: self.config.clone(),
            builders: builders.iter().map(|b| b.clone() as Arc<dyn Builder>).collect(),
            cancel,
            observer: None,
            patience: Default::default(),
        }
    }

    /// `output/buildruns/<id>/status.json`, parsed.
    pub fn status(&self, id: u64) -> serde_json::Value {
        let path = self.state.output().join(format!("buildruns/{id}/status.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// The output directory.
    pub fn output(&self) -> PathBuf {
        self.state.output()
    }
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}
