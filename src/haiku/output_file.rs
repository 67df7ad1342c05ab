//! Replacing an output file atomically; the helper lives in [`crate::fsutil`] (every format's
//! publisher uses it) and is re-exported here for the Haiku tools that always found it here.

pub use crate::fsutil::write_atomically;
