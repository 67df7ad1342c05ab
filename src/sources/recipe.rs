//! A recipe's sources as HaikuPorter's `Port`/`Source` read them: one source per `SOURCE_URI[_N]`
//! index (in natural order), each with its URIs (one per line: the first is fetched first, the
//! others are mirrors), `SOURCE_FILENAME[_N]` (else the first URI's last path segment without its
//! `#…`), and `CHECKSUM_SHA256[_N]`.
//!
//! Ports (`ports::model::Port`) do not keep their sources, so [`sources_of`] evaluates the recipe
//! once more with the same bash evaluator the tree was loaded with (about a millisecond of bash).

use std::path::{Path, PathBuf};
use std::time::Duration;

use buildmaster_storage::Sha256Digest;

use super::error::SourceError;
use crate::natural_order::natural_compare;
use crate::ports::evaluate::{evaluate_all, prepare_recipe, EvaluatorConfig, Job, Outcome};
use crate::ports::model::Port;
use crate::ports::recipe_keys::{parse_entries, Value};

/// How long evaluating one recipe for its sources may take.
const RECIPE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a source's bytes come from (HaikuPorter's `createSourceFetcher`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `http://` or `https://` (the `#noarchive` or other fragment is not part of the request).
    Http {
        /// The URL requested.
        url: String,
    },
    /// `git+…` or `git://…`: a repository and the revision after `#` (`commit=`/`tag=` stripped).
    Git {
        /// The repository URL (`https://…`, `file:///…`, `git://…`).
        repository: String,
        /// The revision; `None` means the remote's `HEAD`.
        revision: Option<String>,
    },
    /// `file://name` or a bare path: a file in the port's directory.
    PortFile {
        /// Path relative to the port's directory.
        relative: String,
    },
    /// Anything else (`ftp`, `svn`, `hg`, `bzr`, `cvs`, `fossil`, `pkg:`): why the cache cannot fetch it.
    Unsupported {
        /// Why.
        why: String,
    },
}

impl Origin {
    /// Reads one `SOURCE_URI` entry as HaikuPorter's `createSourceFetcher` dispatches on it.
    pub fn of(uri: &str) -> Origin {
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("git") {
            let rest = uri.strip_prefix("git+").unwrap_or(uri);
            let (repository, revision) = match rest.split_once('#') {
                Some((repo, rev)) => {
                    let rev = rev
                        .strip_prefix("commit=")
                        .or_else(|| rev.strip_prefix("tag="))
                        .unwrap_or(rev);
                    (repo.to_owned(), Some(rev.to_owned()).filter(|r| !r.is_empty()))
                }
                None => (rest.to_owned(), None),
            };
            return Origin::Git { repository, revision };
        }
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let url = uri.split('#').next().unwrap_or(uri).to_owned();
            return Origin::Http { url };
        }
        if let Some(relative) = uri.strip_prefix("file://") {
            return Origin::PortFile {
                relative: relative.to_owned(),
            };
        }
        if !uri.contains(':') {
            return Origin::PortFile {
                relative: uri.to_owned(),
            };
        }
        let scheme = lower.split([':', '+']).next().unwrap_or("");
        Origin::Unsupported {
            why: format!(
                "the source cache does not fetch {scheme:?} sources (HTTP(S), git and port files only)"
            ),
        }
    }

    /// Whether the revision is a full commit id (40 or 64 hex digits), which names exactly one tree
    /// and so can be pinned by the digest of its archive.
    pub fn is_pinned_commit(&self) -> bool {
        match self {
            Origin::Git {
                revision: Some(rev), ..
            } => (rev.len() == 40 || rev.len() == 64) && rev.chars().all(|c| c.is_ascii_hexdigit()),
            _ => false,
        }
    }
}

/// One source of a recipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeSource {
    /// The port's `name-version`.
    pub port: String,
    /// The recipe, relative to the tree root (the index's key: a secondary-architecture port shares
    /// its primary's sources).
    pub recipe: String,
    /// The port's directory (absolute), where `file://` sources and `patches/` live.
    pub port_dir: PathBuf,
    /// HaikuPorter's index: `1` for `SOURCE_URI`, `2` for `SOURCE_URI_2`, ….
    pub index: String,
    /// The URIs, in the order to try them.
    pub uris: Vec<String>,
    /// The file name HaikuPorter downloads it as (`SOURCE_FILENAME`, else from the first URI).
    pub file_name: String,
    /// `CHECKSUM_SHA256[_N]`, if the recipe has one (for a Debian `.orig` tarball: the SHA-256 its
    /// tree pins, see [`super::debian_orig`]).
    pub checksum: Option<Sha256Digest>,
    /// The SHA-512 (lowercase hex) an RPM dist-git `sources` file lists for it (see
    /// [`super::lookaside`]); the cache's key is still the SHA-256, learnt on first fetch.
    pub sha512: Option<String>,
}

/// The file name HaikuPorter gives a download from `uri`: the last path segment before any `#`.
pub fn file_name_of(uri: &str) -> String {
    let without_fragment = uri.split('#').next().unwrap_or(uri);
    let name = without_fragment.rsplit('/').next().unwrap_or(without_fragment);
    // A git URL ends with the repository's name, which is what HaikuPorter names its bare clone.
    name.to_owned()
}

/// The sources in `attributes` (what bash printed for the recipe of `port`), in HaikuPorter's order.
pub fn sources_from_attributes(
    port: &Port,
    port_dir: &Path,
    attributes: &crate::ports::evaluate::Attributes,
) -> Result<Vec<RecipeSource>, SourceError> {
    let port_name = port.versioned_name();
    let recipe_error = |message: String| SourceError::Recipe {
        port: port_name.clone(),
        message,
    };
    let entries = parse_entries(attributes).map_err(recipe_error)?;
    let base = entries.get("").cloned().unwrap_or_default();
    let indexed = |name: &str| match base.get(name) {
        Some(Value::Indexed(map)) => map.clone(),
        _ => Default::default(),
    };
    let (uris, names, checksums) = (
        indexed("SOURCE_URI"),
        indexed("SOURCE_FILENAME"),
        indexed("CHECKSUM_SHA256"),
    );
    let mut indexes: Vec<&String> = uris.keys().collect();
    indexes.sort_by(|a, b| natural_compare(a, b));
    let mut out = Vec::new();
    for index in indexes {
        let list = uris[index].list().to_vec();
        let Some(first) = list.first() else {
            return Err(recipe_error(format!("SOURCE_URI of source {index} is empty")));
        };
        let file_name = names
            .get(index)
            .and_then(Value::text)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| file_name_of(first));
        let checksum = match checksums.get(index).and_then(Value::text).map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(Sha256Digest::from_hex(&text.to_ascii_lowercase()).ok_or_else(|| {
                SourceError::BadChecksum {
                    port: port_name.clone(),
                    source_index: index.clone(),
                    value: text.to_owned(),
                }
            })?),
        };
        out.push(RecipeSource {
            port: port_name.clone(),
            recipe: port.recipe_path.to_string_lossy().into_owned(),
            port_dir: port_dir.to_owned(),
            index: index.clone(),
            uris: list,
            file_name,
            checksum,
            sha512: None,
        });
    }
    Ok(out)
}

/// The sources of `port` (of the tree at `root`), read by evaluating its recipe for `target_arch`.
pub fn sources_of(root: &Path, port: &Port, target_arch: &str) -> Result<Vec<RecipeSource>, SourceError> {
    let port_name = port.versioned_name();
    let recipe_error = |message: String| SourceError::Recipe {
        port: port_name.clone(),
        message,
    };
    let recipe_path = root.join(&port.recipe_path);
    let port_dir = recipe_path.parent().unwrap_or(root).to_owned();
    let text = std::fs::read(&recipe_path)
        .map_err(|e| recipe_error(format!("reading {}: {e}", recipe_path.display())))?;
    let scratch = ScratchDir::create().map_err(|e| recipe_error(format!("scratch directory: {e}")))?;
    let prepared = scratch.0.join("recipe");
    std::fs::write(&prepared, prepare_recipe(&text))
        .map_err(|e| recipe_error(format!("writing {}: {e}", prepared.display())))?;
    let job = Job {
        prepared,
        port_name: match &port.secondary_arch {
            Some(arch) => format!("{}_{arch}", port.name),
            None => port.name.clone(),
        },
        base_name: port.name.clone(),
        port_version: port.version.clone(),
        base_dir: port_dir.clone(),
        secondary_arch: port.secondary_arch.clone(),
    };
    let config = EvaluatorConfig {
        target_arch: target_arch.to_owned(),
        jobs: 1,
        timeout: RECIPE_TIMEOUT,
        scratch_dir: scratch.0.clone(),
    };
    let outcome = evaluate_all(&config, &[job], &|| {})
        .map_err(|e| recipe_error(format!("starting bash: {e}")))?
        .pop();
    match outcome {
        Some(Outcome::Evaluated(attributes)) => sources_from_attributes(port, &port_dir, &attributes),
        Some(Outcome::Failed(message)) => Err(recipe_error(message)),
        Some(Outcome::TimedOut(after)) => Err(recipe_error(format!("evaluation took more than {after:?}"))),
        None => Err(recipe_error("the evaluator gave no outcome".into())),
    }
}

/// A private temporary directory, removed on drop (the crate has no `tempfile` outside tests).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> std::io::Result<ScratchDir> {
        let path = std::env::temp_dir().join(format!(
            "buildmaster-sources-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir(&path)?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_dispatch_like_haikuporter() {
        assert_eq!(
            Origin::of("https://example.org/a-1.0.tar.gz#noarchive"),
            Origin::Http {
                url: "https://example.org/a-1.0.tar.gz".into()
            }
        );
        let git = Origin::of("git+file:///srv/a.git#commit=0123456789abcdef0123456789abcdef01234567");
        assert_eq!(
            git,
            Origin::Git {
                repository: "file:///srv/a.git".into(),
                revision: Some("0123456789abcdef0123456789abcdef01234567".into())
            }
        );
        assert!(git.is_pinned_commit());
        assert!(!Origin::of("git://example.org/a.git#master").is_pinned_commit());
        assert_eq!(
            Origin::of("file://extra.tar"),
            Origin::PortFile {
                relative: "extra.tar".into()
            }
        );
        assert!(matches!(
            Origin::of("svn://example.org/a"),
            Origin::Unsupported { .. }
        ));
        assert!(matches!(
            Origin::of("ftp://example.org/a.tgz"),
            Origin::Unsupported { .. }
        ));
    }

    #[test]
    fn file_names_drop_the_fragment() {
        assert_eq!(
            file_name_of("https://x.org/d/a-1.0.tar.gz#noarchive"),
            "a-1.0.tar.gz"
        );
        assert_eq!(file_name_of("git+https://x.org/r/AVL.git#abc"), "AVL.git");
    }
}
