//! Which ports a command is about — `--update`, `--everything` or port names — shared by `plan` and
//! `buildrun` so that both read the selection the same way.

use clap::Args;

use crate::plan::instance::Wanted;

/// The port selection.
#[derive(Debug, Args)]
pub struct WantedArgs {
    /// The ports whose files changed since the last processed revision of the ports tree.
    #[arg(long, conflicts_with_all = ["everything", "ports"])]
    pub update: bool,
    /// Every active port with a package missing from the repository.
    #[arg(long, conflicts_with = "ports")]
    pub everything: bool,
    /// Ports by name: `name` (its active version) or `name-version`.
    pub ports: Vec<String>,
}

impl WantedArgs {
    /// The selection, or `None` when the command line names none.
    pub fn wanted(&self) -> Option<Wanted> {
        if self.update {
            Some(Wanted::Update)
        } else if self.everything {
            Some(Wanted::Everything)
        } else if !self.ports.is_empty() {
            Some(Wanted::Ports(self.ports.clone()))
        } else {
            None
        }
    }
}
