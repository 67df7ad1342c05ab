//! HaikuPorter as a [`Toolchain`]: its builder contract as `RemoteBuilderSSH.runBuild` drives it. The
//! build and purge commands are templates from the builder's configuration (`build_command`,
//! `purge_command`), expanded here into argument vectors; dependencies are `.hpkg` files made visible
//! in the builder's packages directory, where HaikuPorter also writes its results; the builder
//! config (`haikuports.conf` syntax) is the one setup file.
//!
//! Sources: HaikuPorter downloads a recipe's `SOURCE_URI` into the port's `download/` directory
//! (`Port.downloadDir`, the port directory when no `OUTPUT_DIRECTORY` is set) unless the file is
//! already there *and* a `<file>.uri` beside it names the URI it came from (`Source.fetch`); an
//! input placed by the flow therefore goes to `<ports tree>/<recipe dir>/download/<file>`, and whoever
//! builds the job's inputs adds the `.uri` file as an input too.

use std::path::Path;

use super::{DependencyPlacement, Job, SetupFile, Toolchain};
use crate::builders::builder_conf::{self, BuilderConfValues};
use crate::builders::config::{BuilderPaths, BuilderSpec};

/// Extension of Haiku package files.
pub const HPKG_EXTENSION: &str = ".hpkg";

/// HaikuPorter on one builder.
#[derive(Clone, Debug)]
pub struct HaikuPorter {
    /// The builder's name, written into its builder config.
    builder: String,
    /// Paths on the builder.
    paths: BuilderPaths,
    /// The `haikuporter` executable on the builder.
    tool: String,
    /// Extra arguments spliced in for `{args}`.
    args: Vec<String>,
    /// The build command template.
    build_command: Vec<String>,
    /// The purge command template; empty: no purge.
    purge_command: Vec<String>,
    /// What the builder config tells HaikuPorter besides paths.
    conf: BuilderConfValues,
}

impl HaikuPorter {
    /// HaikuPorter as `spec` configures it.
    pub fn new(spec: &BuilderSpec, conf: BuilderConfValues) -> Self {
        Self {
            builder: spec.name.clone(),
            paths: spec.paths.clone(),
            tool: spec.haikuporter.clone(),
            args: spec.haikuporter_args.clone(),
            build_command: spec.build_command.clone(),
            purge_command: spec.purge_command.clone(),
            conf,
        }
    }

    /// Expands a command template into an argument vector. `{args}` as a whole element splices the
    /// extra arguments; `{haikuporter}`, `{config}` and `{port}` are replaced inside elements. The
    /// result is an argument vector, so nothing here can inject shell syntax.
    pub fn expand(&self, template: &[String], port: &str) -> Vec<String> {
        let mut argv = Vec::new();
        for element in template {
            if element == "{args}" {
                argv.extend(self.args.iter().cloned());
                continue;
            }
            argv.push(
                element
                    .replace("{haikuporter}", &self.tool)
                    .replace("{config}", &self.paths.builder_config)
                    .replace("{port}", port),
            );
        }
        argv
    }
}

impl Toolchain for HaikuPorter {
    fn name(&self) -> &'static str {
        "haikuporter"
    }

    fn setup_files(&self) -> Vec<SetupFile> {
        let text = builder_conf::render(&self.builder, &self.paths, &self.conf);
        vec![SetupFile {
            path: self.paths.builder_config.clone(),
            contents: text.into_bytes(),
        }]
    }

    fn work_dir(&self, _job: Job<'_>) -> String {
        self.paths.ports_tree.clone()
    }

    fn setup_script(&self) -> Option<&str> {
        Some(crate::builders::exec::SETUP_ENVIRONMENT)
    }

    fn build_argv(&self, job: Job<'_>) -> Vec<String> {
        self.expand(&self.build_command, job.target)
    }

    fn purge_argv(&self, job: Job<'_>) -> Option<Vec<String>> {
        (!self.purge_command.is_empty()).then(|| self.expand(&self.purge_command, job.target))
    }

    fn dependencies(&self) -> DependencyPlacement {
        DependencyPlacement {
            cache_dir: self.paths.cache.clone(),
            visible_dir: self.paths.packages.clone(),
            extension: HPKG_EXTENSION,
        }
    }

    fn input_path(&self, _job: Job<'_>, recipe_dir: &str, file_name: &str) -> String {
        format!(
            "{}/{}/download/{file_name}",
            self.paths.ports_tree,
            recipe_dir.trim_matches('/')
        )
    }

    fn results_dir(&self, _job: Job<'_>) -> String {
        self.paths.packages.clone()
    }

    fn result_identity(&self, path: &Path) -> Result<String, String> {
        crate::haiku::hpkg_reader::read_package(path)
            .map(|package| package.info.canonical_file_name())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::config::{default_build_command, default_purge_command, Timeouts};

    fn spec() -> BuilderSpec {
        BuilderSpec {
            name: "b".into(),
            ssh: None,
            paths: BuilderPaths::new("/ports", None, None, None),
            haikuporter: "/hp/haikuporter".into(),
            haikuporter_args: vec!["-j2".into()],
            timeouts: Timeouts::default(),
            build_command: default_build_command(),
            purge_command: default_purge_command(),
            network: Default::default(),
        }
    }

    #[test]
    fn default_template_is_haikuporters_contract() {
        let hp = HaikuPorter::new(&spec(), BuilderConfValues::default());
        let argv = hp.build_argv(Job {
            target: "x;rm -rf /-1.0",
        });
        assert_eq!(
            argv,
            [
                "/hp/haikuporter",
                "--config=/ports/builder.conf",
                "--no-system-packages",
                "--no-package-obsoletion",
                "--ignore-messages",
                "-j2",
                "x;rm -rf /-1.0",
            ]
        );
    }

    #[test]
    fn an_empty_purge_template_purges_nothing_and_inputs_go_to_the_download_dir() {
        let mut s = spec();
        s.purge_command.clear();
        let hp = HaikuPorter::new(&s, BuilderConfValues::default());
        let job = Job { target: "a-1" };
        assert_eq!(hp.purge_argv(job), None);
        assert_eq!(
            hp.input_path(job, "app-misc/a/", "a-1.tar.gz"),
            "/ports/app-misc/a/download/a-1.tar.gz"
        );
        assert_eq!(hp.dependencies().extension, ".hpkg");
    }
}
