//! `[[repositories]]` in buildmaster.toml: the Debian, RPM and Haiku repositories of an instance, each
//! with its id, where it lives in the bucket, its format settings and an optional signing key.
//!
//! ```toml
//! [[repositories]]
//! id = "debian/bookworm"
//! root = "apt"                  # apt's URL points here; suites sharing a root share its pool
//! signing_key = "/etc/buildmaster/apt-signing.asc"
//! [repositories.debian]
//! codename = "bookworm"
//! architectures = ["amd64", "arm64"]
//!
//! [[repositories]]
//! id = "el/9/x86_64"
//! root = "rpm/el/9/x86_64"      # dnf's baseurl points here
//! [repositories.rpm]
//! distro = "el"
//! release = "9"
//! arch = "x86_64"
//!
//! [[repositories]]
//! id = "haiku/x86_gcc2"
//! root = "haiku/x86_gcc2"       # pkgman's repository URL points here
//! [repositories.haiku]
//! repo_info = "/etc/buildmaster/repo.info.x86_gcc2"
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use crate::formats::{
    DebianSettings, FormatKind, FormatSettings, HaikuSettings, RepositoryTarget, RpmSettings,
};

/// One `[[repositories]]` section as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySection {
    /// Unique id, used by `push --to` (globs match it) and the API: letters, digits, `-_./`.
    pub id: String,
    /// Key prefix in the bucket where clients point (`apt`, `rpm/el/9/x86_64`).
    pub root: String,
    /// Key prefix of the content-addressed pool the packages are stored in once. Default: for Debian
    /// `<root>/pool` (apt fetches relative to its root, so the pool must be inside it); for RPM
    /// `rpm-pool`, shared by every RPM repository of the bucket; for Haiku `haiku-pool` (each Haiku
    /// repository gets a server-side copy under `<root>/packages/`, where pkgman looks).
    #[serde(default)]
    pub pool: Option<String>,
    /// Armored OpenPGP secret key signing the repository's root of trust (`InRelease`,
    /// `repomd.xml.asc`). Default: unsigned.
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// Hours a superseded content-addressed index file (by-hash copy, RPM metadata) is kept before
    /// prune deletes it. Default: Debian 36, RPM 48. Shorter windows break clients that read an older
    /// index a little later (apt's "Hash Sum mismatch", dnf's failed metadata download).
    #[serde(default)]
    pub index_retention_hours: Option<f64>,
    /// A Debian distribution.
    #[serde(default)]
    pub debian: Option<DebianSettings>,
    /// An RPM repository.
    #[serde(default)]
    pub rpm: Option<RpmSettings>,
    /// A Haiku repository.
    #[serde(default)]
    pub haiku: Option<HaikuSettings>,
    /// The gate's checks for packages entering it (with `[gate]` configured; see docs/gate.md).
    #[serde(default)]
    pub policy: Option<crate::gate::policy::PolicySection>,
}

/// A repository ready to publish to: checked settings and resolved keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// The format and its settings.
    pub target: RepositoryTarget,
    /// Key prefix clients point at, without a trailing `/`.
    pub root: String,
    /// Key prefix of the shared pool, without a trailing `/`.
    pub pool: String,
    /// The signing key file, if any.
    pub signing_key: Option<PathBuf>,
    /// How long superseded content-addressed index files are kept.
    pub index_retention: std::time::Duration,
    /// The gate's checks for packages entering it.
    pub policy: crate::gate::policy::Policy,
}

impl Repository {
    /// The repository's format.
    pub fn format(&self) -> FormatKind {
        self.target.settings.kind()
    }

    /// The repository's id.
    pub fn id(&self) -> &str {
        &self.target.id
    }
}

/// A `[[repositories]]` section that cannot be used; the message names the repository and the key.
#[derive(Debug, thiserror::Error)]
#[error("[[repositories]] {id}: {reason}")]
pub struct RepositoryConfigError {
    /// The id as written.
    pub id: String,
    /// What is wrong and what to do.
    pub reason: String,
}

/// Checks every section and resolves defaults; ids must be unique, and no repository may write where
/// another one (or the instance's HaikuPorts repository) does.
pub fn resolve(sections: &[RepositorySection]) -> Result<Vec<Repository>, RepositoryConfigError> {
    let mut out: Vec<Repository> = Vec::with_capacity(sections.len());
    for section in sections {
        let repository = resolve_one(section)?;
        if out.iter().any(|r| r.id() == repository.id()) {
            return Err(error(&section.id, "the id is used twice; ids must be unique"));
        }
        for other in &out {
            if let Some(reason) = overlap(other, &repository) {
                return Err(error(&section.id, reason));
            }
        }
        out.push(repository);
    }
    for repository in &out {
        for base in &repository.policy.base {
            match out.iter().find(|r| r.id() == base) {
                None => {
                    return Err(error(
                        repository.id(),
                        format!("policy base {base:?} is not a configured repository id"),
                    ))
                }
                Some(other) if other.format() != repository.format() => {
                    return Err(error(
                        repository.id(),
                        format!(
                            "policy base {base:?} is a {} repository, not {}",
                            other.format().as_str(),
                            repository.format().as_str()
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(out)
}

/// The HaikuPorts repository's keys at the top of the bucket (`packages/`, `repo`, …): no root or pool
/// may start with one, so that publishing and pruning one repository never touches another's objects.
const HAIKU_TOP_KEYS: [&str; 6] = [
    "packages",
    crate::publish::keys::REPO,
    crate::publish::keys::REPO_INFO,
    crate::publish::keys::REPO_SHA256,
    crate::publish::keys::PACKAGE_LIST,
    crate::publish::keys::LOCK,
];

/// Whether `a` is `b` or a directory above it.
fn inside(a: &str, b: &str) -> bool {
    a == b || b.starts_with(&format!("{a}/"))
}

/// Why `b` may not live beside `a`, if it may not. Debian suites share a root (and its pool) but not a
/// codename; every other pair of roots must be disjoint.
fn overlap(a: &Repository, b: &Repository) -> Option<String> {
    match (&a.target.settings, &b.target.settings) {
        (FormatSettings::Debian(x), FormatSettings::Debian(y)) if a.root == b.root => {
            (x.codename == y.codename).then(|| {
                format!(
                    "codename {:?} is already published under root {:?} by {}",
                    y.codename,
                    b.root,
                    a.id()
                )
            })
        }
        _ if inside(&a.root, &b.root) || inside(&b.root, &a.root) => Some(format!(
            "root {:?} overlaps the root {:?} of {}; give each repository a root of its own",
            b.root,
            a.root,
            a.id()
        )),
        _ => None,
    }
}

fn error(id: &str, reason: impl Into<String>) -> RepositoryConfigError {
    RepositoryConfigError {
        id: crate::bounded_text::shortened(id, 80),
        reason: reason.into(),
    }
}

fn resolve_one(section: &RepositorySection) -> Result<Repository, RepositoryConfigError> {
    let id = &section.id;
    let valid_id = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !id
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if !valid_id {
        return Err(error(
            id,
            "`id` must be letters, digits and -_./ (no empty, . or .. parts)",
        ));
    }
    let root = key_prefix(id, "root", &section.root)?;
    for (key, value) in [
        ("root", &root),
        ("pool", &section.pool.clone().unwrap_or_default()),
    ] {
        let top = value.trim_matches('/').split('/').next().unwrap_or_default();
        if HAIKU_TOP_KEYS.contains(&top) {
            return Err(error(
                id,
                format!("`{key}` {value:?} would share keys with the HaikuPorts repository (`{top}`); choose another prefix"),
            ));
        }
    }
    let settings = match (&section.debian, &section.rpm, &section.haiku) {
        (Some(debian), None, None) => FormatSettings::Debian(debian.clone()),
        (None, Some(rpm), None) => FormatSettings::Rpm(rpm.clone()),
        (None, None, Some(haiku)) => FormatSettings::Haiku(haiku.clone()),
        _ => {
            return Err(error(
                id,
                "give exactly one of [repositories.debian], [repositories.rpm] or [repositories.haiku]",
            ))
        }
    };
    let pool = match (&section.pool, &settings) {
        (Some(pool), _) => key_prefix(id, "pool", pool)?,
        (None, FormatSettings::Debian(_)) => format!("{root}/pool"),
        (None, FormatSettings::Rpm(_)) => "rpm-pool".to_string(),
        (None, FormatSettings::Haiku(_)) => "haiku-pool".to_string(),
    };
    if matches!(settings, FormatSettings::Debian(_)) && !pool.starts_with(&format!("{root}/")) {
        return Err(error(
            id,
            format!(
                "`pool` ({pool}) must be inside `root` ({root}): apt fetches packages relative to its root"
            ),
        ));
    }
    if let FormatSettings::Debian(debian) = &settings {
        if debian.architectures.is_empty() || debian.components.is_empty() {
            return Err(error(
                id,
                "[repositories.debian] needs `architectures` and at least one component",
            ));
        }
    }
    let kind = settings.kind();
    let target = RepositoryTarget {
        id: id.clone(),
        settings,
    };
    if kind == FormatKind::Haiku {
        // An unreadable repo.info is named now, not at the first push.
        crate::formats::haiku::HaikuFormat::repo_info(&target).map_err(|e| error(id, e.to_string()))?;
    }
    Ok(Repository {
        target,
        index_retention: match section.index_retention_hours {
            None => super::prune::default_retention(kind),
            Some(hours) if (0.0..=24.0 * 3650.0).contains(&hours) => {
                std::time::Duration::from_secs_f64(hours * 3600.0)
            }
            Some(hours) => {
                return Err(error(
                    id,
                    format!("`index_retention_hours` = {hours} is not between 0 and 87600"),
                ))
            }
        },
        root,
        pool,
        signing_key: section.signing_key.clone(),
        policy: crate::gate::policy::Policy::resolve(&section.policy.clone().unwrap_or_default())
            .map_err(|reason| error(id, reason))?,
    })
}

/// A key prefix as written, checked and without surrounding slashes. `+` is refused: AWS S3 reads it
/// as a space in some request paths.
fn key_prefix(id: &str, key: &str, value: &str) -> Result<String, RepositoryConfigError> {
    let trimmed = value.trim_matches('/');
    let valid =
        !trimmed.is_empty() && !trimmed.contains('+') && buildmaster_storage::ObjectKey::new(trimmed).is_ok();
    if !valid {
        return Err(error(
            id,
            format!(
                "`{key}` = {value:?} is not a usable key prefix (relative, no empty or .. parts, no '+')"
            ),
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(text: &str) -> Vec<RepositorySection> {
        #[derive(Deserialize)]
        struct File {
            repositories: Vec<RepositorySection>,
        }
        toml::from_str::<File>(text).unwrap().repositories
    }

    #[test]
    fn defaults_put_the_debian_pool_inside_its_root_and_share_one_rpm_pool() {
        let repos = resolve(&sections(
            "[[repositories]]\nid = \"debian/bookworm\"\nroot = \"/apt/\"\n[repositories.debian]\n\
             codename = \"bookworm\"\narchitectures = [\"amd64\"]\n\
             [[repositories]]\nid = \"el/9/x86_64\"\nroot = \"rpm/el/9/x86_64\"\n[repositories.rpm]\n\
             distro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n",
        ))
        .unwrap();
        assert_eq!(
            (repos[0].root.as_str(), repos[0].pool.as_str()),
            ("apt", "apt/pool")
        );
        assert_eq!(repos[0].format(), FormatKind::Debian);
        assert_eq!(repos[1].pool, "rpm-pool");
    }

    #[test]
    fn bad_sections_are_named() {
        let err = resolve(&sections("[[repositories]]\nid = \"x\"\nroot = \"a\"\n")).unwrap_err();
        assert!(
            err.to_string().contains("[[repositories]] x: give exactly one"),
            "{err}"
        );
        let err = resolve(&sections(
            "[[repositories]]\nid = \"x\"\nroot = \"a+b\"\n[repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("`root`"), "{err}");
        let err = resolve(&sections(
            "[[repositories]]\nid = \"d\"\nroot = \"apt\"\npool = \"pool\"\n[repositories.debian]\ncodename = \"b\"\narchitectures = [\"amd64\"]\n",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("must be inside `root`"), "{err}");
        let err = resolve(&sections(
            "[[repositories]]\nid = \"d\"\nroot = \"packages/apt\"\n[repositories.debian]\ncodename = \"b\"\narchitectures = [\"amd64\"]\n",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("HaikuPorts repository"), "{err}");
    }

    #[test]
    fn suites_share_a_root_and_other_repositories_do_not() {
        let debian = |id: &str, root: &str, codename: &str| {
            format!("[[repositories]]\nid = \"{id}\"\nroot = \"{root}\"\n[repositories.debian]\ncodename = \"{codename}\"\narchitectures = [\"amd64\"]\n")
        };
        let rpm = |id: &str, root: &str| {
            format!("[[repositories]]\nid = \"{id}\"\nroot = \"{root}\"\n[repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n")
        };
        let ok = debian("a", "apt", "bookworm") + &debian("b", "apt", "trixie") + &rpm("c", "rpm/el9");
        assert_eq!(resolve(&sections(&ok)).unwrap().len(), 3);
        let same_codename = debian("a", "apt", "bookworm") + &debian("b", "apt", "bookworm");
        let err = resolve(&sections(&same_codename)).unwrap_err();
        assert!(
            err.to_string()
                .contains("codename \"bookworm\" is already published"),
            "{err}"
        );
        let nested = rpm("c", "rpm") + &rpm("d", "rpm/el9");
        let err = resolve(&sections(&nested)).unwrap_err();
        assert!(err.to_string().contains("overlaps the root"), "{err}");
    }
}
