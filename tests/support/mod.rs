//! Helpers shared by the integration tests: real servers started per test.

pub mod garage;
pub mod pkgman;
pub mod sshd;
