//! Filesystem storage backend. Work in progress.
