//! `buildmaster token add|revoke|list`: the named API tokens of the tokens file (`[serve] tokens_file`,
//! default `<state>/api-tokens.toml`). `add` prints the new secret once — only its SHA-256 is kept —
//! and a running server honours additions and revocations at once (it re-reads the file when it
//! changes). Changes take an exclusive lock beside the file, so two at once never lose one.

use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::config::instance::InstanceConfig;
use crate::server::tokens::{check_name, digest_hex, new_secret, Rights, TokenEntry, TokensFile};
use crate::state::StateDir;

/// `buildmaster token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The instance config; default `<state-dir>/buildmaster.toml`.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Add a token and print its secret (once; it is not stored).
    Add {
        /// Its name: the audit log calls its pushes and waivers `api:<name>`.
        name: String,
        /// Repository ids it may push to, waive in and promote into; globs (`debian/*`). Repeat or
        /// give several.
        #[arg(long, num_args = 1..)]
        repositories: Vec<String>,
        /// It may push packages into its repositories.
        #[arg(long)]
        push: bool,
        /// It may promote green pipelines into its repositories promoted by hand
        /// (`[gate] manual_promotion`).
        #[arg(long)]
        promote: bool,
        /// It may waive failing checks in its repositories.
        #[arg(long)]
        waive: bool,
        /// It may start buildruns and steer the daemon.
        #[arg(long)]
        build: bool,
    },
    /// Revoke a token: a running server refuses it from its next request.
    Revoke {
        /// Its name.
        name: String,
    },
    /// The tokens, their scopes and rights (never their secrets).
    List,
}

/// Runs `buildmaster token …`.
pub fn run(args: TokenArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&global.state_dir);
    state.require_existing()?;
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let path = config.serve.tokens_file_in(state.root());
    match args.command {
        TokenCommand::Add {
            name,
            repositories,
            push,
            promote,
            waive,
            build,
        } => {
            check_name(&name).map_err(anyhow::Error::msg)?;
            for pattern in &repositories {
                glob::Pattern::new(pattern).with_context(|| format!("--repositories {pattern:?}"))?;
            }
            anyhow::ensure!(
                !push || !repositories.is_empty(),
                "--push without --repositories would push nowhere: name the repositories (globs allowed)"
            );
            let rights = Rights {
                push,
                promote,
                waive,
                build,
            };
            let secret = new_secret();
            change(&path, |file| {
                anyhow::ensure!(
                    file.tokens.iter().all(|t| t.name != name),
                    "a token named {name:?} exists; revoke it first"
                );
                file.tokens.push(TokenEntry {
                    name: name.clone(),
                    sha256: digest_hex(&secret),
                    repositories,
                    rights,
                    created_at: now(),
                });
                Ok(())
            })?;
            eprintln!(
                "token {name:?} added to {} (rights: {}); its secret, shown only now:",
                path.display(),
                rights.describe()
            );
            println!("{secret}");
        }
        TokenCommand::Revoke { name } => {
            change(&path, |file| {
                let before = file.tokens.len();
                file.tokens.retain(|t| t.name != name);
                anyhow::ensure!(file.tokens.len() < before, "there is no token named {name:?}");
                Ok(())
            })?;
            println!("token {name:?} revoked");
        }
        TokenCommand::List => {
            for token in TokensFile::load(&path)?.tokens {
                println!(
                    "{}\trepositories: {}\trights: {}",
                    token.name,
                    if token.repositories.is_empty() {
                        "none".to_string()
                    } else {
                        token.repositories.join(", ")
                    },
                    token.rights.describe()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the tokens file at `path`, applies `edit` and writes it back, under an exclusive lock.
fn change(path: &Path, edit: impl FnOnce(&mut TokensFile) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let lock_path = path.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    // SAFETY: flock(2) on a descriptor we own; the lock is released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", lock_path.display()));
    }
    let mut file = TokensFile::load(path)?;
    edit(&mut file)?;
    file.save(path)?;
    Ok(())
}

fn now() -> i64 {
    crate::repos::unix_seconds(std::time::SystemTime::now())
}
