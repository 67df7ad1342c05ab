//! Skip reasons in HaikuPorter's words (`BuildMaster.addSkipped`, `Main._buildMainPort`), so operators
//! who know HaikuPorter's status page recognise them.

use std::fmt;

use crate::plan::model::{SkipReason, SkippedPort};

impl SkipReason {
    /// The reason as a sentence about `port` (its versioned name or the request).
    pub fn describe(&self, port: &str) -> String {
        match self {
            SkipReason::NotFound => format!("{port} not found in tree"),
            SkipReason::BrokenRecipe { message } => format!("broken recipe: {message}"),
            SkipReason::NotBuildableOnArchitecture { status } => {
                format!("Port {port} is {status} on this architecture.")
            }
            SkipReason::Unresolvable {
                requires,
                required_by,
            } => format!(
                "resolving build dependencies failed: \"{requires}\" of package \"{required_by}\" \
                 could not be resolved"
            ),
            SkipReason::DependencyCannotBeBuilt { dependency, reason } => {
                format!("dependency {dependency} cannot be built: {reason}")
            }
            SkipReason::Cycle { ports } => {
                let mut path = ports.clone();
                if let Some(first) = ports.first() {
                    path.push(first.clone());
                }
                format!("dependency cycle: {}", path.join(" -> "))
            }
            SkipReason::AlreadyExists { packages } => format!(
                "some packages already exist in package repository, revision bump required: {}",
                packages.join(", ")
            ),
        }
    }
}

impl fmt::Display for SkippedPort {
    /// `port — reason`, with the recipe path for broken recipes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} — {}", self.port, self.reason.describe(&self.port))?;
        if let (SkipReason::BrokenRecipe { message }, Some(path)) = (&self.reason, &self.recipe_path) {
            // The evaluator's message usually names the recipe already.
            if !message.contains(&*path.to_string_lossy()) {
                write!(f, " ({})", path.display())?;
            }
        }
        Ok(())
    }
}
