//! HaikuPorter's trigger files, honoured so that an operator's scripts keep working after the move:
//! `<ports tree>/buildmaster/stop` pauses the daemon while it exists; `do-everything`, `do-packages`
//! (whitespace-separated port names) and `do-repository` each request one job and are consumed
//! (removed) when taken — in that order of precedence, as HaikuPorter's `loop` checks them.

use std::path::{Path, PathBuf};

/// A job requested through a trigger file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `do-everything`: build every port whose active packages are missing.
    Everything,
    /// `do-packages`: build these ports.
    Packages(Vec<String>),
    /// `do-repository`: publish only.
    Repository,
}

/// The trigger directory of a ports tree.
#[derive(Clone, Debug)]
pub struct TriggerDir {
    dir: PathBuf,
}

/// Whether `word` can be a port specifier (`name` or `name-version`); anything else in `do-packages`
/// is ignored with a warning rather than passed on.
fn is_port_spec(word: &str) -> bool {
    !word.is_empty()
        && !word.starts_with('-')
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '~'))
}

impl TriggerDir {
    /// `<tree>/buildmaster`.
    pub fn new(tree: &Path) -> Self {
        Self {
            dir: tree.join("buildmaster"),
        }
    }

    /// Whether the operator paused the daemon with a `stop` file.
    pub fn paused(&self) -> bool {
        self.dir.join("stop").exists()
    }

    /// Takes the most urgent pending trigger, removing its file. A file that cannot be read or
    /// removed is reported and left alone (so it is retried, never half-taken).
    pub fn take(&self) -> std::io::Result<Option<Trigger>> {
        let everything = self.dir.join("do-everything");
        if everything.exists() {
            std::fs::remove_file(&everything)?;
            return Ok(Some(Trigger::Everything));
        }
        let packages = self.dir.join("do-packages");
        if packages.exists() {
            let text = std::fs::read_to_string(&packages)?;
            std::fs::remove_file(&packages)?;
            let mut ports = Vec::new();
            for word in text.split_whitespace() {
                if is_port_spec(word) {
                    ports.push(word.to_string());
                } else {
                    tracing::warn!(file = %packages.display(), word, "ignoring a word that is not a port name");
                }
            }
            return Ok(Some(Trigger::Packages(ports)));
        }
        let repository = self.dir.join("do-repository");
        if repository.exists() {
            std::fs::remove_file(&repository)?;
            return Ok(Some(Trigger::Repository));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_taken_in_haikuporters_order_and_consumed() {
        let tree = tempfile::tempdir().unwrap();
        let dir = tree.path().join("buildmaster");
        std::fs::create_dir_all(&dir).unwrap();
        let triggers = TriggerDir::new(tree.path());
        assert_eq!(triggers.take().unwrap(), None);
        std::fs::write(dir.join("do-repository"), "").unwrap();
        std::fs::write(dir.join("do-packages"), "zlib\nfoo-1.2 ;rm -rf\n  bar\n").unwrap();
        std::fs::write(dir.join("do-everything"), "").unwrap();
        assert_eq!(triggers.take().unwrap(), Some(Trigger::Everything));
        assert_eq!(
            triggers.take().unwrap(),
            Some(Trigger::Packages(vec![
                "zlib".into(),
                "foo-1.2".into(),
                "bar".into()
            ]))
        );
        assert_eq!(triggers.take().unwrap(), Some(Trigger::Repository));
        assert_eq!(triggers.take().unwrap(), None);
        assert!(!triggers.paused());
        std::fs::write(dir.join("stop"), "").unwrap();
        assert!(triggers.paused());
    }
}
