//! The instance's durable state: the state directory and the SQLite database in it.
//!
//! The database — not stub files, not a bucket listing — is the source of truth for what is published.
//!
//! - [`layout`]: [`StateDir`], the paths operators know from HaikuPorter (`packages/`, `repository/`).
//! - [`db`]: [`Database`], package records and published indexes.
//! - [`schema`]: the tables of the package records and their migrations.
//! - [`sqlite`]: opening the database with the settings every part shares.
//! - [`record`]: [`Record`], one package's format-neutral record, and its lifecycle [`PackageState`].
//! - [`private_files`]: closing the database and output tree to other users (files of older versions).

pub mod db;
pub mod layout;
pub mod private_files;
pub mod record;
pub mod schema;
pub mod sqlite;

pub use db::{Database, DbError};
pub use layout::{StateDir, StateDirMissing};
pub use record::{AsRecord, PackageState, Record};
