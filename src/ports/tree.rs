//! [`PortsTree::load`]: scan a tree, evaluate its recipes (from the cache where it can, in parallel
//! bash workers otherwise), build the ports, choose active versions, and index them for the planner.
//!
//! Two passes: every recipe for the target architecture, then — for recipes whose
//! `SECONDARY_ARCHITECTURES` names one of the configured secondary architectures — once more with
//! `secondaryArchSuffix=_<arch>`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::ports::active::choose_active;
use crate::ports::attributes::{build_port, lists_secondary_arch, PortSettings};
use crate::ports::built::{built_key, dir_digest, load_digest, Built, LoadInputs};
use crate::ports::cache::{content_hash, context_key, evaluation_key, Fingerprint, RecipeCache};
use crate::ports::evaluate::{evaluate_all, prepare_recipe, rewrite_paths, EvaluatorConfig, Job, Outcome};
use crate::ports::model::{Port, RecipeProblem};
use crate::ports::progress::{EvalProgress, NoEvalProgress};
use crate::ports::scan::{scan, RecipeFile};
use crate::ports::validate::RecipeContext;

/// How long one recipe may take to evaluate before it is killed and reported. Sourcing a recipe
/// takes about a millisecond; anything near this is a recipe waiting on something.
pub const DEFAULT_RECIPE_TIMEOUT: Duration = Duration::from_secs(30);

/// What to evaluate recipes for, and how.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// `targetArchitecture` (`[ports] target_architecture`, e.g. `x86_64`).
    pub target_arch: String,
    /// Secondary architectures (`[ports] secondary_architectures`, e.g. `["x86"]`).
    pub secondary_archs: Vec<String>,
    /// Whether untested (`?arch`) ports and packages count as buildable (HaikuPorter's
    /// `ALLOW_UNTESTED`).
    pub allow_untested: bool,
    /// Haiku's licence files (`[ports] licenses_directory`, HaikuPorter's `LICENSES_DIRECTORY`):
    /// every `LICENSE` entry must name one of them or a file in the port's `licenses/`. `None`:
    /// licence names are not checked.
    pub licenses_dir: Option<PathBuf>,
    /// The recipe cache (`StateDir::recipe_cache()`); `None` evaluates everything every time.
    pub cache: Option<PathBuf>,
    /// Bash workers; 0 means one per available core.
    pub jobs: usize,
}

/// Figures from one load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalStats {
    /// Recipe files found.
    pub recipes: usize,
    /// Evaluations run through bash (cache misses; a secondary-architecture pass counts too).
    pub evaluated: usize,
    /// Evaluations answered by the cache.
    pub cached: usize,
    /// Recipes reported as problems.
    pub problems: usize,
    /// Wall time of the whole load.
    pub elapsed: Duration,
}

/// A failure of the whole load (a single recipe's failure is a [`RecipeProblem`] instead).
#[derive(Debug, thiserror::Error)]
pub enum PortsError {
    /// The tree root does not exist or is not a directory.
    #[error("ports tree {path}: not a directory (set [ports] tree in buildmaster.toml)")]
    RootMissing {
        /// The root given.
        path: PathBuf,
    },
    /// The tree root could not be read.
    #[error("ports tree {path}: cannot read: {source}")]
    Scan {
        /// The root given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Bash could not be started (not installed, or no processes left).
    #[error("cannot start bash to evaluate recipes (is bash installed and on PATH?): {source}")]
    Bash {
        /// The spawn error.
        source: std::io::Error,
    },
    /// The recipe cache could not be opened or written; deleting it is always safe.
    #[error("recipe cache {path}: {message} (the file can be deleted; it is rebuilt on the next load)")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// The configured licences directory could not be listed.
    #[error("licences directory {path}: cannot read: {source} (set [ports] licenses_directory to Haiku's data/licenses)")]
    Licenses {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The scratch directory for prepared recipes could not be created.
    #[error("scratch directory {path}: {source}")]
    Scratch {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// An evaluated ports tree.
#[derive(Debug)]
pub struct PortsTree {
    /// Every evaluated recipe (all versions; secondary-architecture ports after the primary ones).
    pub ports: Vec<Port>,
    /// Recipes that could not be evaluated.
    pub problems: Vec<RecipeProblem>,
    root: PathBuf,
    active: HashMap<String, usize>,
    by_versioned_name: HashMap<String, usize>,
    stats: EvalStats,
}

impl PortsTree {
    /// Loads the tree at `root` with [`DEFAULT_RECIPE_TIMEOUT`] per recipe.
    pub fn load(root: &Path, options: &EvalOptions) -> Result<PortsTree, PortsError> {
        Self::load_with_timeout(root, options, DEFAULT_RECIPE_TIMEOUT)
    }

    /// Loads the tree at `root`, killing any recipe that takes longer than `timeout`.
    pub fn load_with_timeout(
        root: &Path,
        options: &EvalOptions,
        timeout: Duration,
    ) -> Result<PortsTree, PortsError> {
        Self::load_reporting(root, options, timeout, &NoEvalProgress)
    }

    /// Loads the tree at `root` like [`load_with_timeout`](Self::load_with_timeout), telling
    /// `progress` how many evaluations are due and done (for a progress bar).
    pub fn load_reporting(
        root: &Path,
        options: &EvalOptions,
        timeout: Duration,
        progress: &dyn EvalProgress,
    ) -> Result<PortsTree, PortsError> {
        let started = Instant::now();
        if !root.is_dir() {
            return Err(PortsError::RootMissing {
                path: root.to_owned(),
            });
        }
        let found = scan(root).map_err(|source| PortsError::Scan {
            path: root.to_owned(),
            source,
        })?;
        let mut cache = match &options.cache {
            Some(path) => Some(RecipeCache::open(path).map_err(|e| PortsError::Cache {
                path: path.clone(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let haiku_licenses = match &options.licenses_dir {
            Some(path) => Some(file_names(path).map_err(|source| PortsError::Licenses {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        let load_digest = load_digest(&LoadInputs {
            target_arch: &options.target_arch,
            allow_untested: options.allow_untested,
            secondary_archs: &options.secondary_archs,
            haiku_licenses: haiku_licenses.as_ref(),
        });
        let mut loader = Loader {
            root,
            options,
            haiku_licenses,
            load_digest,
            port_dirs: HashMap::new(),
            timeout,
            cache: cache.as_mut(),
            scratch: None,
            progress,
            problems: found.problems,
            evaluated: 0,
            cached: 0,
        };
        let recipes = &found.recipes;
        let hashes = loader.hash_recipes(recipes);

        let primary: Vec<(usize, Option<&str>)> = (0..recipes.len())
            .filter(|&i| hashes[i].is_some())
            .map(|i| (i, None))
            .collect();
        let primary_outcomes = loader.evaluate(recipes, &hashes, &primary)?;
        let mut ports = Vec::new();
        let mut secondary = Vec::new();
        for (&(index, _), built) in primary.iter().zip(&primary_outcomes) {
            if let Some(built) = built {
                for arch in &options.secondary_archs {
                    if built.secondary.contains(arch) {
                        secondary.push((index, Some(arch.as_str())));
                    }
                }
            }
        }
        loader.collect(recipes, &primary, primary_outcomes, &mut ports);
        let secondary_outcomes = loader.evaluate(recipes, &hashes, &secondary)?;
        loader.collect(recipes, &secondary, secondary_outcomes, &mut ports);

        let Loader {
            problems,
            evaluated,
            cached,
            scratch,
            ..
        } = loader;
        drop(scratch);
        if let Some(cache) = cache.as_mut() {
            let present: HashSet<String> = recipes
                .iter()
                .map(|r| r.relative.to_string_lossy().into_owned())
                .collect();
            cache.save(&present).map_err(|e| PortsError::Cache {
                path: cache.path().to_owned(),
                message: e.to_string(),
            })?;
        }
        let active = choose_active(&ports, options.allow_untested);
        let by_versioned_name = ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.versioned_name(), i))
            .collect();
        let stats = EvalStats {
            recipes: recipes.len(),
            evaluated,
            cached,
            problems: problems.len(),
            elapsed: started.elapsed(),
        };
        Ok(PortsTree {
            ports,
            problems,
            root: root.to_owned(),
            active,
            by_versioned_name,
            stats,
        })
    }

    /// The active version of `name` (`libfoo`, or `libfoo_x86` for the secondary-arch port).
    pub fn active(&self, name: &str) -> Option<&Port> {
        self.active.get(name).map(|&i| &self.ports[i])
    }

    /// `name` (its active version) or `name-version` (that version, active or not; `name_x86-1.2`
    /// for a secondary-architecture port).
    pub fn find(&self, spec: &str) -> Option<&Port> {
        self.by_versioned_name
            .get(spec)
            .map(|&i| &self.ports[i])
            .or_else(|| self.active(spec))
    }

    /// Every port's active version, in tree order.
    pub fn active_ports(&self) -> impl Iterator<Item = &Port> {
        let active: HashSet<usize> = self.active.values().copied().collect();
        self.ports
            .iter()
            .enumerate()
            .filter(move |(i, _)| active.contains(i))
            .map(|(_, p)| p)
    }

    /// The active ports that changed files concern: a changed recipe concerns its port if it is
    /// the active version; any other file in a port's directory (patches, licenses, additional
    /// files) concerns the port's active versions (primary and secondary). Paths may be absolute
    /// (inside the tree) or relative to the tree root.
    pub fn ports_for_files(&self, changed: &[PathBuf]) -> Vec<&Port> {
        let mut wanted: HashSet<usize> = HashSet::new();
        let active: HashSet<usize> = self.active.values().copied().collect();
        for path in changed {
            let relative = path.strip_prefix(&self.root).unwrap_or(path);
            let parts: Vec<&str> = relative
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => s.to_str(),
                    _ => None,
                })
                .collect();
            let [category, port, rest @ ..] = parts.as_slice() else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            let is_recipe = rest.len() == 1 && rest[0].ends_with(".recipe");
            let port_dir = Path::new(category).join(port);
            for &index in &active {
                let candidate = &self.ports[index];
                let matches = if is_recipe {
                    candidate.recipe_path == port_dir.join(rest[0])
                } else {
                    // The port's directory, whatever the recipe's own name (`python/python3.14-…`).
                    candidate.recipe_path.parent() == Some(port_dir.as_path())
                };
                if matches {
                    wanted.insert(index);
                }
            }
        }
        let mut indexes: Vec<usize> = wanted.into_iter().collect();
        indexes.sort_unstable();
        indexes.into_iter().map(|i| &self.ports[i]).collect()
    }

    /// Figures from the load.
    pub fn stats(&self) -> EvalStats {
        self.stats
    }

    /// The tree root this was loaded from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lookup name (`name` or `name_<arch>`) of every port with an active version.
    pub fn active_names(&self) -> impl Iterator<Item = &str> {
        self.active.keys().map(String::as_str)
    }
}

/// State of one load in progress.
struct Loader<'a> {
    root: &'a Path,
    options: &'a EvalOptions,
    /// Haiku's licence file names, if checked.
    haiku_licenses: Option<HashSet<String>>,
    /// The digest of what every built port of this load depends on ([`load_digest`]); `None`: built
    /// ports are not cached.
    load_digest: Option<[u8; 32]>,
    /// Port directory → the file names in its `licenses/` and `patches/`, listed once per load.
    port_dirs: HashMap<PathBuf, PortDir>,
    timeout: Duration,
    cache: Option<&'a mut RecipeCache>,
    scratch: Option<Scratch>,
    progress: &'a dyn EvalProgress,
    problems: Vec<RecipeProblem>,
    evaluated: usize,
    cached: usize,
}

impl Loader<'_> {
    /// The content hash of every recipe (`None`: unreadable, reported as a problem), from the
    /// cache's fingerprints where they still match.
    fn hash_recipes(&mut self, recipes: &[RecipeFile]) -> Vec<Option<[u8; 32]>> {
        recipes
            .iter()
            .map(|recipe| {
                let relative = recipe.relative.to_string_lossy();
                let fingerprint = match fs::metadata(&recipe.path) {
                    Ok(metadata) => Fingerprint::of(&metadata),
                    Err(err) => {
                        self.problem(recipe, format!("cannot stat: {err}"));
                        return None;
                    }
                };
                if let Some(hash) = self
                    .cache
                    .as_ref()
                    .and_then(|c| c.known_hash(&relative, &fingerprint))
                {
                    return Some(hash);
                }
                match fs::read(&recipe.path) {
                    Ok(bytes) => {
                        let hash = content_hash(&bytes);
                        if let Some(cache) = self.cache.as_mut() {
                            cache.record_file(&relative, fingerprint, hash);
                        }
                        Some(hash)
                    }
                    Err(err) => {
                        self.problem(recipe, format!("cannot read: {err}"));
                        None
                    }
                }
            })
            .collect()
    }

    /// Built ports for `wanted` (recipe index, secondary arch): read back from the cache, built from
    /// a cached evaluation, or evaluated by bash; `None` where the recipe could not even be prepared
    /// (already reported).
    fn evaluate(
        &mut self,
        recipes: &[RecipeFile],
        hashes: &[Option<[u8; 32]>],
        wanted: &[(usize, Option<&str>)],
    ) -> Result<Vec<Option<Built>>, PortsError> {
        let mut results: Vec<Option<Built>> = vec![None; wanted.len()];
        self.progress.planned(wanted.len());
        let mut jobs = Vec::new();
        let mut job_slots = Vec::new();
        for (slot, &(index, secondary)) in wanted.iter().enumerate() {
            let recipe = &recipes[index];
            let Some(hash) = hashes[index] else {
                self.progress.evaluated(1);
                continue;
            };
            let relative = recipe.relative.to_string_lossy();
            let context = context_key(&self.options.target_arch, secondary);
            let key = evaluation_key(&hash, &recipe.relative, &context);
            let built_key = self.built_key(recipe, &key);
            let cached = built_key.and_then(|k| self.cache.as_ref()?.built(&relative, &context, &k));
            if let Some(built) = cached {
                self.cached += 1;
                self.progress.evaluated(1);
                results[slot] = Some(built);
                continue;
            }
            if let Some(outcome) = self
                .cache
                .as_ref()
                .and_then(|c| c.outcome(&relative, &context, &key))
            {
                self.cached += 1;
                self.progress.evaluated(1);
                results[slot] = Some(self.build(recipe, secondary, &outcome, &context, built_key));
                continue;
            }
            let prepared = match self.prepare(recipe, jobs.len()) {
                Ok(prepared) => prepared,
                Err(message) => {
                    self.problem(recipe, message);
                    self.progress.evaluated(1);
                    continue;
                }
            };
            jobs.push(Job {
                prepared,
                port_name: match secondary {
                    Some(arch) => format!("{}_{arch}", recipe.name),
                    None => recipe.name.clone(),
                },
                base_name: recipe.name.clone(),
                port_version: recipe.version.clone(),
                base_dir: recipe.path.parent().unwrap_or(self.root).to_owned(),
                secondary_arch: secondary.map(str::to_owned),
            });
            job_slots.push((slot, key, context, built_key));
        }
        if jobs.is_empty() {
            return Ok(results);
        }
        let config = EvaluatorConfig {
            target_arch: self.options.target_arch.clone(),
            jobs: match self.options.jobs {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
            timeout: self.timeout,
            scratch_dir: self.scratch()?.path.clone(),
        };
        let progress = self.progress;
        let outcomes = evaluate_all(&config, &jobs, &|| progress.evaluated(1))
            .map_err(|source| PortsError::Bash { source })?;
        self.evaluated += jobs.len();
        for ((job, (slot, key, context, built_key)), outcome) in jobs.iter().zip(job_slots).zip(outcomes) {
            let (recipe, secondary) = (&recipes[wanted[slot].0], wanted[slot].1);
            let outcome = match outcome {
                Outcome::Failed(message) => {
                    Outcome::Failed(rewrite_paths(&message, &job.prepared, &recipe.relative))
                }
                other => other,
            };
            if let Some(cache) = self.cache.as_mut() {
                cache.record_outcome(&recipe.relative.to_string_lossy(), &context, key, &outcome);
            }
            results[slot] = Some(self.build(recipe, secondary, &outcome, &context, built_key));
        }
        Ok(results)
    }

    /// The port (or problem) one evaluation gives, recorded in the cache under `built_key` unless
    /// the evaluation timed out (the next load tries again).
    fn build(
        &mut self,
        recipe: &RecipeFile,
        secondary: Option<&str>,
        outcome: &Outcome,
        context_key: &str,
        built_key: Option<[u8; 32]>,
    ) -> Built {
        let built = match outcome {
            Outcome::Evaluated(attributes) => {
                let context = self.context(recipe, secondary);
                let settings = PortSettings {
                    target_arch: self.options.target_arch.clone(),
                    allow_untested: self.options.allow_untested,
                };
                Built {
                    port: build_port(recipe, secondary, attributes, &context, &settings),
                    secondary: (self.options.secondary_archs.iter())
                        .filter(|arch| lists_secondary_arch(attributes, arch))
                        .cloned()
                        .collect(),
                }
            }
            Outcome::Failed(message) => Built {
                port: Err(message.clone()),
                secondary: Vec::new(),
            },
            Outcome::TimedOut(after) => {
                return Built {
                    port: Err(format!(
                        "evaluation did not finish within {} s and was killed",
                        after.as_secs_f64()
                    )),
                    secondary: Vec::new(),
                }
            }
        };
        if let (Some(cache), Some(key)) = (self.cache.as_mut(), built_key) {
            cache.record_built(&recipe.relative.to_string_lossy(), context_key, key, &built);
        }
        built
    }

    /// The key `recipe`'s built port is cached under, from its evaluation's key; `None` when built
    /// ports are not cached.
    fn built_key(&mut self, recipe: &RecipeFile, evaluation: &[u8; 32]) -> Option<[u8; 32]> {
        let load = self.load_digest?;
        let dir = self.port_dir(recipe).digest;
        Some(built_key(&load, evaluation, &dir))
    }

    /// The port directory of `recipe`, listed on first use.
    fn port_dir(&mut self, recipe: &RecipeFile) -> &PortDir {
        let dir = recipe.path.parent().unwrap_or(self.root);
        if !self.port_dirs.contains_key(dir) {
            let list = |sub: &str| file_names(&dir.join(sub)).unwrap_or_default();
            let (licenses, patches) = (list("licenses"), list("patches"));
            let digest = dir_digest(&licenses, &patches);
            let entry = PortDir {
                licenses,
                patches,
                digest,
            };
            self.port_dirs.insert(dir.to_owned(), entry);
        }
        &self.port_dirs[dir]
    }

    /// Turns built ports into ports or problems.
    fn collect(
        &mut self,
        recipes: &[RecipeFile],
        wanted: &[(usize, Option<&str>)],
        built: Vec<Option<Built>>,
        ports: &mut Vec<Port>,
    ) {
        for (&(index, secondary), built) in wanted.iter().zip(built) {
            let recipe = &recipes[index];
            match built.map(|b| b.port) {
                None => {}
                Some(Ok(port)) => ports.push(port),
                Some(Err(message)) => {
                    let message = match secondary {
                        Some(arch) => format!("[secondary architecture {arch}] {message}"),
                        None => message,
                    };
                    self.problem(recipe, message);
                }
            }
        }
    }

    /// What HaikuPorter's checks of this recipe look at besides the recipe (`Port.__init__`'s names
    /// and directories).
    fn context(&mut self, recipe: &RecipeFile, secondary: Option<&str>) -> RecipeContext {
        let dir = self.port_dir(recipe);
        let (port_licenses, patch_files) = (dir.licenses.clone(), dir.patches.clone());
        RecipeContext {
            port_name: match secondary {
                Some(arch) => format!("{}_{arch}", recipe.name),
                None => recipe.name.clone(),
            },
            versioned_base_name: format!("{}-{}", recipe.name, recipe.version),
            effective_arch: secondary.unwrap_or(&self.options.target_arch).to_owned(),
            is_meta_port: recipe.category == "meta-ports",
            haiku_licenses: self.haiku_licenses.clone(),
            // A meta port has no licences directory of its own (`Port.licensesDir` is None).
            port_licenses: match recipe.category == "meta-ports" {
                true => HashSet::new(),
                false => port_licenses,
            },
            patch_files,
        }
    }

    /// Writes the prepared copy of a recipe into the scratch directory.
    fn prepare(&mut self, recipe: &RecipeFile, number: usize) -> Result<PathBuf, String> {
        let bytes = fs::read(&recipe.path).map_err(|e| format!("cannot read: {e}"))?;
        // HaikuPorter reads recipes as UTF-8 to prepare them and fails on anything else.
        if let Err(err) = std::str::from_utf8(&bytes) {
            return Err(format!("the recipe is not valid UTF-8 ({err})"));
        }
        let scratch = self.scratch().map_err(|e| e.to_string())?;
        scratch.written += 1;
        let path = scratch.path.join(format!("{}-{number}.recipe", scratch.written));
        fs::write(&path, prepare_recipe(&bytes))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    fn scratch(&mut self) -> Result<&mut Scratch, PortsError> {
        if self.scratch.is_none() {
            self.scratch = Some(Scratch::create()?);
        }
        Ok(self.scratch.as_mut().expect("just created"))
    }

    fn problem(&mut self, recipe: &RecipeFile, message: String) {
        self.problems.push(RecipeProblem {
            recipe_path: recipe.relative.clone(),
            message,
        });
    }
}

/// A port directory's file names that HaikuPorter's checks read.
struct PortDir {
    /// The names in `licenses/`.
    licenses: HashSet<String>,
    /// The names in `patches/`.
    patches: HashSet<String>,
    /// [`dir_digest`] of both.
    digest: [u8; 32],
}

/// The names of the entries of `dir` (`os.listdir`).
fn file_names(dir: &Path) -> std::io::Result<HashSet<String>> {
    let mut names = HashSet::new();
    for entry in fs::read_dir(dir)? {
        if let Ok(name) = entry?.file_name().into_string() {
            names.insert(name);
        }
    }
    Ok(names)
}

/// A private temporary directory for prepared recipes and worker stderr, removed on drop.
struct Scratch {
    path: PathBuf,
    written: usize,
}

impl Scratch {
    fn create() -> Result<Scratch, PortsError> {
        // Unique per process and per load within it; the time guards against a reused pid's leftovers.
        static LOADS: AtomicUsize = AtomicUsize::new(0);
        let load = LOADS.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("buildmaster-recipes-{}-{load}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).map_err(|source| PortsError::Scratch {
            path: path.clone(),
            source,
        })?;
        Ok(Scratch { path, written: 0 })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
