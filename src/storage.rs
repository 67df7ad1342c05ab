//! Opening the configured storage backend. Work in progress.
