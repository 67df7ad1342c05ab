//! Helpers shared by the integration tests: real servers started per test.

pub mod farm;
pub mod garage;
pub mod haikuporter_instance;
pub mod http_files;
pub mod netns;
pub mod pkgman;
pub mod sshd;
pub mod test_package;
